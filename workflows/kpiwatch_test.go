package workflows

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/kpichart"
)

// watchFake stands in for the watch's activities: an in-memory KPI whose
// evaluation is the real one (kpichart on the measurements no evaluation
// has claimed), and processes that are only counted.
type watchFake struct {
	mu       sync.Mutex
	def      opsflow.KPIDefinition
	ms       []opsflow.Measurement
	claimed  map[string]int64
	opened   []SignalRequest
	noted    []SignalRequest
	recorded []SignalRequest
	closed   map[string]bool
	missing  []time.Time
}

func (f *watchFake) add(values ...float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range values {
		i := len(f.ms)
		f.ms = append(f.ms, opsflow.Measurement{ID: fmt.Sprintf("m%02d", i), KPI: f.def.Key, Value: v, At: watchT0.AddDate(0, i, 0)})
	}
}

func (f *watchFake) EvaluateKPI(_ context.Context, r EvaluateRequest) (KPIEvaluation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	isNew := map[string]bool{}
	for _, m := range f.ms {
		if _, ok := f.claimed[m.ID]; !ok {
			f.claimed[m.ID] = r.Evaluation
		}
		if f.claimed[m.ID] == r.Evaluation {
			isNew[m.ID] = true
		}
	}
	c, err := kpichart.Build(f.def, f.ms)
	if err != nil {
		return KPIEvaluation{}, err
	}
	out := KPIEvaluation{KPI: f.def, New: len(isNew), Breaches: kpichart.Breaches(f.def, c, func(id string) bool { return isNew[id] })}
	for i, o := range f.opened {
		if id := fmt.Sprintf("kzn-%d", i+1); !f.closed[id] {
			out.Open = append(out.Open, opsflow.KPILink{ProcessID: id, Kind: opsflow.KindKaizen, Rule: o.Breach.Rule, PointID: o.Breach.PointID})
		}
	}
	if f.def.Spec.Missing.Enabled && len(f.ms) > 0 {
		dl := f.def.Spec.Missing.Deadline(f.def.Spec.Frequency, f.ms[len(f.ms)-1].At)
		out.Deadline = &dl
	}
	return out, nil
}

func (f *watchFake) OpenKPIProcess(_ context.Context, r SignalRequest) (SignalOutcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened = append(f.opened, r)
	return SignalOutcome{Action: SignalOpened, ProcessID: fmt.Sprintf("kzn-%d", len(f.opened)), Kind: opsflow.KindKaizen}, nil
}

func (f *watchFake) NoteKPISignal(_ context.Context, r SignalRequest) (SignalOutcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed[r.Link.ProcessID] {
		return SignalOutcome{Action: SignalClosed, ProcessID: r.Link.ProcessID}, nil
	}
	f.noted = append(f.noted, r)
	return SignalOutcome{Action: SignalNoted, ProcessID: r.Link.ProcessID, Kind: r.Link.Kind}, nil
}

func (f *watchFake) RecordKPISignal(_ context.Context, r SignalRequest) (SignalOutcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recorded = append(f.recorded, r)
	return SignalOutcome{Action: SignalRecorded}, nil
}

func (f *watchFake) RaiseMissingMeasurement(_ context.Context, r MissingRequest) (MissingOutcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.missing = append(f.missing, r.Deadline)
	return MissingOutcome{Raised: true, TaskID: "missing"}, nil
}

var watchT0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// stableScrap alternates around 4 %: locked limits about 3.2–4.8.
var stableScrap = []float64{4.1, 3.8, 4.4, 4.0, 3.9, 4.2, 4.3, 3.7, 4.0, 4.1, 3.9, 4.2, 4.0, 3.8, 4.1, 4.3, 3.9, 4.0, 4.2, 3.8}

func newWatchEnv(t *testing.T, f *watchFake) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(KPIWatch, workflow.RegisterOptions{Name: WorkflowKPIWatch})
	for name, fn := range map[string]any{ActivityEvaluateKPI: f.EvaluateKPI, ActivityOpenKPIProcess: f.OpenKPIProcess,
		ActivityNoteKPISignal: f.NoteKPISignal, ActivityRecordKPISignal: f.RecordKPISignal, ActivityRaiseMissingMeasurement: f.RaiseMissingMeasurement} {
		env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
	return env
}

func scrapKPI(policy opsflow.ResponsePolicy) opsflow.KPIDefinition {
	s := opsflow.DefaultKPISpec()
	s.Baseline = opsflow.ChartBaseline{Locked: true, N: 20}
	s.Policy = policy
	s.Missing = opsflow.MissingRule{Enabled: true, GraceDays: 5}
	return opsflow.KPIDefinition{KPI: opsflow.KPI{Key: "scrap", Name: "Scrap rate", Unit: "%", Direction: opsflow.LowerIsBetter, OwnerID: "alice"},
		Spec: s.Normalise()}
}

// TestKPIWatchStepChangeOpensOneKaizen: twenty stable months, then the
// process steps up. The first point beyond the limits opens a Kaizen; the
// next two, while it is open, are added to it; a value back inside the
// limits opens nothing; two months and five days after the last value's
// date (the next month's value, measured once that month has ended, plus
// grace) a missing-measurement task is raised. Then the Kaizen closes, and the next
// breach opens a new one.
func TestKPIWatchStepChangeOpensOneKaizen(t *testing.T) {
	f := &watchFake{def: scrapKPI(opsflow.ResponsePolicy{Action: opsflow.RespondKaizen, Sponsor: "bob"}),
		claimed: map[string]int64{}, closed: map[string]bool{}}
	env := newWatchEnv(t, f)
	// Workflow time starts a day after the 20th month's value (the later
	// ones arrive within hours: the fake does not mind their dates).
	env.SetStartTime(watchT0.AddDate(0, 19, 1))
	signal := func() { env.SignalWorkflow(SignalKPIChanged, KPIChange{Reason: "measurements"}) }
	env.RegisterDelayedCallback(func() { f.add(stableScrap...); signal() }, time.Hour)
	env.RegisterDelayedCallback(func() { f.add(6.9); signal() }, 2*time.Hour) // the step
	env.RegisterDelayedCallback(func() { f.add(7.1, 7.0); signal() }, 3*time.Hour)
	env.RegisterDelayedCallback(func() { f.add(4.0); signal() }, 4*time.Hour) // in-limit noise
	env.RegisterDelayedCallback(func() {
		if len(f.opened) != 1 || len(f.noted) != 2 || len(f.recorded) != 0 {
			t.Errorf("after the step: %d opened, %d noted, %d recorded; want 1, 2, 0", len(f.opened), len(f.noted), len(f.recorded))
		}
		if len(f.missing) != 0 {
			t.Errorf("missing raised before its deadline: %v", f.missing)
		}
	}, 5*time.Hour)
	env.RegisterDelayedCallback(func() {
		if want := watchT0.AddDate(0, 25, 5); len(f.missing) != 1 || !f.missing[0].Equal(want) {
			t.Errorf("missing %v, want one at %s", f.missing, want)
		}
		f.closed["kzn-1"] = true
		f.add(7.2)
		signal()
	}, 190*24*time.Hour)
	env.RegisterDelayedCallback(env.CancelWorkflow, 191*24*time.Hour)
	env.ExecuteWorkflow(KPIWatch, KPIWatchInput{KPI: "scrap", Day: 24 * time.Hour})
	if !env.IsWorkflowCompleted() {
		t.Fatal("the watch did not end on cancel")
	}
	if err := env.GetWorkflowError(); err != nil && !temporal.IsCanceledError(err) {
		t.Fatalf("watch ended with %v", err)
	}
	if len(f.opened) != 2 {
		t.Fatalf("opened %d, want 2 (one for the step, one after it closed)", len(f.opened))
	}
	first := f.opened[0]
	if first.Breach.PointID != "m20" || first.Breach.Rule != opsflow.RuleBeyondLimits || first.KPI.Spec.Policy.Sponsor != "bob" || first.Day != 24*time.Hour {
		t.Errorf("first opened for %+v", first)
	}
	if f.noted[0].Link.ProcessID != "kzn-1" || f.noted[0].Breach.PointID != "m21" || f.noted[1].Breach.PointID != "m22" {
		t.Errorf("notes %+v, %+v", f.noted[0].Breach, f.noted[1].Breach)
	}
	if f.opened[1].Breach.PointID != "m24" {
		t.Errorf("second opened for %s", f.opened[1].Breach.PointID)
	}
}

// TestKPIWatchPolicyNoneRecordsOnly: a KPI whose policy opens nothing has
// its breaches recorded, once each, and nothing opened.
func TestKPIWatchPolicyNoneRecordsOnly(t *testing.T) {
	f := &watchFake{def: scrapKPI(opsflow.ResponsePolicy{Action: opsflow.RespondNone}), claimed: map[string]int64{}, closed: map[string]bool{}}
	f.def.Spec.Missing.Enabled = false
	env := newWatchEnv(t, f)
	env.SetStartTime(watchT0.AddDate(0, 23, 1))
	env.RegisterDelayedCallback(func() {
		f.add(append(append([]float64{}, stableScrap...), 6.9, 7.0)...)
		env.SignalWorkflow(SignalKPIChanged, KPIChange{Reason: "measurements"})
		env.SignalWorkflow(SignalKPIChanged, KPIChange{Reason: "measurements"}) // two signals, one evaluation's worth
	}, time.Hour)
	env.RegisterDelayedCallback(env.CancelWorkflow, 2*time.Hour)
	env.ExecuteWorkflow(KPIWatch, KPIWatchInput{KPI: "scrap"})
	if len(f.opened) != 0 || len(f.noted) != 0 || len(f.recorded) != 2 {
		t.Errorf("%d opened, %d noted, %d recorded; want 0, 0, 2", len(f.opened), len(f.noted), len(f.recorded))
	}
}

// TestKaizenOpenedByASignalTakesLaterSignalsOnce: a Kaizen opened by a KPI
// signal carries it on its record; the kpi-signal update adds a later
// signal once (a repeat changes nothing). (A finished initiative's
// workflow has ended: Temporal answers a note NotFound, and the watch
// opens a new one — the server test covers that.)
func TestKaizenOpenedByASignalTakesLaterSignalsOnce(t *testing.T) {
	st := &store{t: t}
	env := kzEnv(t, st, &kpiFake{}, kzT0)
	in := kzInput()
	in.Request.Target = nil
	b := opsflow.KPIBreach{Rule: opsflow.RuleBeyondLimits, PointID: "m20", At: kzT0.Add(-time.Hour), Value: 6.9, Threshold: 4.8, CL: 4}
	def := opsflow.KPIDefinition{KPI: in.KPI, Spec: opsflow.DefaultKPISpec()}
	in.Signal = opsflow.LinkOf(def, b)
	note := opsflow.NoteOf("scrap", opsflow.KPIBreach{Rule: opsflow.RuleBeyondLimits, PointID: "m21", At: kzT0, Value: 7.1, Threshold: 4.8})
	var first, again, bad, cancelled updateResult
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateKPISignal, "n1", &first, note)
		env.UpdateWorkflow(UpdateKPISignal, "n2", &again, note)
		env.UpdateWorkflow(UpdateKPISignal, "n3", &bad, opsflow.KPISignalNote{KPI: "scrap"})
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.KaizenStep.Cancel.Name, "c1", &cancelled, opsflow.KaizenCancelInput{Actor: kzAlice, Reason: "duplicate"})
	}, 2*time.Hour)
	env.ExecuteWorkflow(Kaizen, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if first.err != nil || again.err != nil || cancelled.err != nil {
		t.Fatalf("first %v, again %v, cancel %v", first.err, again.err, cancelled.err)
	}
	wantOpsError(t, "a note without a point", bad.err, opsflow.EINVALID, "point_id")
	k := lastRecord(t, st)
	if k.KPISignal == nil || k.KPISignal.PointID != "m20" || k.KPISignal.Chart != "/v1/kpis/scrap/chart.png" {
		t.Errorf("kpi_signal %+v", k.KPISignal)
	}
	if len(k.KPISignals) != 1 || k.KPISignals[0].PointID != "m21" {
		t.Errorf("kpi_signals %+v", k.KPISignals)
	}
	n := 0
	for _, a := range st.actions() {
		if a == "kaizen.kpi_signal_added" {
			n++
		}
	}
	if n != 1 || st.actions()[1] != "kaizen.kpi_signal" {
		t.Errorf("audit %v", st.actions())
	}
}

// TestKaizenResultCitesTheChart: the check's result carries what the
// KPI's chart shows over the window against the process before the plan
// was approved, and its audit reason says so.
func TestKaizenResultCitesTheChart(t *testing.T) {
	st := &store{t: t}
	fake := &kpiFake{means: []float64{3.6}, shift: &opsflow.ShiftVerdict{KPI: "scrap", Verdict: "shifted_favourably", Rule: opsflow.RuleEightOnOneSide,
		Sentence: "sustained shift the good way: 8 values in a row on the good side of the old centre line 5"}}
	env := kzEnv(t, st, fake, kzT0)
	var accepted, plan, approved, cm updateResult
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.KaizenStep.Triage.Name, "t", &accepted, opsflow.KaizenTriageInput{Actor: kzBob, Decision: "accept", Reason: "yes"})
		env.UpdateWorkflow(opsflow.KaizenStep.SubmitPlan.Name, "p", &plan, opsflow.KaizenPlanInput{Actor: kzAlice, Plan: kzPlan(env.Now(), "vents")})
		env.UpdateWorkflow(opsflow.KaizenStep.ApprovePlan.Name, "a", &approved, opsflow.KaizenReviewInput{Actor: kzBob, Decision: "approve"})
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.UpdateMoveTask, "m", &cm, opsflow.TaskMove{Actor: kzDave, TaskID: "c1-vents", State: opsflow.TaskDone})
	}, 2*kzDay)
	env.RegisterDelayedCallback(func() {
		in := opsflow.KaizenCancelInput{Actor: kzAlice, Reason: "test over"}
		env.UpdateWorkflow(opsflow.KaizenStep.Cancel.Name, "c", &updateResult{}, in)
	}, 20*kzDay)
	env.ExecuteWorkflow(Kaizen, kzInput())
	for name, u := range map[string]*updateResult{"accept": &accepted, "plan": &plan, "approve": &approved, "countermeasure": &cm} {
		if u.err != nil {
			t.Fatalf("%s: %v", name, u.err)
		}
	}
	if len(fake.windows) != 1 || fake.windows[0].Before == nil || !fake.windows[0].Before.Equal(kzT0.Add(time.Hour)) {
		t.Fatalf("windows %+v: want the check asked against the process before the plan's approval", fake.windows)
	}
	k := lastRecord(t, st) // cancelled, with the check's result kept
	if k.Result == nil || !k.Result.Chart.Sustained() {
		t.Fatalf("result %+v", k.Result)
	}
	found := false
	for _, e := range st.events {
		found = found || (e.Action == "kaizen.result_recorded" && strings.Contains(e.Reason, "chart: sustained shift the good way"))
	}
	if !found {
		t.Error("the result's audit reason does not cite the chart")
	}
}
