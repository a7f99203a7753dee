package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/activities"
	"github.com/opsflow/opsflow/internal/testenv"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/server"
	"github.com/opsflow/opsflow/worker"
)

// These tests are the engine issue's findings, reproduced through the API
// against the real servers: each failed before the engine was reworked.

func newCAPA(a *app, title string) string {
	a.t.Helper()
	var c capaRecord
	a.Must(http.StatusCreated, "alice", "POST", "/v1/capas", capaBody(title, "alice")).JSON(a.t, &c)
	return c.ID
}

func uniq() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Finding 1: text the store cannot hold is refused at the API with the
// field named, for bodies and for path and query parameters alike; the
// process it was meant for carries on.
func TestTextTheStoreCannotHoldIs422(t *testing.T) {
	a := newApp(t)
	id := newCAPA(a, "NUL bytes")
	for _, c := range []struct {
		name, method, path string
		body               any
		field              string
	}{
		{"NUL in a step", "POST", "/v1/capas/" + id + "/triage", map[string]any{"severity": 3, "occurrence": 2, "detection": 2, "comment": "bad \u0000 byte"}, "comment"},
		{"NUL in a create", "POST", "/v1/capas", map[string]any{"title": "bad \u0000 title", "type": "corrective", "source": map[string]any{"type": "ncr"}, "problem": map[string]any{"what": "x"}}, "title"},
		{"NUL deep inside", "POST", "/v1/capas", map[string]any{"title": "ok", "type": "corrective", "source": map[string]any{"type": "ncr"}, "problem": map[string]any{"what": "x"},
			"containment": []any{map[string]any{"description": "quarantine", "owner": "dave", "due_days": 3}, map[string]any{"description": "a\u0000b", "owner": "dave", "due_days": 3}}}, "containment[1].description"},
		{"invalid UTF-8", "POST", "/v1/capas/" + id + "/triage", []byte("{\"severity\":3,\"occurrence\":2,\"detection\":2,\"comment\":\"bad \xff\xfe\"}"), "comment"},
		{"too long", "POST", "/v1/capas/" + id + "/triage", map[string]any{"severity": 3, "occurrence": 2, "detection": 2, "comment": strings.Repeat("x", server.MaxText+1)}, "comment"},
		{"NUL in a CAPA ID", "GET", "/v1/capas/%00", nil, "id"},
		{"NUL in a Kaizen ID", "GET", "/v1/kaizen/%00", nil, "id"},
		{"NUL in a KPI key", "GET", "/v1/kpis/%00", nil, "key"},
		{"NUL in a template role", "GET", "/v1/onboarding-templates/%00", nil, "role"},
		{"NUL in an onboarding ID", "GET", "/v1/onboardings/%00", nil, "id"},
		{"NUL in a query", "GET", "/v1/capas?owner=%00", nil, "owner"},
		{"NUL in a user ID", "GET", "/v1/users/%00", nil, "id"},
		{"NUL in a search for people", "GET", "/v1/users?q=%00", nil, "q"},
	} {
		r := a.Do("alice", c.method, c.path, c.body)
		if r.Status != http.StatusUnprocessableEntity || r.Err(t).Field != c.field {
			t.Errorf("%s: %d %.200s; want 422 naming %s", c.name, r.Status, r.Body, c.field)
		}
	}
	// Nothing was applied, and the CAPA takes its next step as usual.
	if r := a.step(http.StatusOK, "alice", id, "triage", map[string]any{"severity": 3, "occurrence": 2, "detection": 2, "comment": "fine"}); r.State != "triage" {
		t.Fatalf("after the refused steps: %+v", r)
	}
	a.Must(http.StatusOK, "alice", "POST", "/v1/capas/"+id+"/cancel", map[string]any{"reason": "test over"})
}

// Finding 2: a permanent store error no longer retries forever behind a
// frozen process. A real PostgreSQL constraint refuses one change: the
// process stalls visibly, answers at once, and an administrator retries
// (after fixing the cause) or abandons it.
func TestPermanentStoreErrorStallsTheProcess(t *testing.T) {
	a := newApp(t)
	ctx := context.Background()
	refusal := refuseAuditReasons(t)
	poison, constraint, drop := refusal.poison, refusal.constraint, refusal.lift

	id := newCAPA(a, "stall me")
	triage := map[string]any{"severity": 4, "occurrence": 3, "detection": 4, "comment": "contains " + poison}
	e := a.Must(http.StatusConflict, "alice", "POST", "/v1/capas/"+id+"/triage", triage).Err(t)
	if e.State != "stalled" || !strings.Contains(e.Message, "administrator") {
		t.Errorf("the step on a stalling process: %+v", e)
	}
	// Visible: in the record, in lists, in readiness, to administrators.
	rec := a.Must(http.StatusOK, "carol", "GET", "/v1/capas/"+id, nil).Map(t)
	stall, _ := rec["stalled"].(map[string]any)
	if stall == nil || !strings.Contains(fmt.Sprint(stall["error"]), constraint) || rec["state"] != "reported" {
		t.Errorf("record of a stalled CAPA: state %v, stalled %v", rec["state"], rec["stalled"])
	}
	if !listed(a, "alice", "/v1/capas?stalled=true", id) || listed(a, "alice", "/v1/capas?stalled=false", id) || !listed(a, "root", "/v1/admin/processes?stalled=true", id) {
		t.Errorf("the stalled filter does not find %s", id)
	}
	a.Must(http.StatusForbidden, "alice", "GET", "/v1/admin/processes?stalled=true", nil)
	if m := a.Must(http.StatusOK, "", "GET", "/readyz", nil).Map(t); m["stalled_processes"].(float64) < 1 {
		t.Errorf("readyz: %v", m)
	}
	ns, err := a.DB.Notifications(ctx, "admin", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !anyNotification(ns, id) {
		t.Errorf("no notification to admin about %s", id)
	}
	// Every step answers at once with the same conflict; only an admin may
	// retry, and a retry before the cause is fixed stalls again.
	a.Must(http.StatusConflict, "alice", "POST", "/v1/capas/"+id+"/cancel", map[string]any{"reason": "x"})
	a.Must(http.StatusForbidden, "alice", "POST", "/v1/admin/processes/"+id+"/retry", nil)
	a.Must(http.StatusConflict, "root", "POST", "/v1/admin/processes/"+id+"/retry", nil)
	drop()
	rec = a.Must(http.StatusOK, "root", "POST", "/v1/admin/processes/"+id+"/retry", nil).Map(t)
	if rec["state"] != "triage" || rec["stalled"] != nil || rec["risk"] == nil {
		t.Errorf("after the retry: state %v, stalled %v, risk %v", rec["state"], rec["stalled"], rec["risk"])
	}
	a.Must(http.StatusConflict, "root", "POST", "/v1/admin/processes/"+id+"/retry", nil) // not stalled any more
	if !hasEvent(a.audit(id), "capa.risk_scored", poison) {
		t.Errorf("the held change is not in the trail")
	}

	// A second one is abandoned: closed with its last written record, the
	// trail saying who, why and what was dropped; it takes no more steps.
	refusal.impose("NOT VALID")
	id2 := newCAPA(a, "abandon me")
	a.Must(http.StatusConflict, "alice", "POST", "/v1/capas/"+id2+"/triage", triage)
	if e := a.Must(http.StatusUnprocessableEntity, "root", "POST", "/v1/admin/processes/"+id2+"/abandon", map[string]any{}).Err(t); e.Field != "reason" {
		t.Errorf("abandon without a reason: %+v", e)
	}
	rec = a.Must(http.StatusOK, "root", "POST", "/v1/admin/processes/"+id2+"/abandon", map[string]any{"reason": "the report was a duplicate"}).Map(t)
	if rec["state"] != "abandoned" || rec["closed_at"] == nil {
		t.Errorf("abandoned record: %v", rec)
	}
	trail := a.audit(id2)
	last := trail[len(trail)-2] // then the seal
	if last.Action != "process.abandoned" || last.ActorID != "root" || !strings.Contains(last.Reason, "duplicate") || !strings.Contains(last.Reason, "discarded") {
		t.Errorf("last event of the abandoned CAPA: %+v", last)
	}
	checkSealedExport(t, a, id2)
	if brk := opsflow.VerifyChain(trail); brk != nil {
		t.Errorf("chain of the abandoned CAPA: %+v", brk)
	}
	a.Must(http.StatusConflict, "alice", "POST", "/v1/capas/"+id2+"/cancel", map[string]any{"reason": "x"})
	for _, tk := range a.capa(id2).Tasks {
		if tk.State.Active() {
			t.Errorf("task %s still %s after abandon", tk.ID, tk.State)
		}
	}
}

// storeRefusal makes PostgreSQL refuse for good every audit event whose
// reason holds its poison: a real constraint, as a bad migration or a
// check would refuse a change, so a process that writes one stalls.
type storeRefusal struct {
	t                  *testing.T
	raw                *sqlDB
	poison, constraint string
	on                 bool
}

// refuseAuditReasons imposes a refusal, lifted at the latest when t ends.
func refuseAuditReasons(t *testing.T) *storeRefusal {
	t.Helper()
	poison := "POISON-" + uniq()
	r := &storeRefusal{t: t, raw: rawDB(t), poison: poison, constraint: "no_" + strings.ToLower(strings.ReplaceAll(poison, "-", "_"))}
	r.impose("")
	t.Cleanup(r.lift)
	return r
}

// impose adds the constraint; how is "" or "NOT VALID" (rows already
// holding the poison stay).
func (r *storeRefusal) impose(how string) {
	r.t.Helper()
	if _, err := r.raw.ExecContext(context.Background(), fmt.Sprintf(`ALTER TABLE audit_events ADD CONSTRAINT %s CHECK (reason NOT LIKE '%%%s%%') %s`, r.constraint, r.poison, how)); err != nil {
		r.t.Fatal(err)
	}
	r.on = true
}

// lift drops the constraint: the cause is fixed.
func (r *storeRefusal) lift() {
	if r.on {
		r.on = false
		if _, err := r.raw.ExecContext(context.Background(), `ALTER TABLE audit_events DROP CONSTRAINT `+r.constraint); err != nil {
			r.t.Error(err)
		}
	}
}

func listed(a *app, user, path, id string) bool {
	a.t.Helper()
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	a.Must(http.StatusOK, user, "GET", path, nil).JSON(a.t, &page)
	for _, it := range page.Items {
		if it.ID == id {
			return true
		}
	}
	return false
}

func anyNotification(ns []opsflow.Notification, process string) bool {
	for _, n := range ns {
		if n.ProcessID == process {
			return true
		}
	}
	return false
}

func hasEvent(events []opsflow.AuditEvent, action, contains string) bool {
	for _, e := range events {
		if e.Action == action && strings.Contains(e.Old+e.New+e.Reason, contains) {
			return true
		}
	}
	return false
}

// Finding (engine rework): the projection runs as a local activity inside
// the workflow task. A task that fails after its projection committed is
// retried with a later workflow time; the retried projection re-sends the
// same events with new times, and the store must take them as the retry
// they are (keeping the first) instead of failing the process. The failure
// is injected by an interceptor that panics once after the step's handler.
func TestWorkflowTaskFailingAfterItsProjectionIsHarmless(t *testing.T) {
	a := newApp(t)
	a.StopWorker()
	var injected atomic.Int32
	w := sdkworker.New(a.TC, a.Queue, sdkworker.Options{
		Interceptors: []interceptor.WorkerInterceptor{&failOnce{update: "triage", done: &injected}},
	})
	worker.Register(w, &activities.Activities{Store: a.DB, Logger: slog.New(slog.DiscardHandler)})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	id := newCAPA(a, "retried task")
	r := a.step(http.StatusOK, "alice", id, "triage", map[string]any{"severity": 4, "occurrence": 3, "detection": 4, "comment": "once"})
	if injected.Load() != 1 {
		t.Fatalf("the workflow task failure was not injected (%d)", injected.Load())
	}
	if r.State != "triage" || r.Risk == nil {
		t.Fatalf("after the retried task: %+v", r)
	}
	trail := a.audit(id)
	n := 0
	for _, e := range trail {
		if e.Action == "capa.risk_scored" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("capa.risk_scored %d times in the trail", n)
	}
	if brk := opsflow.VerifyChain(trail); brk != nil {
		t.Errorf("chain: %+v", brk)
	}
	if h := historyCounts(t, a, id); h[enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED] == 0 {
		t.Errorf("no failed workflow task in the history: %v", h)
	}
	a.step(http.StatusOK, "bob", id, "decide", map[string]any{"capa_required": true, "rationale": "goes on", "signature": sig("bob", "CAPA required")})
}

// failOnce panics once, after the named update's handler has run (and the
// projection it waited for has committed): the workflow task fails and
// Temporal retries it.
type failOnce struct {
	interceptor.WorkerInterceptorBase
	update string
	done   *atomic.Int32
}

func (f *failOnce) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &failOnceInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, f: f}
}

type failOnceInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	f *failOnce
}

func (i *failOnceInbound) ExecuteUpdate(ctx workflow.Context, in *interceptor.UpdateInput) (any, error) {
	out, err := i.Next.ExecuteUpdate(ctx, in)
	if in.Name == i.f.update && !workflow.IsReplaying(ctx) && i.f.done.CompareAndSwap(0, 1) {
		panic("injected: the workflow task fails after its projection committed")
	}
	return out, err
}

// Finding 3: a side effect runs beside the process, so a person's step does
// not wait behind a webhook that hangs.
func TestStepsDoNotWaitBehindAWebhook(t *testing.T) {
	a := newAppWith(t, func(c *server.Config) { c.Day = time.Second })
	release := make(chan struct{})
	var calls atomic.Int32
	hook := hangingWebhook(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, `{"id":"acct-7"}`)
	})
	role := "hang-" + uniq()
	a.Must(http.StatusCreated, "hana", "POST", "/v1/onboarding-templates", map[string]any{
		"role": role, "title": "Hanging webhook",
		"tasks": []any{
			map[string]any{"id": "account", "title": "Create the account", "owner_type": "it", "begin_offset_days": -3, "due_offset_days": 5,
				"provision": map[string]any{"system": "directory", "url": hook}},
			map[string]any{"id": "desk", "title": "Prepare the desk", "owner_type": "hr", "begin_offset_days": -3, "due_offset_days": 5},
		},
	})
	start := time.Now().UTC().Add(4 * time.Second)
	var o struct {
		ID    string         `json:"id"`
		Tasks []opsflow.Task `json:"tasks"`
	}
	a.Must(http.StatusCreated, "hana", "POST", "/v1/onboardings", map[string]any{
		"hire": map[string]any{"name": "Noor Haddad", "email": "noor@example.com"}, "role": role,
		"manager_id": "maya", "timezone": "UTC", "start_at": start,
	}).JSON(t, &o)
	a.Eventually("the webhook is called", 30*time.Second, func() bool { return calls.Load() > 0 })
	// The webhook hangs; a person's step goes through meanwhile.
	a.Must(http.StatusOK, "hana", "POST", "/v1/onboardings/"+o.ID+"/tasks/desk/complete", map[string]any{"evidence": []string{"desk 4.12"}})
	select {
	case <-release:
		t.Fatal("released early")
	default:
	}
	close(release)
	a.Eventually("the provisioning task is done", 30*time.Second, func() bool {
		a.Must(http.StatusOK, "hana", "GET", "/v1/onboardings/"+o.ID, nil).JSON(t, &o)
		for _, tk := range o.Tasks {
			if tk.ID == "account" {
				return tk.State == opsflow.TaskDone
			}
		}
		return false
	})
	a.Must(http.StatusOK, "hana", "POST", "/v1/onboardings/"+o.ID+"/cancel", map[string]any{"reason": "test over"})
}

func hangingWebhook(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/hook"
}

// Finding 4: with PostgreSQL unreachable, requests answer 503 with
// Retry-After — never 401, which would make a client throw a good token
// away. The API reaches the real database through a proxy the test can cut.
func TestDatabaseDownIs503Not401(t *testing.T) {
	setup(t)
	proxy := newTCPProxy(t, dbHostPort(t))
	db, err := postgres.Open(context.Background(), proxyURL(t, proxy.addr), postgres.WithPool(4, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := newAppWith(t, func(c *server.Config) { c.Store = db })
	a.Must(http.StatusOK, "alice", "GET", "/v1/me", nil)
	proxy.down()
	// bob's token was not seen yet, so it needs the database; alice's is
	// remembered for a few seconds, but her list needs the database too.
	for _, c := range []struct{ user, path string }{{"bob", "/v1/me"}, {"alice", "/v1/capas"}} {
		r := a.Do(c.user, "GET", c.path, nil)
		if r.Status != http.StatusServiceUnavailable || r.Err(t).Code != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s as %s with the database down: %d %s %v", c.path, c.user, r.Status, r.Body, r.Header)
		}
	}
	proxy.up()
	a.Eventually("the API answers again", 20*time.Second, func() bool { return a.Do("alice", "GET", "/v1/me", nil).Status == http.StatusOK })
}

// Finding 4: a step accepted but not finished by the request's deadline
// (here: no worker runs) answers 202 with where to look, never 500 (the
// deadline leaves the update 5 s to be admitted even on a loaded machine); the
// change is made once a worker is back, and the same Idempotency-Key then
// answers with the outcome.
func TestLateStepAnswers202(t *testing.T) {
	a := newAppWith(t, func(c *server.Config) { c.RequestTimeout = 8 * time.Second })
	id := newCAPA(a, "late step")
	a.StopWorker()
	body := map[string]any{"severity": 3, "occurrence": 2, "detection": 2}
	key := "late-" + uniq()
	r := a.Must(http.StatusAccepted, "alice", "POST", "/v1/capas/"+id+"/triage", body, "Idempotency-Key", key)
	m := r.Map(t)
	if m["status"] != "accepted" || m["location"] != "/v1/capas/"+id || r.Header.Get("Location") != "/v1/capas/"+id {
		t.Errorf("202 body: %s", r.Body)
	}
	if a.capa(id).State != "reported" {
		t.Errorf("applied before a worker ran")
	}
	a.StartWorker()
	a.Eventually("the accepted step is applied", 30*time.Second, func() bool { return a.capa(id).State == "triage" })
	// Repeated with the same key, it answers the outcome, not a second run.
	r = a.Must(http.StatusOK, "alice", "POST", "/v1/capas/"+id+"/triage", body, "Idempotency-Key", key)
	var c capaRecord
	r.JSON(t, &c)
	if c.State != "triage" {
		t.Errorf("replayed step: %s", r.Body)
	}
	n := 0
	for _, e := range a.audit(id) {
		if e.Action == "capa.risk_scored" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("triage recorded %d times", n)
	}
}

// Finding 5: fifty identical steps at once, without an Idempotency-Key: one
// applies, the others are told the state moved on; none hangs or fails.
func TestFiftyIdenticalStepsAtOnce(t *testing.T) {
	a := newApp(t)
	id := newCAPA(a, "a burst of clicks")
	var wg sync.WaitGroup
	statuses := make(chan int, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- a.Do("alice", "POST", "/v1/capas/"+id+"/triage", map[string]any{"severity": 3, "occurrence": 2, "detection": 2}).Status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusOK] != 1 || count[http.StatusConflict] != 49 {
		t.Errorf("statuses: %v; want one 200 and 49 409", count)
	}
}

// Finding 8: a body over the limit is answered 413, which the client reads
// (the body is drained, not cut off with a reset).
func TestTooLargeBodyIs413(t *testing.T) {
	a := newApp(t)
	body := bytes.Repeat([]byte("x"), 3<<20)
	req, err := http.NewRequest("POST", a.URL+"/v1/capas", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+Token("alice"))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("a 3 MiB body: %v (want a 413 answer, not a broken connection)", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(b, []byte(`"code":"invalid"`)) {
		t.Errorf("a 3 MiB body: %d %s", res.StatusCode, b)
	}
}

// Finding 9: a process ended from Temporal's own tools does not keep an
// open row forever. Cancelled, it closes itself; terminated (no workflow
// code runs), the reconciler closes it.
func TestProcessesEndedOutsideOpsflowAreClosed(t *testing.T) {
	a := newApp(t)
	ctx := context.Background()
	cancelled := newCAPA(a, "cancelled from the UI")
	if err := a.TC.CancelWorkflow(ctx, cancelled, ""); err != nil {
		t.Fatal(err)
	}
	a.Eventually("the cancelled CAPA closes itself", 30*time.Second, func() bool {
		if a.capa(cancelled).State == "cancelled" {
			return true
		}
		d, err := a.TC.DescribeWorkflowExecution(ctx, cancelled, "")
		t.Logf("workflow %s: %v", cancelled, d.GetWorkflowExecutionInfo().GetStatus())
		if err == nil && d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			for ev, n := range historyCounts(t, a, cancelled) {
				t.Logf("%v: %d", ev, n)
			}
			t.FailNow()
		}
		return false
	})
	trail := a.audit(cancelled)
	if e := trail[len(trail)-1]; e.ActorID != "system" || !strings.Contains(strings.Join([]string{trail[len(trail)-2].Reason, e.Reason}, " "), "outside opsflow") {
		t.Errorf("last events of the cancelled CAPA: %+v", trail[len(trail)-2:])
	}

	terminated := newCAPA(a, "terminated from the UI")
	before := time.Now().Add(-time.Minute)
	if err := a.TC.TerminateWorkflow(ctx, terminated, "", "operator cleanup"); err != nil {
		t.Fatal(err)
	}
	rec := &worker.Reconciler{Temporal: a.TC, Store: a.DB, Log: slog.New(slog.DiscardHandler)}
	a.Eventually("the reconciler closes the terminated CAPA", 30*time.Second, func() bool {
		if _, err := rec.Once(ctx, before); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		return a.capa(terminated).State == opsflow.StateTerminated
	})
	if _, err := rec.Once(ctx, before); err != nil { // again: nothing changes
		t.Fatal(err)
	}
	trail = a.audit(terminated)
	last := trail[len(trail)-2] // then the seal
	if last.Action != "process.terminated" || last.ActorID != "system" || !strings.Contains(last.Reason, "operator cleanup") {
		t.Errorf("last event of the terminated CAPA: %+v", last)
	}
	checkSealedExport(t, a, terminated)
	if n := countAction(trail, "process.terminated"); n != 1 {
		t.Errorf("process.terminated %d times", n)
	}
	if brk := opsflow.VerifyChain(trail); brk != nil {
		t.Errorf("chain: %+v", brk)
	}
	for _, tk := range a.capa(terminated).Tasks {
		if tk.State.Active() {
			t.Errorf("task %s still %s", tk.ID, tk.State)
		}
	}
	if listed(a, "alice", "/v1/capas?state=reported", terminated) {
		t.Errorf("the terminated CAPA is still listed as reported")
	}
}

func countAction(events []opsflow.AuditEvent, action string) int {
	n := 0
	for _, e := range events {
		if e.Action == action {
			n++
		}
	}
	return n
}

// Finding 6: a change that moves the next deadline cancels the timer of the
// old one instead of leaving it to wake the workflow for nothing: at most
// one timer is pending at any time.
func TestTimersAreCancelledWhenDeadlinesMove(t *testing.T) {
	a := newApp(t)
	id, _ := a.toImplementation("timers", "alice")
	h := historyCounts(t, a, id)
	started, fired, cancelled := h[enumspb.EVENT_TYPE_TIMER_STARTED], h[enumspb.EVENT_TYPE_TIMER_FIRED], h[enumspb.EVENT_TYPE_TIMER_CANCELED]
	if started == 0 || started-fired-cancelled > 1 {
		t.Errorf("timers: %d started, %d fired, %d cancelled; at most one may be pending", started, fired, cancelled)
	}
}

func historyCounts(t *testing.T, a *app, id string) map[enumspb.EventType]int {
	t.Helper()
	counts := map[enumspb.EventType]int{}
	it := a.TC.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		counts[ev.GetEventType()]++
	}
	return counts
}

// rawDB opens a plain connection to the test database as a superuser, for
// what the API must not (and, as the application's role, cannot) do: DDL.
func rawDB(t *testing.T) *sqlDB {
	t.Helper()
	db, err := openSQL(testenv.SuperuserURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func dbHostPort(t *testing.T) string {
	u, err := url.Parse(testenv.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func proxyURL(t *testing.T, addr string) string {
	u, err := url.Parse(testenv.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

// tcpProxy forwards connections to a real server; down refuses new ones
// and cuts the open ones, as a crashed or unreachable server would.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target}
	p.up()
	t.Cleanup(p.down)
	return p
}

func (p *tcpProxy) up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.ln, p.addr = ln, ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
}

func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

type sqlDB = sql.DB

func openSQL(u string) (*sql.DB, error) { return sql.Open("postgres", u) }

// "My inbox" is what a person must do now: tasks assigned to them or
// queued for one of their roles, still open; filters show the rest.
func TestInboxIsWhatIMustDoNow(t *testing.T) {
	a := newApp(t)
	id := newCAPA(a, "inbox")
	inbox := func(user, query string) map[string]string {
		var page struct {
			Items []struct {
				ID        string `json:"id"`
				ProcessID string `json:"process_id"`
				State     string `json:"state"`
			} `json:"items"`
		}
		a.Must(http.StatusOK, user, "GET", "/v1/tasks"+query, nil).JSON(t, &page)
		out := map[string]string{}
		for _, it := range page.Items {
			if it.ProcessID == id {
				out[it.ID] = it.State
			}
		}
		return out
	}
	if got := inbox("alice", "?assignee=me"); len(got) != 1 {
		t.Fatalf("alice's inbox before triage: %v (want the triage task)", got)
	}
	a.step(http.StatusOK, "alice", id, "triage", map[string]any{"severity": 3, "occurrence": 2, "detection": 2})
	if got := inbox("alice", "?assignee=me"); len(got) != 0 {
		t.Errorf("alice's inbox after triage still holds %v", got)
	}
	if got := inbox("alice", "?assignee=me&state=all"); len(got) != 1 {
		t.Errorf("with state=all alice sees %v; want her done triage task", got)
	}
	// The decision is queued for the approver role: bob sees it as his,
	// with or without assignee=me; alice (no approver role) does not.
	for _, q := range []string{"", "?assignee=me"} {
		got := inbox("bob", q)
		if len(got) != 1 {
			t.Errorf("bob's inbox %q: %v; want the decision queued for approvers", q, got)
		}
	}
	if got := inbox("alice", ""); len(got) != 0 {
		t.Errorf("alice sees the approvers' queue: %v", got)
	}
	if got := inbox("carol", "?process_id="+id+"&state=all"); len(got) != 3 { // triage, decision, containment
		t.Errorf("all tasks of the process: %v", got)
	}
	a.Must(http.StatusUnprocessableEntity, "alice", "GET", "/v1/tasks?state=finished", nil)
}

// A time that does not parse is a 422 naming its field.
func TestBadTimesNameTheirField(t *testing.T) {
	a := newApp(t)
	id := newCAPA(a, "bad times")
	e := a.Must(http.StatusUnprocessableEntity, "alice", "POST", "/v1/capas/"+id+"/request-extension",
		map[string]any{"task_id": "triage-2", "new_due": "next tuesday", "reason": "x"}).Err(t)
	if e.Field != "new_due" {
		t.Errorf("request-extension with a bad new_due: %+v", e)
	}
	key := "kpi-" + uniq()
	a.Must(http.StatusCreated, "alice", "POST", "/v1/kpis", map[string]any{"key": key, "name": "Scrap", "unit": "%", "direction": "lower"})
	e = a.Must(http.StatusUnprocessableEntity, "alice", "POST", "/v1/kpis/"+key+"/measurements",
		map[string]any{"items": []any{map[string]any{"value": 1, "at": "2026-11-20T10:00:00Z"}, map[string]any{"value": 2, "at": "yesterday"}}}).Err(t)
	if e.Field != "items[1].at" {
		t.Errorf("a measurement with a bad at: %+v", e)
	}
}

// A create repeated with its Idempotency-Key answers the record as it is
// now, not as it was created; empty values are left out; durations read as
// ISO 8601.
func TestCreateReplayAnswersTheCurrentRecord(t *testing.T) {
	a := newApp(t)
	key := "replay-" + uniq()
	body := map[string]any{"title": "replayed", "type": "corrective", "source": map[string]any{"type": "ncr"}, "problem": map[string]any{"what": "x"}}
	var first capaRecord
	a.Must(http.StatusCreated, "alice", "POST", "/v1/capas", body, "Idempotency-Key", key).JSON(t, &first)
	a.step(http.StatusOK, "alice", first.ID, "triage", map[string]any{"severity": 3, "occurrence": 2, "detection": 2})
	again := a.Must(http.StatusCreated, "alice", "POST", "/v1/capas", body, "Idempotency-Key", key)
	var rec capaRecord
	again.JSON(t, &rec)
	if rec.ID != first.ID || rec.State != "triage" {
		t.Errorf("the replayed create answered %s in %s; want %s as it is now (triage)", rec.ID, rec.State, first.ID)
	}
	if m := again.Map(t); m["scope"] != nil {
		t.Errorf("a CAPA without a scope shows scope %v", m["scope"])
	}
}

// checkSealedExport exports a process closed outside its workflow
// (abandoned, terminated): its record is sealed too, and its pack verifies.
func checkSealedExport(t *testing.T, a *app, id string) {
	t.Helper()
	trail := a.audit(id)
	if seal := trail[len(trail)-1]; seal.Action != opsflow.ActionProcessSealed || len(seal.New) != 64 {
		t.Errorf("%s does not end with its seal: %+v", id, seal)
	}
	pack := a.Must(http.StatusOK, "carol", "GET", "/v1/capas/"+id+"/export", nil).Body
	if rep, err := opsflow.VerifyPack(bytes.NewReader(pack)); err != nil || !rep.OK || rep.Sealed != 1 {
		t.Errorf("pack of %s: %+v %v (%+v)", id, rep, err, rep.Break)
	}
}
