package server_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/opsflow/opsflow/server"
)

func TestHealthAndReadiness(t *testing.T) {
	a := newApp(t)
	a.Must(http.StatusOK, "", "GET", "/healthz", nil)
	// The worker has just started: ready once its first poll is seen.
	a.Eventually("readyz answers 200", 10*time.Second, func() bool {
		return a.Do("", "GET", "/readyz", nil).Status == http.StatusOK
	})
	if m := a.Must(http.StatusOK, "", "GET", "/readyz", nil).Map(t); m["status"] != "ready" || m["stalled_processes"] != float64(0) {
		t.Errorf("readyz: %v", m)
	}
}

// With no worker polling its task queue every write would hang until its
// deadline: readiness says so, naming the queue.
// (A worker that dies is noticed within a minute and a half: a live one
// re-polls at least every minute.)
func TestReadinessWithoutWorker(t *testing.T) {
	a := newAppWith(t, func(c *server.Config) { c.TaskQueue = "nobody-polls-" + c.TaskQueue })
	r := a.Must(http.StatusServiceUnavailable, "", "GET", "/readyz", nil)
	if !strings.Contains(string(r.Body), "no worker polls task queue nobody-polls-") || r.Header.Get("Retry-After") == "" {
		t.Errorf("readyz without a worker: %s %v", r.Body, r.Header)
	}
}

func TestErrorsHaveOneShape(t *testing.T) {
	a := newApp(t)
	cases := []struct {
		name, user, method, path string
		body                     any
		status                   int
		code                     string
	}{
		{"no token", "", "GET", "/v1/me", nil, 401, "unauthorized"},
		{"wrong token", "opsf_not-a-token", "GET", "/v1/me", nil, 401, "unauthorized"},
		{"unknown route", "alice", "GET", "/v1/nothing-here", nil, 404, "not_found"},
		{"unknown route without token", "", "GET", "/v1/nothing-here", nil, 401, "unauthorized"},
		{"bad limit", "alice", "GET", "/v1/tasks?limit=0", nil, 422, "invalid"},
		{"bad overdue", "alice", "GET", "/v1/tasks?overdue=maybe", nil, 422, "invalid"},
		{"verify needs auditor", "alice", "GET", "/v1/audit/verify", nil, 403, "forbidden"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := a.Must(c.status, c.user, c.method, c.path, c.body)
			if e := r.Err(t); e.Code != c.code || e.Message == "" {
				t.Errorf("error %+v, want code %s with a message", e, c.code)
			}
		})
	}
}

func TestMeAndInbox(t *testing.T) {
	a := newApp(t)
	r := a.Must(http.StatusOK, "alice", "GET", "/v1/me", nil)
	if m := r.Map(t); m["id"] != "alice" || m["name"] != "Alice Martin" {
		t.Errorf("me: %s", r.Body)
	}
	r = a.Must(http.StatusOK, "alice", "GET", "/v1/tasks?assignee=me&overdue=true", nil)
	if _, ok := r.Map(t)["items"].([]any); !ok {
		t.Errorf("inbox has no items array: %s", r.Body)
	}
	r = a.Must(http.StatusOK, "carol", "GET", "/v1/audit/verify", nil)
	if r.Map(t)["ok"] != true {
		t.Errorf("verify on an empty trail: %s", r.Body)
	}
}

// With Temporal unreachable, readiness says so, naming it; liveness still
// answers. (PostgreSQL's side is the same code path with Store.Ping.)
func TestReadyzNamesTheDependencyThatIsDown(t *testing.T) {
	setup(t)
	dead, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	srv := httptest.NewServer(server.New(server.Config{Store: shared.db, Temporal: dead, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Checks map[string]struct{ Status string } `json:"checks"`
		Error  struct{ Code, Message string }     `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusServiceUnavailable || body.Error.Code != "unavailable" ||
		!strings.Contains(body.Error.Message, "temporal") || body.Checks["temporal"].Status != "unavailable" || body.Checks["postgres"].Status != "ok" {
		t.Fatalf("readyz with Temporal down: %d %+v", res.StatusCode, body)
	}
	if res, err := http.Get(srv.URL + "/healthz"); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", res, err)
	}
}

func quietLogger() tlog.Logger {
	return tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}
