package server_test

import (
	"net/http"
	"strconv"
	"testing"

	"golang.org/x/time/rate"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/server"
)

func TestParseRateLimit(t *testing.T) {
	for in, want := range map[string]server.RateLimit{
		"600/m:60": {Rate: 10, Burst: 60}, "2/s": {Rate: 2, Burst: 2}, "30/h:5": {Rate: rate.Limit(30.0 / 3600), Burst: 5}, "off": {},
	} {
		if got, err := server.ParseRateLimit(in); err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "10", "10/d", "0/s", "-1/m", "10/m:0", "10/m:x", "Inf/s"} {
		if _, err := server.ParseRateLimit(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestRateLimits: writes and exports over a credential's budget are
// answered 429 with Retry-After, and do nothing; reads are not counted;
// another credential has its own budget.
func TestRateLimits(t *testing.T) {
	a := newAppWith(t, func(c *server.Config) {
		c.RateLimits = &server.RateLimits{Writes: server.RateLimit{Rate: rate.Limit(1.0 / 60), Burst: 2}, Exports: server.RateLimit{Rate: rate.Limit(1.0 / 3600), Burst: 1}}
	})
	body := capaBody("Budget", "alice")
	a.Must(http.StatusCreated, "alice", "POST", "/v1/capas", body)
	id := a.Must(http.StatusCreated, "alice", "POST", "/v1/capas", body).Map(t)["id"].(string)
	r := a.Must(http.StatusTooManyRequests, "alice", "POST", "/v1/capas", body)
	if e := r.Err(t); e.Code != opsflow.ERATELIMITED {
		t.Errorf("over the budget: %+v", e)
	}
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	a.Must(http.StatusTooManyRequests, "alice", "POST", "/v1/capas/"+id+"/triage", map[string]any{"severity": 2, "occurrence": 2, "detection": 2})
	if c := a.capa(id); c.State != "reported" {
		t.Errorf("a refused step was applied: %s", c.State)
	}
	for range 5 { // reads are free
		a.Must(http.StatusOK, "alice", "GET", "/v1/capas/"+id, nil)
	}
	// bob's token has its own budget (an approver may score the risk).
	a.Must(http.StatusOK, "bob", "POST", "/v1/capas/"+id+"/triage", map[string]any{"severity": 2, "occurrence": 2, "detection": 2})
	a.Must(http.StatusOK, "carol", "GET", "/v1/capas/"+id+"/export", nil)
	a.Must(http.StatusTooManyRequests, "carol", "GET", "/v1/capas/"+id+"/export?format=csv", nil)
}
