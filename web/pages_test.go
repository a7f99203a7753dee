package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

func ptr[T any](v T) *T { return &v }

// addRecords gives the fake API a Kaizen initiative, an onboarding and a
// KPI, so every page has something to show.
func (h *harness) addRecords() {
	now := time.Now().UTC()
	due := now.Add(24 * time.Hour)
	k := opsflow.Kaizen{ID: "kzn-1", Phase: opsflow.KaizenSustain, Cycle: 1, Title: "Flash on cavity 1", ProblemStatement: "scrap 5 %",
		KPI: opsflow.KPIRef{Key: "scrap", Name: "Scrap", Unit: "%", Direction: opsflow.LowerIsBetter}, Sponsor: "bob", Owner: "alice", OpenedAt: now,
		Baseline: &opsflow.Baseline{Value: ptr(5.0), Source: "MES"}, Target: &opsflow.Target{Value: ptr(3.0), Date: &due},
		Plan: &opsflow.A3{CurrentCondition: "flash", RootCauses: []string{"vents"}, CheckWindowDays: 3,
			Countermeasures: []opsflow.Countermeasure{{ID: "vents", Title: "Clean vents", Owner: "alice", Due: due}}, Experiment: opsflow.Experiment{Hypothesis: "h"}},
		Result:   &opsflow.KaizenResult{Mean: 2.6, Count: 4, Baseline: 5, Target: 3, Change: -2.4, GapClosed: 1.2, Improved: true, TargetMet: true},
		Standard: &opsflow.Standard{SOPRef: "SOP-1", SOPVersion: "2"}, FollowUps: []opsflow.FollowUp{{Day: 30, DueAt: due}},
		Impact:  []opsflow.ImpactEntry{{ID: "cost", Category: "hard_savings", Unit: "EUR", Forecast: ptr(40000.0), Actual: ptr(36500.0), Recurrence: "recurring"}},
		History: []opsflow.KaizenCycle{}, Tasks: []opsflow.Task{{ID: "c1-vents", Kind: opsflow.KaizenTaskCountermeasure, Title: "Clean vents", Assignee: "alice", State: opsflow.TaskDone}}}
	start := now.AddDate(0, 0, 5)
	open := now.Add(-time.Hour)
	o := opsflow.Onboarding{ID: "onb-1", State: opsflow.OnboardingPreboarding, Hire: opsflow.Hire{Name: "Noor Haddad", Email: "noor@example.com"},
		Placement: opsflow.Placement{Role: "office", Timezone: "UTC", ManagerID: "maya", StartDate: start.Format(time.DateOnly), StartAt: start},
		Template:  opsflow.TemplateRef{Role: "office", Version: 1, Title: "Office role"}, Plan: []opsflow.TaskTemplate{{ID: "contract", OwnerType: "hr"}},
		Board: opsflow.Board{Tasks: []opsflow.Task{
			{ID: "contract", Title: "Contract", Role: opsflow.RoleHR, State: opsflow.TaskOpen, DueAt: &due, OpenAt: &open, Required: true, Weight: 2},
			{ID: "checkin-30", Kind: opsflow.OnboardingTaskCheckin, Title: "Day-30 check-in", Assignee: "maya", State: opsflow.TaskScheduled, OpenAt: &due}}},
		Progress: 42, Day: opsflow.Duration(24 * time.Hour), CheckIns: []opsflow.CheckIn{}, Provisioning: []opsflow.ProvisionStatus{}}
	kpi := opsflow.KPI{Key: "scrap", Name: "Scrap", Unit: "%", Direction: opsflow.LowerIsBetter, OwnerID: "alice"}
	var ms []opsflow.Measurement
	for i := range 6 {
		ms = append(ms, opsflow.Measurement{KPI: "scrap", Value: 5 - float64(i)/2, At: now.Add(-time.Duration(6-i) * time.Hour)})
	}
	answer := func(v any) func(opsflow.User, []byte, *http.Request) (int, any) {
		return func(opsflow.User, []byte, *http.Request) (int, any) { return 200, v }
	}
	// What an administrator sees: a stalled onboarding, a failed e-mail,
	// an active token and a revoked one.
	stalled, _ := json.Marshal(map[string]any{"id": "onb-1", "state": "preboarding", "hire": map[string]any{"name": "Noor Haddad"},
		"stalled": opsflow.StallNote{Since: now.Add(-2 * time.Hour), Error: `violates check constraint "no_poison"`}})
	failed := opsflow.Delivery{ID: "d-7", Notification: "n-3", UserID: "alice", Channel: "email", State: opsflow.DeliveryFailed, Attempts: 3,
		LastError: "421 service not available", Kind: opsflow.NotifyAssigned, Subject: "Score the risk", ProcessID: "capa-1", At: now.Add(-time.Hour), CreatedAt: now}
	adminTokens := []map[string]any{
		{"id": "tok-a1", "user_id": "alice", "label": "laptop", "created_at": now.Add(-48 * time.Hour), "last_used_at": now, "state": "active"},
		{"id": "tok-b2", "user_id": "bob", "label": "old", "created_at": now.Add(-96 * time.Hour), "revoked_at": now.Add(-24 * time.Hour), "state": "revoked"},
	}
	kb, _ := json.Marshal(k)
	ob, _ := json.Marshal(o)
	trail := map[string]any{"items": []opsflow.AuditEvent{{Seq: 1, At: now, ActorID: "system", ActorName: "opsflow", Action: "x.happened", New: "v"}}}
	for path, v := range map[string]any{
		"GET /v1/kaizen":                  opsflow.Page[json.RawMessage]{Items: []json.RawMessage{kb}},
		"GET /v1/kaizen/kzn-1":            json.RawMessage(kb),
		"GET /v1/kaizen/kzn-1/audit":      trail,
		"GET /v1/onboardings":             opsflow.Page[json.RawMessage]{Items: []json.RawMessage{ob}, NextCursor: "c2"},
		"GET /v1/onboardings/onb-1":       json.RawMessage(ob),
		"GET /v1/onboardings/onb-1/audit": trail,
		"GET /v1/onboarding-templates":    opsflow.Page[opsflow.OnboardingTemplate]{Items: []opsflow.OnboardingTemplate{{Role: "office", Version: 1, Title: "Office role"}}},
		"GET /v1/kpis":                    opsflow.Page[opsflow.KPI]{Items: []opsflow.KPI{kpi}},
		"GET /v1/kpis/scrap":              kpi,
		"GET /v1/kpis/scrap/measurements": opsflow.Page[opsflow.Measurement]{Items: ms},
		"GET /v1/audit/verify":            opsflow.VerifyReport{OK: true, Streams: 3, Events: 42},
		"GET /v1/capas/capa-1/export":     map[string]string{"format": "inspection-pack"},
		"GET /v1/capas/export":            map[string]string{"format": "inspection-pack"},
		"GET /v1/admin/processes":         opsflow.Page[json.RawMessage]{Items: []json.RawMessage{stalled}, NextCursor: "c2"},
		"GET /v1/admin/notifications":     opsflow.Page[opsflow.Delivery]{Items: []opsflow.Delivery{failed}},
		"GET /v1/notifications":           opsflow.Page[opsflow.Delivery]{Items: []opsflow.Delivery{failed}},
		"GET /v1/admin/tokens":            map[string]any{"items": adminTokens},
	} {
		h.api.routes[path] = answer(v)
	}
	h.store.records[k.ID] = opsflow.Process{ID: k.ID, Kind: opsflow.KindKaizen, Record: kb}
	h.store.records[o.ID] = opsflow.Process{ID: o.ID, Kind: opsflow.KindOnboarding, Record: ob}
}

// Every page renders for the people who use it, with what they need on it.
func TestEveryPageRenders(t *testing.T) {
	h := newHarness(t)
	h.addRecords()
	for _, c := range []struct {
		token, path string
		want        []string
	}{
		{"opsf_alice", "/", []string{"My work", "Score the risk", "Due within 3 days"}},
		{"opsf_alice", "/capas", []string{"CAPA register", "Housing cracks", "Report a nonconformity", `name="risk_level"`}},
		{"opsf_alice", "/capas/capa-1", []string{"Housing cracks", `aria-current="step"`, "Timeline", "capa.reported", "Not signed yet"}},
		{"opsf_alice", "/kaizen", []string{"Kaizen board", "sustain", "Flash on cavity 1", "Submit an improvement"}},
		{"opsf_alice", "/kaizen?phase=sustain", []string{"Kaizen: sustain", "Flash on cavity 1"}},
		{"opsf_alice", "/kaizen/kzn-1", []string{"Baseline and target", "SOP-1", "36500", "target met", "<polyline", "Impact ledger", "Other actions"}},
		{"opsf_alice", "/onboardings", []string{"Noor Haddad", `<progress max="100" value="42"`, "not ready", "Next page"}},
		{"opsf_carol", "/onboardings", []string{"Noor Haddad"}},
		{"opsf_alice", "/onboardings/onb-1", []string{"Noor Haddad", "Pre-boarding", "Day 30", "Opens"}},
		{"opsf_alice", "/kpis", []string{"Scrap", "<summary>New KPI</summary>"}},
		{"opsf_alice", "/kpis/scrap", []string{"Latest measurements", "Flash on cavity 1", "once the API serves them", "No target is set.", "Set a target"}},
		{"opsf_alice", "/reports", []string{"not available yet"}},
		{"opsf_carol", "/settings/notifications", []string{"Your notifications", "Score the risk", "421 service not available"}},
		{"opsf_alice", "/audit", []string{"for auditors and administrators"}},
		{"opsf_carol", "/audit?verify=1", []string{"The trail verifies", "3 chain(s), 42 event(s)", "Download"}},
		{"opsf_root", "/admin", []string{"Stalled processes", "onb-1", "Noor Haddad", "no_poison", "Failed notifications", "421 service not available",
			"API tokens", "tok-a1", `<a href="/admin" aria-current="page">Admin <span class="count overdue"`}},
		{"opsf_root", "/admin/tokens", []string{"API tokens", "tok-b2", "revoked"}},
		{"opsf_alice", "/nowhere", []string{"There is no such page"}},
	} {
		cl := h.client()
		cl.signIn(c.token)
		p := cl.do("GET", c.path, nil)
		if p.Status != http.StatusOK && c.path != "/nowhere" {
			t.Errorf("%s %s: %d %s", c.token, c.path, p.Status, between(p.Body, "<main", "</main>"))
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(p.Body, w) {
				t.Errorf("%s %s lacks %q", c.token, c.path, w)
			}
		}
	}
	// HR sees the start form on the board; others do not.
	cl := h.client()
	cl.signIn("opsf_carol")
	if p := cl.do("GET", "/onboardings", nil); strings.Contains(p.Body, "Start an onboarding") {
		t.Error("an auditor is offered to start an onboarding")
	}
}

func TestDownloadsPassTheAPIsAnswerThrough(t *testing.T) {
	h := newHarness(t)
	h.addRecords()
	cl := h.client()
	cl.signIn("opsf_carol")
	p := cl.do("GET", "/capas/capa-1/export?format=json", nil)
	if p.Status != 200 || !strings.Contains(p.Body, "inspection-pack") {
		t.Errorf("export: %d %s", p.Status, p.Body)
	}
	if got := h.api.sent[len(h.api.sent)-1]; got.Path != "/v1/capas/capa-1/export" || got.User != "carol" {
		t.Errorf("sent %+v", got)
	}
	// An error from the API becomes a page, not a JSON body.
	p = cl.do("GET", "/capas/capa-9/export?format=json", nil)
	if p.Status != 404 || !strings.Contains(p.Body, "<html") {
		t.Errorf("a failed export: %d", p.Status)
	}
}
