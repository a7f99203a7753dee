package server_test

import (
	"net/http"
	"testing"
)

func TestHealthAndReadiness(t *testing.T) {
	a := newApp(t)
	a.Must(http.StatusOK, "", "GET", "/healthz", nil)
	r := a.Must(http.StatusOK, "", "GET", "/readyz", nil)
	if m := r.Map(t); m["status"] != "ready" {
		t.Errorf("readyz: %s", r.Body)
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
