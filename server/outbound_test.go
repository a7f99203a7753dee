package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow/internal/outbound"
	"github.com/opsflow/opsflow/server"
)

// A provisioning webhook in a template that any HR user may write is a way
// into the worker's network. One to 127.0.0.1 is refused when the
// allowlist does not name that address — the receiver is never called and
// the task is blocked with the reason — and goes out once an administrator
// allows it.
func TestProvisioningWebhookToLoopbackIsRefused(t *testing.T) {
	a := newAppWith(t, func(c *server.Config) { c.Day = time.Second })
	a.StopWorker()
	a.Outbound = outbound.MustParse("hooks.example.com, localhost") // names never unlock loopback
	a.StartWorker()
	hook := newWebhook(t, 0)
	role := "ssrf-" + uniq()
	a.Must(http.StatusCreated, "hana", "POST", "/v1/onboarding-templates", map[string]any{
		"role": role, "title": "Internal webhook",
		"tasks": []any{map[string]any{"id": "account", "title": "Create the account", "owner_type": "it", "begin_offset_days": -3, "due_offset_days": 5,
			"provision": map[string]any{"system": "directory", "url": hook.URL + "/admin/users"}}},
	})
	rec := a.Must(http.StatusCreated, "hana", "POST", "/v1/onboardings", map[string]any{
		"hire": map[string]any{"name": "Noor Haddad", "email": "noor@example.com"}, "role": role,
		"manager_id": "maya", "timezone": "UTC", "start_at": time.Now().UTC().Add(4 * time.Second),
	}).Map(t)
	path := "/v1/onboardings/" + rec["id"].(string)
	get := func() map[string]any { return a.Must(http.StatusOK, "hana", "GET", path, nil).Map(t) }
	a.Eventually("the account task is blocked", 30*time.Second, func() bool { return taskByID(t, get(), "account")["state"] == "blocked" })
	reason, _ := taskByID(t, get(), "account")["reason"].(string)
	for _, want := range []string{"webhook http://127.0.0.1:", "refused", "127.0.0.1 is a loopback address", "OPSFLOW_OUTBOUND_ALLOW"} {
		if !strings.Contains(reason, want) {
			t.Errorf("blocked reason %q lacks %q", reason, want)
		}
	}
	if n, _ := hook.Calls(); n != 0 {
		t.Fatalf("the refused webhook was called %d times", n)
	}
	t.Logf("blocked: %s", reason)

	// An administrator lists the address; IT retries: the call goes out.
	a.StopWorker()
	a.Outbound = testOutbound
	a.StartWorker()
	a.Must(http.StatusOK, "ivan", "POST", path+"/tasks/account/retry", nil)
	a.Eventually("the account is provisioned", 30*time.Second, func() bool { return taskByID(t, get(), "account")["state"] == "done" })
	if n, _ := hook.Calls(); n != 1 {
		t.Errorf("allowed webhook called %d times, want once", n)
	}
}
