package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/opsflow/opsflow/server"
)

// webhook is a real local HTTP receiver of provisioning calls: it fails
// the first `failures` calls with 503 and then answers 201 with an ID.
type webhook struct {
	*httptest.Server
	mu       sync.Mutex
	calls    int
	failures int
	keys     []string
}

func newWebhook(t *testing.T, failures int) *webhook {
	w := &webhook{failures: failures}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.calls++
		w.keys = append(w.keys, r.Header.Get("Idempotency-Key"))
		if w.failures < 0 || w.calls <= w.failures {
			http.Error(rw, "directory is down", http.StatusServiceUnavailable)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusCreated)
		fmt.Fprint(rw, `{"id": "u-42"}`)
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *webhook) Calls() (int, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls, append([]string(nil), w.keys...)
}

func taskByID(t *testing.T, rec map[string]any, id string) map[string]any {
	t.Helper()
	for _, x := range rec["tasks"].([]any) {
		if m := x.(map[string]any); m["id"] == id {
			return m
		}
	}
	t.Fatalf("no task %s in %v", id, rec["tasks"])
	return nil
}

func TestOnboardingTemplatesAPI(t *testing.T) {
	a := newApp(t)
	r := a.Must(http.StatusOK, "carol", "GET", "/v1/onboarding-templates", nil)
	if n := len(r.Map(t)["items"].([]any)); n < 2 {
		t.Fatalf("default templates: %d", n)
	}
	tpl := map[string]any{"role": "it-support", "title": "IT support", "tasks": []any{
		map[string]any{"id": "laptop", "title": "Laptop", "owner_type": "it", "begin_offset_days": -3, "due_offset_days": -1},
	}}
	a.Must(http.StatusForbidden, "alice", "POST", "/v1/onboarding-templates", tpl)
	v1 := a.Must(http.StatusCreated, "hana", "POST", "/v1/onboarding-templates", tpl).Map(t)
	if v1["version"] != 1.0 || v1["created_by"] != "hana" {
		t.Fatalf("v1: %v", v1)
	}
	a.Must(http.StatusOK, "hana", "POST", "/v1/onboarding-templates", tpl)
	tpl["title"] = "IT support desk"
	if v := a.Must(http.StatusCreated, "root", "POST", "/v1/onboarding-templates", tpl).Map(t)["version"]; v != 2.0 {
		t.Fatalf("v2: %v", v)
	}
	if v := a.Must(http.StatusOK, "ivan", "GET", "/v1/onboarding-templates/it-support?version=1", nil).Map(t)["title"]; v != "IT support" {
		t.Errorf("version 1 title %v", v)
	}
	a.Must(http.StatusNotFound, "ivan", "GET", "/v1/onboarding-templates/astronaut", nil)
	for field, edit := range map[string]func(m map[string]any){
		"tasks[0].owner_type":        func(m map[string]any) { m["owner_type"] = "quality" },
		"tasks[0].depends_on[0]":     func(m map[string]any) { m["depends_on"] = []string{"ghost"} },
		"tasks[0].begin_offset_days": func(m map[string]any) { m["begin_offset_days"] = 2 },
		"tasks[0].provision.url":     func(m map[string]any) { m["provision"] = map[string]any{"url": "file:///etc/passwd"} },
	} {
		task := map[string]any{"id": "laptop", "title": "Laptop", "owner_type": "it", "begin_offset_days": -3, "due_offset_days": -1}
		edit(task)
		bad := map[string]any{"role": "it-support", "title": "x", "tasks": []any{task}}
		if e := a.Must(http.StatusUnprocessableEntity, "hana", "POST", "/v1/onboarding-templates", bad).Err(t); e.Field != field {
			t.Errorf("field %q, want %q (%s)", e.Field, field, e.Message)
		}
	}
}

// TestOnboardingLifecycle plays a whole onboarding through the API with
// days of 300 ms: a provisioning webhook that fails twice and then
// succeeds, one that always fails (blocked, then done by hand), a moved
// start date, an escalation, the three check-ins and completion.
func TestOnboardingLifecycle(t *testing.T) {
	const day = 300 * time.Millisecond
	a := newAppWith(t, func(c *server.Config) { c.Day = day })
	flaky, dead := newWebhook(t, 2), newWebhook(t, -1)
	tpl := map[string]any{"role": "lifecycle", "title": "Lifecycle", "tasks": []any{
		map[string]any{"id": "contract", "title": "Contract", "owner_type": "hire", "begin_offset_days": -8, "due_offset_days": -6, "required_for_day1": true},
		map[string]any{"id": "account", "title": "Account", "owner_type": "it", "begin_offset_days": -5, "due_offset_days": -1,
			"depends_on": []string{"contract"}, "required_for_day1": true, "provision": map[string]any{"system": "directory", "url": flaky.URL, "body": map[string]any{"groups": []string{"staff"}}}},
		map[string]any{"id": "laptop", "title": "Laptop", "owner_type": "it", "begin_offset_days": -5, "due_offset_days": 0,
			"provision": map[string]any{"system": "shop", "url": dead.URL}},
		map[string]any{"id": "welcome", "title": "Welcome", "owner_type": "manager", "begin_offset_days": 0, "due_offset_days": 3},
		map[string]any{"id": "lunch", "title": "Lunch", "owner_type": "mentor", "begin_offset_days": 0, "due_offset_days": 2, "optional": true},
	}}
	a.Must(http.StatusCreated, "hana", "POST", "/v1/onboarding-templates", tpl)

	startAt := time.Now().Add(20 * day).UTC()
	req := map[string]any{"hire": map[string]any{"name": "Noor Haddad", "email": "noor@example.com"}, "role": "lifecycle",
		"timezone": "UTC", "manager_id": "maya", "mentor_id": "erin", "start_at": startAt.Format(time.RFC3339Nano)}
	// Bad input is refused before any workflow starts, naming the field.
	for field, edit := range map[string]func(m map[string]any){
		"role":       func(m map[string]any) { m["role"] = "astronaut" },
		"start_date": func(m map[string]any) { delete(m, "start_at"); m["start_date"] = "2020-01-01" },
		"timezone":   func(m map[string]any) { m["timezone"] = "Mars/Olympus" },
		"manager_id": func(m map[string]any) { m["manager_id"] = "nobody" },
		"hire.email": func(m map[string]any) { m["hire"] = map[string]any{"name": "N", "email": "nope"} },
	} {
		bad := map[string]any{}
		for k, v := range req {
			bad[k] = v
		}
		edit(bad)
		if e := a.Must(http.StatusUnprocessableEntity, "hana", "POST", "/v1/onboardings", bad).Err(t); e.Field != field {
			t.Errorf("field %q, want %q (%s)", e.Field, field, e.Message)
		}
	}
	a.Must(http.StatusForbidden, "alice", "POST", "/v1/onboardings", req)
	key := fmt.Sprintf("noor-%d", time.Now().UnixNano())
	rec := a.Must(http.StatusCreated, "hana", "POST", "/v1/onboardings", req, "Idempotency-Key", key).Map(t)
	// Durations read as ISO 8601, not nanoseconds.
	if day, _ := rec["day"].(string); day != "PT0.3S" {
		t.Errorf("day = %v, want PT0.3S (the test's day)", rec["day"])
	}
	if pol, _ := rec["policy"].(map[string]any); pol == nil || pol["remind_before"] != "PT0.3S" {
		t.Errorf("policy = %v, want remind_before PT0.3S", rec["policy"])
	}
	id := rec["id"].(string)
	if again := a.Must(http.StatusCreated, "hana", "POST", "/v1/onboardings", req, "Idempotency-Key", key).Map(t); again["id"] != id {
		t.Fatalf("same Idempotency-Key gave %v and %v", id, again["id"])
	}
	if tr := rec["template"].(map[string]any); tr["version"] != 1.0 {
		t.Errorf("template %v", tr)
	}
	path := "/v1/onboardings/" + id
	get := func() map[string]any { return a.Must(http.StatusOK, "hana", "GET", path, nil).Map(t) }

	// The start moves 10 days later; the contract moves with it.
	oldDue := taskByID(t, rec, "contract")["due_at"]
	newStart := startAt.Add(10 * day)
	a.Must(http.StatusUnprocessableEntity, "hana", "POST", path+"/move-start-date", map[string]any{"start_at": newStart})
	rec = a.Must(http.StatusOK, "hana", "POST", path+"/move-start-date", map[string]any{"start_at": newStart.Format(time.RFC3339Nano), "reason": "notice period"}).Map(t)
	if due := taskByID(t, rec, "contract")["due_at"]; due == oldDue {
		t.Errorf("contract not re-planned: %v", due)
	}
	// Nobody does the contract: it escalates (assignee → manager).
	a.Eventually("contract escalated twice", 30*time.Second, func() bool {
		return taskByID(t, get(), "contract")["escalation_level"].(float64) >= 2
	})
	over := a.Must(http.StatusOK, "hana", "GET", "/v1/onboardings?overdue=true&manager=maya", nil).Map(t)["items"].([]any)
	if len(over) != 1 {
		t.Errorf("overdue list: %d items", len(over))
	}
	a.Must(http.StatusUnprocessableEntity, "hana", "POST", path+"/tasks/contract/skip", map[string]any{"reason": "n/a"})
	a.Must(http.StatusForbidden, "ivan", "POST", path+"/tasks/contract/complete", nil)
	a.Must(http.StatusOK, "hana", "POST", path+"/tasks/contract/complete", nil)

	// The flaky directory succeeds on its third call; the dead shop blocks the laptop.
	a.Eventually("account provisioned", 30*time.Second, func() bool { return taskByID(t, get(), "account")["state"] == "done" })
	a.Eventually("laptop blocked", 30*time.Second, func() bool { return taskByID(t, get(), "laptop")["state"] == "blocked" })
	rec = get()
	if n, keys := flaky.Calls(); n != 3 || keys[0] != id+"/account" || keys[2] != keys[0] {
		t.Errorf("flaky webhook: %d calls, keys %v", n, keys)
	}
	if ev := taskByID(t, rec, "account")["evidence"].([]any); ev[0] != "external_id:u-42" {
		t.Errorf("account evidence %v", ev)
	}
	if reason := taskByID(t, rec, "laptop")["reason"].(string); reason == "" {
		t.Error("blocked laptop has no reason")
	}
	// IT retries once more (still down), then orders the laptop by hand.
	a.Must(http.StatusOK, "ivan", "POST", path+"/tasks/laptop/retry", nil)
	a.Eventually("laptop blocked again", 30*time.Second, func() bool { return taskByID(t, get(), "laptop")["state"] == "blocked" })
	a.Must(http.StatusOK, "ivan", "POST", path+"/tasks/laptop/complete", map[string]any{"evidence": []string{"PO-7"}})
	if rec = get(); rec["day1_ready"] != true {
		t.Errorf("day-1 ready %v", rec["day1_ready"])
	}

	a.Eventually("day one", 30*time.Second, func() bool { s := get()["state"]; return s != "pending" && s != "preboarding" })
	a.Must(http.StatusOK, "maya", "POST", path+"/tasks/welcome/complete", nil)
	a.Must(http.StatusOK, "erin", "POST", path+"/tasks/lunch/skip", map[string]any{"reason": "mentor travelling"})
	if p := get()["progress"].(float64); p <= 0 || p >= 100 {
		t.Errorf("progress %v", p)
	}
	for _, n := range []int{30, 60, 90} {
		task := fmt.Sprintf("checkin-%d", n)
		a.Eventually(task+" open", 60*time.Second, func() bool { return taskByID(t, get(), task)["state"] == "open" })
		a.Must(http.StatusForbidden, "ivan", "POST", path+"/check-ins", map[string]any{"day": n, "notes": "x", "sentiment": 3})
		a.Must(http.StatusUnprocessableEntity, "maya", "POST", path+"/check-ins", map[string]any{"day": n, "notes": "x", "sentiment": 9})
		a.Must(http.StatusOK, "maya", "POST", path+"/check-ins", map[string]any{"day": n, "notes": "settling in", "sentiment": 4, "risks": []string{"commute"}})
	}
	a.Eventually("completed", 30*time.Second, func() bool { return get()["state"] == "completed" })
	a.Must(http.StatusConflict, "hana", "POST", path+"/cancel", map[string]any{"reason": "too late"})
	trail := a.Must(http.StatusOK, "hana", "GET", path+"/audit", nil).Map(t)["items"].([]any)
	seen := map[string]bool{}
	for _, e := range trail {
		seen[e.(map[string]any)["action"].(string)] = true
	}
	for _, want := range []string{"onboarding.start_date_moved", "task.escalated", "provision.failed", "provision.succeeded", "provision.retry_requested", "onboarding.checkin_held", "onboarding.completed"} {
		if !seen[want] {
			t.Errorf("audit lacks %s", want)
		}
	}
	a.Must(http.StatusOK, "hana", "GET", "/v1/tasks?process_id="+id, nil)
	saveHistory(t, a, id, "onboarding_lifecycle_engine2")
}

func TestOnboardingCancel(t *testing.T) {
	a := newApp(t)
	req := map[string]any{"hire": map[string]any{"name": "Sam", "email": "sam@example.com"}, "role": "warehouse",
		"timezone": "Europe/Paris", "manager_id": "maya", "start_date": time.Now().AddDate(0, 1, 0).Format(time.DateOnly)}
	rec := a.Must(http.StatusCreated, "hana", "POST", "/v1/onboardings", req).Map(t)
	path := "/v1/onboardings/" + rec["id"].(string)
	a.Must(http.StatusUnprocessableEntity, "hana", "POST", path+"/cancel", map[string]any{"reason": ""})
	a.Must(http.StatusForbidden, "ivan", "POST", path+"/cancel", map[string]any{"reason": "no-show"})
	rec = a.Must(http.StatusOK, "maya", "POST", path+"/cancel", map[string]any{"reason": "offer withdrawn"}).Map(t)
	if rec["state"] != "cancelled" || rec["reason"] != "offer withdrawn" {
		t.Fatalf("after cancel: %v %v", rec["state"], rec["reason"])
	}
	a.Must(http.StatusConflict, "hana", "POST", path+"/tasks/contract/complete", nil)
	list := a.Must(http.StatusOK, "hana", "GET", "/v1/onboardings?state=cancelled&start_from="+req["start_date"].(string), nil).Map(t)
	if len(list["items"].([]any)) != 1 {
		t.Errorf("list by state and start date: %v", list)
	}
	a.Must(http.StatusUnprocessableEntity, "carol", "GET", "/v1/onboardings?start_to=tomorrow", nil)
}
