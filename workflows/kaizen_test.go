package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/opsflow/opsflow"
)

var (
	kzAlice = opsflow.Actor{ID: "alice", Name: "Alice", Roles: []opsflow.Role{opsflow.RoleRequester, opsflow.RoleOwner}}
	kzBob   = opsflow.Actor{ID: "bob", Name: "Bob", Roles: []opsflow.Role{opsflow.RoleApprover}}
	kzDave  = opsflow.Actor{ID: "dave", Name: "Dave", Roles: []opsflow.Role{opsflow.RoleOwner}}
	kzErin  = opsflow.Actor{ID: "erin", Name: "Erin", Roles: []opsflow.Role{opsflow.RoleApprover, opsflow.RoleOwner}}
	kzT0    = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	kzDay   = 24 * time.Hour
)

// kpiFake answers MeasureKPI with the next of its means, and remembers the
// windows it was asked for.
type kpiFake struct {
	mu      sync.Mutex
	means   []float64
	windows []MeasureWindow
	// shift, when set, is the chart's verdict on a window asked with Before.
	shift *opsflow.ShiftVerdict
}

func (f *kpiFake) MeasureKPI(_ context.Context, w MeasureWindow) (opsflow.KPIStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.windows = append(f.windows, w)
	if len(f.means) == 0 {
		return opsflow.KPIStats{KPI: w.KPI, From: w.From, To: w.To}, nil
	}
	m := f.means[0]
	f.means = f.means[1:]
	s := opsflow.KPIStats{KPI: w.KPI, From: w.From, To: w.To, Count: 10, Mean: m, Min: m, Max: m}
	if w.Before != nil {
		s.Shift = f.shift
	}
	return s, nil
}

func kzEnv(t *testing.T, st *store, fake *kpiFake, start time.Time) *testsuite.TestWorkflowEnvironment {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	env.RegisterWorkflow(Kaizen)
	env.RegisterActivityWithOptions(st.SaveSnapshot, activity.RegisterOptions{Name: ActivitySaveSnapshot})
	env.RegisterActivityWithOptions(fake.MeasureKPI, activity.RegisterOptions{Name: ActivityMeasureKPI})
	return env
}

func f64(v float64) *float64 { return &v }

func kzInput() KaizenInput {
	target := kzT0.Add(200 * kzDay)
	return KaizenInput{
		Request: opsflow.KaizenRequest{Title: "Scrap on line 4", ProblemStatement: "5% of housings are scrapped for flash",
			KPI: "scrap", Sponsor: "bob", Owner: "alice",
			Baseline: &opsflow.Baseline{Value: f64(5), Method: opsflow.BaselineEntered, Source: "MES Q3 report"},
			Target:   &opsflow.Target{Value: f64(3), Date: &target}},
		KPI:   opsflow.KPI{Key: "scrap", Name: "Scrap rate", Unit: "%", Direction: opsflow.LowerIsBetter, OwnerID: "alice"},
		Actor: kzAlice,
		Day:   kzDay,
	}
}

func kzPlan(now time.Time, cm string) opsflow.A3 {
	return opsflow.A3{CurrentCondition: "flash on 5% of shots", RootCauses: []string{"worn mould vents"},
		Countermeasures: []opsflow.Countermeasure{{ID: cm, Title: "Clean the vents every shift", Owner: "dave", Due: now.Add(10 * kzDay)}},
		Experiment:      opsflow.Experiment{Hypothesis: "clean vents halve the flash"}, CheckWindowDays: 14}
}

func lastRecord(t *testing.T, st *store) opsflow.Kaizen {
	t.Helper()
	var k opsflow.Kaizen
	if err := json.Unmarshal(st.snaps[len(st.snaps)-1].Process.Record, &k); err != nil {
		t.Fatal(err)
	}
	return k
}

func wantOpsError(t *testing.T, what string, err error, code, field string) {
	t.Helper()
	e, ok := OpsError(err)
	if !ok || e.Code != code || e.Field != field {
		t.Errorf("%s: got %v, want %s (field %q)", what, err, code, field)
	}
}

// TestKaizenDeferTwoCyclesAndFollowUps runs an initiative through a
// deferral, a first cycle that misses (adjust → continue-as-new), a second
// that standardises, and the 30/60/90-day follow-ups with a regression.
func TestKaizenDeferTwoCyclesAndFollowUps(t *testing.T) {
	st := &store{t: t}
	fake := &kpiFake{means: []float64{4.8, 3.2, 3.1, 4.5, 3.0}}
	env := kzEnv(t, st, fake, kzT0)
	var notSponsor, deferred, accepted, ownApproval, wrongTarget, plan, approved, cm, early, observed, adjusted updateResult
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.KaizenStep.Triage.Name, "t0", &notSponsor, opsflow.KaizenTriageInput{Actor: kzErin, Decision: "accept", Reason: "yes"})
		until := kzT0.Add(10 * kzDay)
		env.UpdateWorkflow(opsflow.KaizenStep.Triage.Name, "t1", &deferred, opsflow.KaizenTriageInput{Actor: kzBob, Decision: "defer", Reason: "after the line move", Until: &until})
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.KaizenStep.Triage.Name, "t2", &accepted, opsflow.KaizenTriageInput{Actor: kzBob, Decision: "accept", Reason: "top scrap driver"})
	}, 11*kzDay)
	env.RegisterDelayedCallback(func() {
		now := env.Now()
		bad := kzPlan(now, "vents")
		later := now.Add(100 * kzDay)
		bad.Target = &opsflow.Target{Value: f64(6), Date: &later}
		env.UpdateWorkflow(opsflow.KaizenStep.SubmitPlan.Name, "p0", &wrongTarget, opsflow.KaizenPlanInput{Actor: kzAlice, Plan: bad})
		env.UpdateWorkflow(opsflow.KaizenStep.SubmitPlan.Name, "p1", &plan, opsflow.KaizenPlanInput{Actor: kzAlice, Plan: kzPlan(now, "vents")})
	}, 11*kzDay+time.Hour)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.KaizenStep.ApprovePlan.Name, "a0", &ownApproval, opsflow.KaizenReviewInput{Actor: opsflow.Actor{ID: "alice", Roles: []opsflow.Role{opsflow.RoleApprover, opsflow.RoleOwner}}, Decision: "approve"})
		env.UpdateWorkflow(opsflow.KaizenStep.ApprovePlan.Name, "a1", &approved, opsflow.KaizenReviewInput{Actor: kzBob, Decision: "approve"})
	}, 11*kzDay+2*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.KaizenStep.Act.Name, "x0", &early, opsflow.KaizenActInput{Actor: kzAlice, Decision: opsflow.ActDecision{Decision: opsflow.ActAdjust, Reason: "r"}})
		env.UpdateWorkflow(opsflow.UpdateMoveTask, "m1", &cm, opsflow.TaskMove{Actor: kzDave, TaskID: "c1-vents", State: opsflow.TaskDone, Evidence: []string{"checklist-17"}})
	}, 12*kzDay)
	env.RegisterDelayedCallback(func() { // the window ends at day 26
		env.UpdateWorkflow(opsflow.KaizenStep.Observe.Name, "o1", &observed, opsflow.ObservationInput{Actor: kzAlice, Text: "flash down only on cavity 1"})
		env.UpdateWorkflow(opsflow.KaizenStep.Act.Name, "x1", &adjusted, opsflow.KaizenActInput{Actor: kzAlice, Decision: opsflow.ActDecision{Decision: opsflow.ActAdjust, Reason: "cavity 2 needs its own vent"}})
	}, 27*kzDay)
	env.ExecuteWorkflow(Kaizen, kzInput())

	wantOpsError(t, "triage by another approver", notSponsor.err, opsflow.EFORBIDDEN, "")
	wantOpsError(t, "target in the wrong direction", wrongTarget.err, opsflow.EINVALID, "target.value")
	wantOpsError(t, "plan approved by its owner", ownApproval.err, opsflow.EFORBIDDEN, "")
	wantOpsError(t, "act during do", early.err, opsflow.ECONFLICT, "")
	for name, u := range map[string]*updateResult{"defer": &deferred, "accept": &accepted, "plan": &plan, "approve": &approved, "countermeasure": &cm, "observe": &observed, "adjust": &adjusted} {
		if u.err != nil {
			t.Fatalf("%s: %v", name, u.err)
		}
	}
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("first cycle ended with %v, want continue-as-new", err)
	}
	var next KaizenInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	k := lastRecord(t, st)
	if k.Phase != opsflow.KaizenPlan || k.Cycle != 2 || len(k.History) != 1 || k.History[0].Result == nil || k.History[0].Result.Mean != 4.8 {
		t.Fatalf("after adjust: phase %s cycle %d history %+v", k.Phase, k.Cycle, k.History)
	}
	if r := k.History[0].Result; r.GapClosed != 0.1 || !r.Improved || r.TargetMet {
		t.Errorf("cycle 1 result %+v; want 10%% of the gap closed", r)
	}
	if w := fake.windows[0]; !w.From.Equal(kzT0.Add(12*kzDay)) || !w.To.Equal(kzT0.Add(26*kzDay)) {
		t.Errorf("check window %v–%v; want days 12–26", w.From, w.To)
	}
	if next.Resume == nil || next.Resume.Record.Cycle != 2 || next.Resume.Engine.Seq != int64(len(st.events)) {
		t.Fatalf("continue-as-new input %+v", next.Resume)
	}

	// Cycle 2, in the run that continued as new.
	start2 := env.Now()
	env = kzEnv(t, st, fake, start2)
	var plan2, approved2, cm2, observed2, standardised, impact, regression updateResult
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.KaizenStep.SubmitPlan.Name, "p2", &plan2, opsflow.KaizenPlanInput{Actor: kzAlice, Plan: kzPlan(env.Now(), "vent-cavity-2")})
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.KaizenStep.ApprovePlan.Name, "a2", &approved2, opsflow.KaizenReviewInput{Actor: kzBob, Decision: "approve"})
	}, 2*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.UpdateMoveTask, "m2", &cm2, opsflow.TaskMove{Actor: kzDave, TaskID: "c2-vent-cavity-2", State: opsflow.TaskDone})
	}, kzDay)
	env.RegisterDelayedCallback(func() { // window: days 1–15
		env.UpdateWorkflow(opsflow.KaizenStep.Observe.Name, "o2", &observed2, opsflow.ObservationInput{Actor: kzAlice, Text: "flash gone on both cavities"})
		env.UpdateWorkflow(opsflow.KaizenStep.Act.Name, "x2", &standardised, opsflow.KaizenActInput{Actor: kzAlice, Decision: opsflow.ActDecision{Decision: opsflow.ActStandardise,
			Standard: &opsflow.Standard{SOPRef: "SOP-MLD-12", SOPVersion: "4", Training: []string{"moulding shift leads"}, RollOut: []string{"line 5", "line 7"}, TolerancePct: 20}}})
		env.UpdateWorkflow(opsflow.KaizenStep.RecordImpact.Name, "i1", &impact, opsflow.KaizenImpactInput{Actor: kzAlice, Entry: opsflow.ImpactEntry{ID: "scrap-cost", Category: opsflow.ImpactHardSavings,
			Unit: "EUR", Forecast: f64(40000), Actual: f64(36500), Recurrence: opsflow.Recurring}})
	}, 16*kzDay)
	env.RegisterDelayedCallback(func() { // the day-60 follow-up (day 76) regressed
		env.UpdateWorkflow(opsflow.UpdateMoveTask, "r1", &regression, opsflow.TaskMove{Actor: kzAlice, TaskID: "regression-day-60", State: opsflow.TaskDone, Evidence: []string{"vent cleaning restarted"}})
	}, 80*kzDay)
	var byOwner, decided updateResult
	env.RegisterDelayedCallback(func() { // investigated: the sponsor, not the task, decides
		env.UpdateWorkflow(opsflow.KaizenStep.DecideRegression.Name, "d0", &byOwner, opsflow.KaizenRegressionInput{Actor: kzAlice, Decision: "accept", Reason: "fine"})
		env.UpdateWorkflow(opsflow.KaizenStep.DecideRegression.Name, "d1", &decided, opsflow.KaizenRegressionInput{Actor: kzBob, Decision: "accept", Reason: "tolerable after the vent fix"})
	}, 81*kzDay)
	env.ExecuteWorkflow(Kaizen, next)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("second run: %v", err)
	}
	for name, u := range map[string]*updateResult{"plan": &plan2, "approve": &approved2, "countermeasure": &cm2, "observe": &observed2, "standardise": &standardised, "impact": &impact, "regression task": &regression, "regression decision": &decided} {
		if u.err != nil {
			t.Fatalf("cycle 2 %s: %v", name, u.err)
		}
	}
	if e, ok := OpsError(byOwner.err); !ok || e.Code != opsflow.EFORBIDDEN {
		t.Errorf("the owner deciding after the regression: %v; want forbidden (the sponsor decides)", byOwner.err)
	}
	k = lastRecord(t, st)
	if k.Phase != opsflow.KaizenClosed || k.Cycle != 2 || k.ClosedAt == nil || len(k.History) != 1 {
		t.Fatalf("final: phase %s cycle %d closed %v history %d", k.Phase, k.Cycle, k.ClosedAt, len(k.History))
	}
	if k.Result == nil || k.Result.Mean != 3.2 || k.Result.GapClosed != 0.9 {
		t.Errorf("cycle 2 result %+v", k.Result)
	}
	if len(k.FollowUps) != 3 || k.FollowUps[0].Regressed || !k.FollowUps[1].Regressed || k.FollowUps[2].Regressed || k.FollowUps[1].TaskID != "regression-day-60" {
		t.Errorf("follow-ups %+v", k.FollowUps)
	}
	sa := *k.StandardisedAt
	for i, w := range fake.windows[2:] {
		from := sa.Add(time.Duration([]int{0, 30, 60}[i]) * kzDay)
		if !w.From.Equal(from) || !w.To.Equal(sa.Add(time.Duration(opsflow.FollowUpDays[i])*kzDay)) {
			t.Errorf("follow-up %d window %v–%v", i, w.From, w.To)
		}
	}
	if len(k.Impact) != 1 || k.Impact[0].LockedAt == nil {
		t.Errorf("impact %+v; want the actual locked at close", k.Impact)
	}
	got := st.actions()
	for _, want := range []string{"kaizen.submitted", "kaizen.deferred", "kaizen.accepted", "kaizen.plan_submitted", "kaizen.plan_approved",
		"kaizen.check_started", "kaizen.result_recorded", "kaizen.observation_recorded", "kaizen.adjusted", "kaizen.standardised",
		"kaizen.follow_up_recorded", "kaizen.regression", "kaizen.regression_decided", "kaizen.impact_recorded", "kaizen.impact_locked", "kaizen.closed"} {
		if !slices.Contains(got, want) {
			t.Errorf("audit trail lacks %s: %v", want, got)
		}
	}
	if got[len(got)-1] != "kaizen.closed" {
		t.Errorf("last event %s, want kaizen.closed", got[len(got)-1])
	}
}

func TestKaizenRejectedAndCancelled(t *testing.T) {
	for _, c := range []struct {
		name   string
		update string
		arg    any
		phase  opsflow.KaizenPhase
	}{
		{"rejected", opsflow.KaizenStep.Triage.Name, opsflow.KaizenTriageInput{Actor: kzBob, Decision: "reject", Reason: "covered by the line 4 rebuild"}, opsflow.KaizenRejected},
		{"cancelled", opsflow.KaizenStep.Cancel.Name, opsflow.KaizenCancelInput{Actor: kzAlice, Reason: "line closed"}, opsflow.KaizenCancelled},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := &store{t: t}
			env := kzEnv(t, st, &kpiFake{}, kzT0)
			var res, noReason updateResult
			env.RegisterDelayedCallback(func() {
				env.UpdateWorkflow(opsflow.KaizenStep.Cancel.Name, "c0", &noReason, opsflow.KaizenCancelInput{Actor: kzAlice})
				env.UpdateWorkflow(c.update, "u1", &res, c.arg)
			}, time.Hour)
			env.ExecuteWorkflow(Kaizen, kzInput())
			if err := env.GetWorkflowError(); err != nil || res.err != nil {
				t.Fatalf("workflow %v, update %v", err, res.err)
			}
			wantOpsError(t, "cancel without reason", noReason.err, opsflow.EINVALID, "reason")
			k := lastRecord(t, st)
			if k.Phase != c.phase || k.ClosedAt == nil {
				t.Fatalf("phase %s closed %v", k.Phase, k.ClosedAt)
			}
			for _, tk := range k.Tasks {
				if tk.State.Active() {
					t.Errorf("task %s still %s", tk.ID, tk.State)
				}
			}
		})
	}
}
