package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/server"
)

// kaizenDay shortens a "day" so check windows and 30/60/90-day follow-ups
// pass in seconds.
const kaizenDay = 100 * time.Millisecond

func newKaizenApp(t *testing.T) *app {
	return newAppWith(t, func(c *server.Config) { c.Day = kaizenDay })
}

// kaizenKPI registers a lower-is-better KPI with a month of baseline
// measurements around 5.
func kaizenKPI(t *testing.T, a *app) (key string, from, to time.Time) {
	t.Helper()
	key = newKPIKey(t)
	a.Must(http.StatusCreated, "alice", "POST", "/v1/kpis", map[string]any{"key": key, "name": "Scrap rate", "unit": "%", "direction": "lower"})
	to = time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	from = to.Add(-30 * 24 * time.Hour)
	var items []map[string]any
	for i, v := range []float64{5.2, 4.8, 5.0, 5.4, 4.6} {
		items = append(items, map[string]any{"value": v, "at": from.Add(time.Duration(i+1) * 24 * time.Hour), "source": "MES"})
	}
	a.Must(http.StatusCreated, "dave", "POST", "/v1/kpis/"+key+"/measurements", map[string]any{"items": items})
	return key, from, to
}

// measure posts one measurement of key at the current time.
func measure(t *testing.T, a *app, key string, v float64) {
	t.Helper()
	a.Must(http.StatusCreated, "dave", "POST", "/v1/kpis/"+key+"/measurements", map[string]any{"value": v, "at": time.Now().UTC(), "source": "MES"})
}

// kaizenRecord is the part of the record the tests read.
type kaizenRecord struct {
	ID       string            `json:"id"`
	Phase    string            `json:"phase"`
	Cycle    int               `json:"cycle"`
	Owner    string            `json:"owner"`
	Baseline *opsflow.Baseline `json:"baseline"`
	Result   *struct {
		Mean      float64 `json:"mean"`
		Count     int     `json:"count"`
		GapClosed float64 `json:"gap_closed"`
		TargetMet bool    `json:"target_met"`
	} `json:"result"`
	FollowUps []opsflow.FollowUp    `json:"follow_ups"`
	Impact    []opsflow.ImpactEntry `json:"impact"`
	History   []opsflow.KaizenCycle `json:"history"`
	Tasks     []opsflow.Task        `json:"tasks"`
}

func getKaizen(t *testing.T, a *app, id string) kaizenRecord {
	t.Helper()
	var k kaizenRecord
	a.Must(http.StatusOK, "carol", "GET", "/v1/kaizen/"+id, nil).JSON(t, &k)
	return k
}

func waitPhase(t *testing.T, a *app, id, phase string, within time.Duration, each func()) kaizenRecord {
	t.Helper()
	var k kaizenRecord
	a.Eventually(id+" reaches "+phase, within, func() bool {
		if each != nil {
			each()
		}
		k = getKaizen(t, a, id)
		return k.Phase == phase
	})
	return k
}

func createKaizen(t *testing.T, a *app, user, key string, from, to time.Time, extra map[string]any) string {
	t.Helper()
	body := map[string]any{"title": "Flash scrap on line 4", "problem_statement": "5% of housings scrapped for flash", "kpi": key, "sponsor": "bob",
		"baseline": map[string]any{"from": from, "to": to},
		"target":   map[string]any{"value": 3, "date": time.Now().UTC().Add(365 * 24 * time.Hour)}}
	for k, v := range extra {
		body[k] = v
	}
	var k kaizenRecord
	a.Must(http.StatusCreated, user, "POST", "/v1/kaizen", body).JSON(t, &k)
	return k.ID
}

func a3(cm string) map[string]any {
	return map[string]any{"current_condition": "flash on both cavities", "root_causes": []string{"vents clogged after 4 h"},
		"countermeasures":   []map[string]any{{"id": cm, "title": "Clean the vents every shift", "owner": "dave", "due": time.Now().UTC().Add(time.Hour)}},
		"experiment":        map[string]any{"hypothesis": "clean vents halve flash"},
		"check_window_days": 10}
}

// runCycle takes an initiative in plan through an approved plan, its
// countermeasure and a check window measuring v, to act.
func runCycle(t *testing.T, a *app, id, key, cm string, cycle int, v float64) kaizenRecord {
	t.Helper()
	base := "/v1/kaizen/" + id
	a.Must(http.StatusOK, "alice", "POST", base+"/submit-plan", a3(cm))
	a.Must(http.StatusOK, "bob", "POST", base+"/approve-plan", map[string]any{"decision": "approve", "signature": sig("bob", "plan approved")})
	task := fmt.Sprintf("c%d-%s", cycle, cm)
	a.Must(http.StatusForbidden, "alice", "POST", base+"/tasks/"+task+"/complete", nil) // dave's task
	a.Must(http.StatusOK, "dave", "POST", base+"/tasks/"+task+"/start", nil)
	r := a.Must(http.StatusOK, "dave", "POST", base+"/tasks/"+task+"/complete", map[string]any{"evidence": []string{"checklist-1"}})
	var k kaizenRecord
	r.JSON(t, &k)
	if k.Phase != "check" {
		t.Fatalf("after the last countermeasure: phase %s, want check", k.Phase)
	}
	measure(t, a, key, v)
	k = waitPhase(t, a, id, "act", 10*time.Second, nil)
	if k.Result == nil || k.Result.Count != 1 || k.Result.Mean != v {
		t.Fatalf("cycle %d result %+v; want the mean of the window's one measurement, %v", cycle, k.Result, v)
	}
	a.Must(http.StatusOK, "alice", "POST", base+"/record-observations", map[string]any{"text": fmt.Sprintf("cycle %d: scrap at %v", cycle, v)})
	return k
}

// standardiseAndSustain standardises and waits out the follow-ups, posting
// measurements along the way.
func standardiseAndSustain(t *testing.T, a *app, id, key string) kaizenRecord {
	t.Helper()
	base := "/v1/kaizen/" + id
	a.Must(http.StatusUnprocessableEntity, "alice", "POST", base+"/act", map[string]any{"decision": "standardise",
		"standard": map[string]any{"sop_ref": "SOP-MLD-12", "sop_version": "4"}}) // unsigned
	a.Must(http.StatusOK, "alice", "POST", base+"/act", map[string]any{"decision": "standardise",
		"standard":  map[string]any{"sop_ref": "SOP-MLD-12", "sop_version": "4", "training": []string{"shift leads"}, "roll_out": []string{"line 5"}, "regression_tolerance_pct": 20},
		"signature": sig("alice", "standard approved")})
	a.Must(http.StatusOK, "bob", "POST", base+"/record-impact", map[string]any{"id": "scrap-cost", "category": "hard_savings", "unit": "EUR", "forecast": 40000, "actual": 36500, "recurrence": "recurring"})
	return waitPhase(t, a, id, "closed", 30*time.Second, func() { measure(t, a, key, 2.9) })
}

func TestKaizenFromSubmissionToClosed(t *testing.T) {
	a := newKaizenApp(t)
	key, from, to := kaizenKPI(t, a)
	id := createKaizen(t, a, "alice", key, from, to, nil)
	k := getKaizen(t, a, id)
	if k.Phase != "triage" || k.Owner != "alice" || k.Baseline == nil || *k.Baseline.Value != 5 || k.Baseline.Method != "measured" || k.Baseline.Count != 5 {
		t.Fatalf("submitted: %+v (baseline %+v)", k, k.Baseline)
	}
	base := "/v1/kaizen/" + id
	a.Must(http.StatusForbidden, "erin", "POST", base+"/triage", map[string]any{"decision": "accept", "reason": "ok"}) // not the sponsor
	a.Must(http.StatusConflict, "alice", "POST", base+"/submit-plan", a3("vents"))                                     // still in triage
	a.Must(http.StatusOK, "bob", "POST", base+"/triage", map[string]any{"decision": "accept", "reason": "top scrap driver"})
	runCycle(t, a, id, key, "vents", 1, 3)
	k = standardiseAndSustain(t, a, id, key)

	if len(k.FollowUps) != 3 {
		t.Fatalf("follow-ups %+v", k.FollowUps)
	}
	for _, f := range k.FollowUps {
		if f.Result == nil || f.Result.NoData || f.Regressed {
			t.Errorf("follow-up day %d: %+v", f.Day, f)
		}
	}
	if len(k.Impact) != 1 || k.Impact[0].LockedAt == nil || *k.Impact[0].Actual != 36500 {
		t.Errorf("impact %+v; want the actual locked", k.Impact)
	}
	a.Must(http.StatusConflict, "alice", "POST", base+"/record-impact", map[string]any{"id": "scrap-cost", "category": "hard_savings", "unit": "EUR", "actual": 1, "recurrence": "recurring"})

	var trail struct {
		Items []opsflow.AuditEvent `json:"items"`
	}
	a.Must(http.StatusOK, "carol", "GET", base+"/audit", nil).JSON(t, &trail)
	var actions []string
	for _, ev := range trail.Items {
		actions = append(actions, ev.Action)
	}
	for _, want := range []string{"kaizen.submitted", "kaizen.accepted", "kaizen.plan_submitted", "kaizen.plan_approved", "task.done",
		"kaizen.check_started", "kaizen.result_recorded", "kaizen.observation_recorded", "kaizen.standardised", "kaizen.impact_recorded",
		"kaizen.follow_up_recorded", "kaizen.impact_locked", "kaizen.closed"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit trail lacks %s: %v", want, actions)
		}
	}
	if ev := trail.Items[0]; ev.ActorID != "alice" || ev.Action != "kaizen.submitted" {
		t.Errorf("first event %+v", ev)
	}
	// The standardisation started new control limits on the KPI, audited
	// on its stream in alice's name.
	var kpi struct {
		Dividers []opsflow.KPIDivider `json:"dividers"`
	}
	a.Must(http.StatusOK, "alice", "GET", "/v1/kpis/"+key, nil).JSON(t, &kpi)
	if len(kpi.Dividers) != 1 || kpi.Dividers[0].Label != "Kaizen "+id+" standardised" || kpi.Dividers[0].CreatedBy != "alice" ||
		!kpi.Dividers[0].At.Equal(trail.Items[slices.IndexFunc(trail.Items, func(ev opsflow.AuditEvent) bool { return ev.Action == "kaizen.standardised" })].At) {
		t.Errorf("dividers after standardising %+v; want one at the kaizen.standardised event", kpi.Dividers)
	}
	var kpiTrail struct {
		Items []opsflow.AuditEvent `json:"items"`
	}
	a.Must(http.StatusOK, "alice", "GET", "/v1/kpis/"+key+"/audit", nil).JSON(t, &kpiTrail)
	if n := len(slices.DeleteFunc(kpiTrail.Items, func(ev opsflow.AuditEvent) bool { return ev.Action != "kpi.divider_added" })); n != 1 {
		t.Errorf("kpi trail has %d kpi.divider_added events; want 1", n)
	}

	var page struct {
		Items []kaizenRecord `json:"items"`
	}
	a.Must(http.StatusOK, "carol", "GET", "/v1/kaizen?phase=closed&sponsor=bob&owner=alice&kpi="+key, nil).JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != id {
		t.Errorf("filtered list %+v", page.Items)
	}
	a.Must(http.StatusOK, "carol", "GET", "/v1/kaizen?phase=plan&kpi="+key, nil).JSON(t, &page)
	if len(page.Items) != 0 {
		t.Errorf("phase filter let through %+v", page.Items)
	}
	a.Must(http.StatusUnprocessableEntity, "carol", "GET", "/v1/kaizen?phase=doing", nil)
}

func TestKaizenTwoCycles(t *testing.T) {
	a := newKaizenApp(t)
	key, from, to := kaizenKPI(t, a)
	id := createKaizen(t, a, "alice", key, from, to, nil)
	base := "/v1/kaizen/" + id
	a.Must(http.StatusOK, "bob", "POST", base+"/triage", map[string]any{"decision": "accept", "reason": "top scrap driver"})
	k := runCycle(t, a, id, key, "vents", 1, 4.5)
	if k.Result.TargetMet || k.Result.GapClosed != 0.25 {
		t.Errorf("cycle 1 result %+v; want a quarter of the gap closed", k.Result)
	}
	a.Must(http.StatusUnprocessableEntity, "alice", "POST", base+"/act", map[string]any{"decision": "adjust"}) // no reason
	// The adjust continues the workflow as new once its handlers are done;
	// an impact entry sent at the same moment is in flight then, and must
	// be neither lost nor answered twice.
	var wg sync.WaitGroup
	wg.Add(1)
	var impact response
	go func() {
		defer wg.Done()
		impact = a.Do("alice", "POST", base+"/record-impact", map[string]any{"id": "cycle-1-scrap", "category": "hard_savings", "unit": "EUR", "forecast": 12000, "recurrence": "recurring"})
	}()
	a.Must(http.StatusOK, "alice", "POST", base+"/act", map[string]any{"decision": "adjust", "reason": "cavity 2 needs its own vent"})
	wg.Wait()
	if impact.Status != http.StatusOK {
		t.Errorf("impact sent beside the adjust: %d %s", impact.Status, impact.Body)
	}
	k = waitPhase(t, a, id, "plan", 10*time.Second, nil)
	if k.Cycle != 2 || len(k.History) != 1 || k.History[0].Cycle != 1 || k.History[0].Result == nil || k.History[0].Result.Mean != 4.5 {
		t.Fatalf("after adjust: cycle %d history %+v", k.Cycle, k.History)
	}
	if len(k.Impact) != 1 || k.Impact[0].ID != "cycle-1-scrap" {
		t.Errorf("the impact entry sent beside the adjust did not survive continue-as-new: %+v", k.Impact)
	}
	runCycle(t, a, id, key, "vent-cavity-2", 2, 2.8)
	k = standardiseAndSustain(t, a, id, key)
	if k.Cycle != 2 || len(k.History) != 1 {
		t.Errorf("closed: cycle %d, %d earlier cycles", k.Cycle, len(k.History))
	}
	saveHistory(t, a, id, "kaizen_two_cycles_signed")
	saveFirstRun(t, a, id, "kaizen_two_cycles_first_run_signed")
}

// saveFirstRun saves the history of the run that id's latest run continued
// from, the one that ends in continue-as-new, so replay covers that path
// too (saveHistory saves the latest run).
func saveFirstRun(t *testing.T, a *app, id, name string) {
	t.Helper()
	if os.Getenv("OPSFLOW_UPDATE_HISTORIES") != "1" {
		return
	}
	ctx := context.Background()
	it := a.TC.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	first, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	prev := first.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
	if prev == "" {
		t.Fatalf("%s did not continue from an earlier run", id)
	}
	var h historypb.History
	for it := a.TC.GetWorkflowHistory(ctx, id, prev, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT); it.HasNext(); {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	writeHistory(t, name, b)
}

func TestKaizenDeferredThenRejected(t *testing.T) {
	a := newKaizenApp(t)
	key, from, to := kaizenKPI(t, a)
	id := createKaizen(t, a, "alice", key, from, to, nil)
	base := "/v1/kaizen/" + id
	if e := a.Must(http.StatusUnprocessableEntity, "bob", "POST", base+"/triage", map[string]any{"decision": "defer", "reason": "after the line move"}).Err(t); e.Field != "until" {
		t.Errorf("defer without until: field %q", e.Field)
	}
	a.Must(http.StatusOK, "bob", "POST", base+"/triage", map[string]any{"decision": "defer", "reason": "after the line move", "until": time.Now().UTC().Add(time.Second)})
	if k := getKaizen(t, a, id); k.Phase != "deferred" {
		t.Fatalf("phase %s, want deferred", k.Phase)
	}
	waitPhase(t, a, id, "triage", 10*time.Second, nil)
	r := a.Must(http.StatusOK, "bob", "POST", base+"/triage", map[string]any{"decision": "reject", "reason": "covered by the line rebuild"})
	var k kaizenRecord
	r.JSON(t, &k)
	if k.Phase != "rejected" {
		t.Fatalf("phase %s, want rejected", k.Phase)
	}
	for _, tk := range k.Tasks {
		if tk.State.Active() {
			t.Errorf("task %s still %s", tk.ID, tk.State)
		}
	}
	if e := a.Must(http.StatusConflict, "bob", "POST", base+"/triage", map[string]any{"decision": "accept", "reason": "changed my mind"}).Err(t); e.State != "rejected" {
		t.Errorf("triage after reject: state %q", e.State)
	}
}

func TestKaizenBadInputs(t *testing.T) {
	a := newKaizenApp(t)
	key, from, _ := kaizenKPI(t, a)
	body := func(edit func(map[string]any)) map[string]any {
		b := map[string]any{"title": "Flash scrap", "problem_statement": "5% scrap", "kpi": key, "sponsor": "bob",
			"baseline": map[string]any{"value": 5, "source": "MES report"},
			"target":   map[string]any{"value": 3, "date": time.Now().UTC().Add(90 * 24 * time.Hour)}}
		edit(b)
		return b
	}
	for _, c := range []struct {
		name   string
		user   string
		body   map[string]any
		status int
		field  string
	}{
		{"unknown kpi", "alice", body(func(b map[string]any) { b["kpi"] = "no-such-kpi" }), 422, "kpi"},
		{"target in the wrong direction", "alice", body(func(b map[string]any) {
			b["target"] = map[string]any{"value": 6, "date": time.Now().UTC().Add(90 * 24 * time.Hour)}
		}), 422, "target.value"},
		{"sponsor is the owner", "alice", body(func(b map[string]any) { b["sponsor"] = "alice" }), 422, "sponsor"},
		{"entered baseline without source", "alice", body(func(b map[string]any) { b["baseline"] = map[string]any{"value": 5} }), 422, "baseline.source"},
		{"window without measurements", "alice", body(func(b map[string]any) {
			b["baseline"] = map[string]any{"from": from.Add(-60 * 24 * time.Hour), "to": from.Add(-40 * 24 * time.Hour)}
		}), 422, "baseline.from"},
		{"unknown field", "alice", body(func(b map[string]any) { b["budget"] = 10 }), 422, "budget"},
		{"auditor cannot submit", "carol", body(func(map[string]any) {}), 403, ""},
	} {
		r := a.Do(c.user, "POST", "/v1/kaizen", c.body)
		if r.Status != c.status || r.Err(t).Field != c.field {
			t.Errorf("%s: %d %s; want %d field %q", c.name, r.Status, r.Body, c.status, c.field)
		}
	}
	a.Must(http.StatusNotFound, "carol", "GET", "/v1/kaizen/kzn-nope", nil)
	a.Must(http.StatusNotFound, "bob", "POST", "/v1/kaizen/kzn-nope/triage", map[string]any{"decision": "accept", "reason": "x"})

	// The same Idempotency-Key names the same initiative.
	var first, again kaizenRecord
	same := body(func(map[string]any) {})
	a.Must(http.StatusCreated, "erin", "POST", "/v1/kaizen", same, "Idempotency-Key", "k1").JSON(t, &first)
	a.Must(http.StatusCreated, "erin", "POST", "/v1/kaizen", same, "Idempotency-Key", "k1").JSON(t, &again)
	// The key again with another body is another request: refused, naming
	// the header, and nothing is created.
	if e := a.Must(http.StatusUnprocessableEntity, "erin", "POST", "/v1/kaizen", body(func(b map[string]any) { b["title"] = "Another idea" }), "Idempotency-Key", "k1").Err(t); e.Field != "Idempotency-Key" {
		t.Errorf("key reused with another body: %+v", e)
	}
	if first.ID != again.ID || first.Owner != "erin" {
		t.Fatalf("idempotent create: %s then %s", first.ID, again.ID)
	}
	// Erin owns it and is an approver: she still may not approve her own plan.
	base := "/v1/kaizen/" + first.ID
	a.Must(http.StatusOK, "bob", "POST", base+"/triage", map[string]any{"decision": "accept", "reason": "yes"})
	a.Must(http.StatusForbidden, "alice", "POST", base+"/submit-plan", a3("vents")) // not the owner
	wrong := a3("vents")
	wrong["target"] = map[string]any{"value": 7, "date": time.Now().UTC().Add(90 * 24 * time.Hour)}
	if e := a.Must(http.StatusUnprocessableEntity, "erin", "POST", base+"/submit-plan", wrong).Err(t); e.Field != "target.value" {
		t.Errorf("plan target in the wrong direction: field %q", e.Field)
	}
	a.Must(http.StatusOK, "erin", "POST", base+"/submit-plan", a3("vents"))
	e := a.Must(http.StatusForbidden, "erin", "POST", base+"/approve-plan", map[string]any{"decision": "approve", "signature": sig("erin", "plan approved")}).Err(t)
	t.Logf("own approval: %s", e.Message)
	a.Must(http.StatusConflict, "erin", "POST", base+"/tasks/plan-approval-1/complete", nil) // decision tasks close with their action
	a.Must(http.StatusUnprocessableEntity, "bob", "POST", base+"/approve-plan", map[string]any{"decision": "return"})
	// A returned plan is work for its owner: a task in her inbox.
	a.Must(http.StatusOK, "bob", "POST", base+"/approve-plan", map[string]any{"decision": "return", "reason": "add a measurement plan"})
	var inbox struct {
		Items []struct {
			ID        string `json:"id"`
			ProcessID string `json:"process_id"`
			Title     string `json:"title"`
		} `json:"items"`
	}
	a.Must(http.StatusOK, "erin", "GET", "/v1/tasks?assignee=me", nil).JSON(t, &inbox)
	var revise bool
	for _, it := range inbox.Items {
		revise = revise || (it.ProcessID == first.ID && strings.Contains(it.Title, "Revise the A3 plan") && strings.Contains(it.Title, "add a measurement plan"))
	}
	if !revise {
		t.Errorf("no task to revise the returned plan in the owner's inbox: %+v", inbox.Items)
	}
	a.Must(http.StatusOK, "bob", "POST", base+"/cancel", map[string]any{"reason": "line closes"})
	a.Must(http.StatusConflict, "bob", "POST", base+"/approve-plan", map[string]any{"decision": "approve", "signature": sig("bob", "plan approved")})
}
