package workflows

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/opsflow/opsflow"
)

// ActivityMeasureKPI reads a KPI's measurements over a window.
const ActivityMeasureKPI = "MeasureKPI"

// Task kinds on a Kaizen board. Decision tasks sit in someone's inbox until
// they take the matching action; they cannot be moved by hand.
const (
	kaizenTaskTriage         = opsflow.KaizenTaskTriage
	kaizenTaskPlan           = opsflow.KaizenTaskPlan
	kaizenTaskApproval       = opsflow.KaizenTaskApproval
	kaizenTaskCountermeasure = opsflow.KaizenTaskCountermeasure
	kaizenTaskRegression     = opsflow.KaizenTaskRegression
	// kaizenTaskRegressionDecision waits for the sponsor's decision after
	// a regression was investigated.
	kaizenTaskRegressionDecision = opsflow.KaizenTaskRegressionDecision
)

// Workflow changes behind workflow.GetVersion (their IDs are in every
// history that took the new path: never reuse or rename one).
const (
	// changePlanReturnTask: a returned plan opens a task for its owner.
	changePlanReturnTask = "kaizen-plan-return-task"
	// changeRegressionDecision: after a regression, the sponsor decides.
	changeRegressionDecision = "kaizen-regression-decision"
)

// Days given to decision tasks before they are due, and to a regression
// task.
const (
	kaizenDecisionDays   = 5
	kaizenPlanDays       = 10
	kaizenRegressionDays = 7
)

// KaizenInput starts (or, with Resume, continues) a Kaizen workflow.
type KaizenInput struct {
	// Request is validated by the server, its baseline resolved to a value
	// and Owner set; the workflow checks it again.
	Request opsflow.KaizenRequest `json:"request"`
	KPI     opsflow.KPI           `json:"kpi"`
	Actor   opsflow.Actor         `json:"actor"` // who submitted it
	// Day is the length of a "day" in windows, follow-ups and due dates.
	Day time.Duration `json:"day"`
	// Resume carries the whole state into a new run: a new PDCA cycle, or a
	// history Temporal found too long.
	Resume *Resume[opsflow.Kaizen] `json:"resume,omitempty"`
	// Signal is the KPI signal that opened the initiative, when a KPI's
	// watch opened it.
	Signal *opsflow.KPISignalLink `json:"signal,omitempty"`
}

// MeasureWindow is the input of the MeasureKPI activity (its JSON matches
// activities.MeasureRequest). Before, when set, is the end of the process
// before the change: the activity then also judges the window on the
// KPI's control chart against it (opsflow.KPIStats.Shift).
type MeasureWindow struct {
	KPI    string     `json:"kpi"`
	From   time.Time  `json:"from"`
	To     time.Time  `json:"to"`
	Before *time.Time `json:"before,omitempty"`
}

// measureOptions: reading measurements is harmless to repeat, and a result
// must not be lost to a database outage, so it retries until it succeeds.
var measureOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
	},
}

// kaizen is one initiative's workflow state.
type kaizen struct {
	e     *engine
	ctx   workflow.Context // the root context, for workflow time in validators
	K     opsflow.Kaizen
	Board opsflow.Board
	day   time.Duration
	// newCycle is set by an adjust decision: this run finishes its handlers
	// and continues as new with the next cycle.
	newCycle bool
	// measuring is set while a KPI read runs beside the main loop, so the
	// deadline that started it is not fired again.
	measuring bool
}

// Kaizen is the workflow of one Kaizen (PDCA) initiative: triage by the
// sponsor, an A3 plan the sponsor approves, countermeasures as tasks, a
// measured check window, standardise (then 30/60/90-day follow-ups) or
// adjust (a new cycle, continued as new), closed with impact locked.
func Kaizen(ctx workflow.Context, in KaizenInput) error {
	p := &kaizen{ctx: ctx, day: in.Day}
	if p.day <= 0 {
		p.day = 24 * time.Hour
	}
	if in.Resume != nil {
		p.e, p.K, p.Board = newEngine(ctx, in.Resume.Engine), in.Resume.Record, in.Resume.Board
	} else {
		p.e = newEngine(ctx, EngineState{ID: workflow.GetInfo(ctx).WorkflowExecution.ID, Kind: opsflow.KindKaizen})
		p.Board.Policy = opsflow.TaskPolicy{
			RemindBefore: opsflow.Duration(p.day),
			Escalation:   []opsflow.EscalationTier{{After: 0, Notify: "owner"}, {After: opsflow.Duration(2 * p.day), Notify: "sponsor"}},
		}
		r := in.Request
		p.K = opsflow.Kaizen{
			ID: p.e.ID, Phase: opsflow.KaizenSubmitted, Cycle: 1, Title: r.Title, ProblemStatement: r.ProblemStatement,
			BusinessCase: r.BusinessCase, Scope: r.Scope, KPI: in.KPI.Ref(), Sponsor: r.Sponsor, Owner: r.Owner,
			Team: r.Team, SubmittedBy: in.Actor.ID, OpenedAt: p.e.now(ctx).UTC(), Baseline: r.Baseline, Target: r.Target,
			Impact: []opsflow.ImpactEntry{}, History: []opsflow.KaizenCycle{},
		}
	}
	if in.Resume == nil {
		// The server validated the request; this guards against a start that
		// bypassed it, before anything is recorded.
		if err := in.Request.Validate(in.KPI, in.Request.Owner, p.e.now(ctx)); err != nil {
			return AppError(err)
		}
		// Recorded before the handlers exist: the open update of
		// Update-with-Start can run as soon as it is registered, and it
		// must find these changes pending so that it waits for their
		// projection instead of answering with an unwritten record.
		p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleRequester, Action: "kaizen.submitted", Field: "phase",
			New: string(opsflow.KaizenSubmitted), Reason: p.K.ProblemStatement})
		if s := in.Signal; s != nil {
			p.K.KPISignal = s
			p.e.record(ctx, change{Actor: in.Actor, Action: "kaizen.kpi_signal", Field: "kpi_signal", New: s,
				Reason: fmt.Sprintf("opened by kpi %s: %s at %s (chart %s)", s.KPI.Key, s.Rule, s.At.Format("2006-01-02"), s.Chart)})
		}
		p.toTriage(ctx, "awaiting the sponsor's triage")
	}
	if err := p.e.register(ctx, p); err != nil {
		return err
	}
	if err := registerKPISignal(ctx, p.e, p, signalNotes{final: func() bool { return p.K.Phase.Final() }, state: func() string { return string(p.K.Phase) },
		notes: &p.K.KPISignals, action: "kaizen.kpi_signal_added"}); err != nil {
		return err
	}
	next := func() error { return workflow.NewContinueAsNewError(ctx, WorkflowKaizen, p.resume(in)) }
	if err := p.e.run(ctx, p, next); err != nil {
		return err
	}
	if p.newCycle {
		return next()
	}
	return nil
}

// resume is the input of the next run: everything, nothing re-derived.
func (p *kaizen) resume(in KaizenInput) KaizenInput {
	return KaizenInput{KPI: in.KPI, Day: p.day, Resume: &Resume[opsflow.Kaizen]{Engine: p.e.EngineState, Record: p.K, Board: p.Board}}
}

func (p *kaizen) row() (opsflow.Process, []opsflow.Task) {
	rec := p.K
	rec.Tasks = nil           // they travel beside the record, once
	b, _ := json.Marshal(rec) // plain data: cannot fail
	row := opsflow.Process{
		State: string(p.K.Phase), Title: p.K.Title, OwnerID: p.K.Owner, OpenedAt: p.K.OpenedAt,
		ClosedAt: p.K.ClosedAt, Record: b,
		Search: map[string]string{"sponsor": p.K.Sponsor, "kpi": p.K.KPI.Key, "cycle": strconv.Itoa(p.K.Cycle)},
	}
	if p.K.Target != nil {
		row.DueAt = p.K.Target.Date
	}
	return row, p.Board.Tasks
}

// sign records a signature of the initiative as it stands now (see
// signRecord); a step given none records none.
func (p *kaizen) sign(ctx workflow.Context, actor opsflow.Actor, role opsflow.Role, step string, es *opsflow.ESign) error {
	if es == nil {
		return nil
	}
	signed := p.K
	signed.Tasks, signed.SignedVersions = slices.Clone(p.Board.Tasks), nil
	sig, ver, err := signRecord(ctx, p.e, actor, role, opsflow.ActionKaizenSigned, step, p.K.ID, *es, signed)
	if err != nil {
		return err
	}
	p.K.Signatures = append(p.K.Signatures, sig)
	p.K.SignedVersions = append(p.K.SignedVersions, ver)
	return nil
}

func (p *kaizen) done() bool { return p.K.Phase.Final() || p.newCycle }

// halt cancels the initiative because its workflow was cancelled from
// outside opsflow.
func (p *kaizen) halt(ctx workflow.Context, reason string) {
	if p.K.Phase.Final() {
		return
	}
	_ = p.applyCancel(ctx, opsflow.KaizenCancelInput{Actor: opsflow.SystemActor, Reason: reason})
}

func (p *kaizen) deadline() (time.Time, bool) {
	at, ok := p.Board.Deadline()
	consider := func(t time.Time) {
		if !ok || t.Before(at) {
			at, ok = t, true
		}
	}
	switch p.K.Phase {
	case opsflow.KaizenDeferred:
		if p.K.Triage != nil && p.K.Triage.Until != nil {
			consider(*p.K.Triage.Until)
		}
	case opsflow.KaizenCheck:
		if p.K.Result == nil && p.K.CheckTo != nil && !p.measuring {
			consider(*p.K.CheckTo)
		}
	case opsflow.KaizenSustain:
		for _, f := range p.K.FollowUps {
			if f.Result == nil && !p.measuring {
				consider(f.DueAt)
				break
			}
		}
	}
	return at, ok
}

// resolve names who an escalation tier notifies.
func (p *kaizen) resolve(rel string, _ opsflow.Task) string {
	switch rel {
	case "owner":
		return p.K.Owner
	case "sponsor", "approver":
		return p.K.Sponsor
	}
	return ""
}

func (p *kaizen) fire(ctx workflow.Context, now time.Time) error {
	tick(ctx, p.e, &p.Board, now, p.resolve)
	switch p.K.Phase {
	case opsflow.KaizenDeferred:
		if u := p.K.Triage.Until; u != nil && !now.Before(*u) {
			p.toTriage(ctx, "deferral ended: back for the sponsor's triage")
		}
	case opsflow.KaizenCheck:
		if p.K.Result == nil && p.K.CheckTo != nil && !now.Before(*p.K.CheckTo) {
			return p.measureBeside(ctx, p.takeResult)
		}
	case opsflow.KaizenSustain:
		var due []int
		for i := range p.K.FollowUps {
			if f := p.K.FollowUps[i]; f.Result == nil && !now.Before(f.DueAt) {
				due = append(due, i)
			}
		}
		if len(due) > 0 {
			return p.measureBeside(ctx, func(ctx workflow.Context) error {
				for _, i := range due {
					if err := p.followUp(ctx, i); err != nil {
						return err
					}
				}
				p.maybeClose(ctx)
				return nil
			})
		}
		p.maybeClose(ctx)
	}
	return nil
}

// measureBeside reads the KPI beside the main loop (engine v2), so the
// owner's observations and impact entries never wait behind a database
// read; engine v1 read it inline and failed the run if the read failed.
func (p *kaizen) measureBeside(ctx workflow.Context, measure func(workflow.Context) error) error {
	if !p.e.v2 {
		return measure(ctx)
	}
	p.measuring = true
	p.e.beside(ctx, func(ctx workflow.Context) {
		defer func() { p.measuring = false }()
		if err := measure(ctx); err != nil {
			workflow.GetLogger(ctx).Warn("KPI read did not finish", "kaizen", p.K.ID, "error", err)
		}
	})
	return nil
}

func (p *kaizen) measure(ctx workflow.Context, from, to time.Time) (opsflow.KPIStats, error) {
	var s opsflow.KPIStats
	actx := workflow.WithActivityOptions(ctx, measureOptions)
	// Same activity, same command: asking it for the chart's verdict too
	// changes its input, not the workflow's command sequence.
	before := p.beforeChange()
	err := workflow.ExecuteActivity(actx, ActivityMeasureKPI, MeasureWindow{KPI: p.K.KPI.Key, From: from, To: to, Before: before}).Get(ctx, &s)
	if err != nil {
		return s, fmt.Errorf("measure %s: %w", p.K.KPI.Key, err)
	}
	if p.e.v2 {
		p.e.at(ctx, s.MeasuredAt)
	}
	return s, nil
}

// beforeChange is when the process the initiative changes was last as it
// was: the end of a measured baseline window, else the plan's approval
// (countermeasures start then), else the check's start.
func (p *kaizen) beforeChange() *time.Time {
	switch {
	case p.K.Baseline != nil && p.K.Baseline.To != nil:
		t := p.K.Baseline.To.UTC()
		return &t
	case p.K.PlanApproval != nil:
		t := p.K.PlanApproval.At.UTC()
		return &t
	}
	return p.K.CheckFrom
}

// chartReason adds what the chart shows to a result's audit reason.
func chartReason(reason string, r opsflow.KaizenResult) string {
	if r.Chart == nil {
		return reason
	}
	return reason + "; chart: " + r.Chart.Sentence
}

// takeResult measures the check window and moves to act.
func (p *kaizen) takeResult(ctx workflow.Context) error {
	s, err := p.measure(ctx, *p.K.CheckFrom, *p.K.CheckTo)
	if err != nil {
		return err
	}
	if p.K.Phase != opsflow.KaizenCheck { // cancelled while measuring
		return nil
	}
	r := opsflow.ComputeResult(p.K.KPI.Direction, *p.K.Baseline.Value, *p.K.Target.Value, s)
	r.Chart = s.Shift
	p.K.Result = &r
	reason := fmt.Sprintf("mean %v over %d measurements; %v%% of the gap to target closed", r.Mean, r.Count, opsflow.Round4(r.GapClosed*100))
	if r.NoData {
		reason = "no measurements in the check window"
	}
	p.e.record(ctx, change{Actor: opsflow.SystemActor, Action: "kaizen.result_recorded", Field: "result", New: r, Reason: chartReason(reason, r)})
	p.setPhase(ctx, opsflow.SystemActor, "", "kaizen.phase_changed", opsflow.KaizenAct, "check window ended")
	ev := p.e.record(ctx, change{Actor: opsflow.SystemActor, Action: "kaizen.act_due", Field: "act", Reason: "standardise or adjust"})
	p.e.notifyFor(ev, opsflow.NotifyApproval, p.K.Owner, "", "Kaizen "+p.K.Title+": check result ready, decide how to act")
	return nil
}

// followUp measures sustain check-in i over the period since the previous
// one and raises a task to the owner on a regression beyond tolerance.
func (p *kaizen) followUp(ctx workflow.Context, i int) error {
	from := *p.K.StandardisedAt
	if i > 0 {
		from = p.K.FollowUps[i-1].DueAt
	}
	f := p.K.FollowUps[i]
	s, err := p.measure(ctx, from, f.DueAt)
	if err != nil {
		return err
	}
	if p.K.Phase != opsflow.KaizenSustain {
		return nil
	}
	r := opsflow.ComputeResult(p.K.KPI.Direction, *p.K.Baseline.Value, *p.K.Target.Value, s)
	r.Chart = s.Shift
	f.Result = &r
	field := fmt.Sprintf("follow_ups.day_%d", f.Day)
	reason := fmt.Sprintf("mean %v over %d measurements", r.Mean, r.Count)
	if r.NoData {
		reason = "no measurements in the follow-up period"
	}
	p.e.record(ctx, change{Actor: opsflow.SystemActor, Action: "kaizen.follow_up_recorded", Field: field, New: r, Reason: chartReason(reason, r)})
	if achieved := p.K.Result; !r.NoData && achieved != nil && !achieved.NoData {
		tol := p.K.Standard.TolerancePct
		if regressed, lost := opsflow.Regression(p.K.KPI.Direction, *p.K.Baseline.Value, achieved.Mean, r.Mean, tol); regressed {
			f.Regressed, f.LostShare = true, lost
			f.TaskID = fmt.Sprintf("regression-day-%d", f.Day)
			due := f.DueAt.Add(kaizenRegressionDays * p.day)
			_ = p.Board.Add(opsflow.Task{ID: f.TaskID, Kind: kaizenTaskRegression, Title: fmt.Sprintf("Investigate the regression at day %d of %s", f.Day, p.K.Title),
				OwnerType: "owner", Assignee: p.K.Owner, State: opsflow.TaskOpen, DueAt: &due, Weight: 1})
			ev := p.e.record(ctx, change{Actor: opsflow.SystemActor, Action: "kaizen.regression", Field: field + ".regressed", Old: achieved.Mean, New: r.Mean,
				Reason: fmt.Sprintf("lost %v%% of the gain, beyond the %v%% tolerance; task %s raised", opsflow.Round4(lost*100), tol, f.TaskID)})
			p.e.notifyFor(ev, opsflow.NotifyAssigned, p.K.Owner, f.TaskID, "Kaizen "+p.K.Title+": KPI regressed")
		}
	}
	p.K.FollowUps[i] = f
	return nil
}

// maybeClose closes a sustained initiative once every follow-up is taken
// and no regression task is open, locking the impact actuals.
func (p *kaizen) maybeClose(ctx workflow.Context) {
	if p.K.Phase != opsflow.KaizenSustain || p.Board.Active() {
		return
	}
	for _, f := range p.K.FollowUps {
		if f.Result == nil {
			return
		}
	}
	now := p.e.now(ctx).UTC()
	for i := range p.K.Impact {
		en := &p.K.Impact[i]
		en.LockedAt = &now
		p.e.record(ctx, change{Actor: opsflow.SystemActor, Action: "kaizen.impact_locked", Field: "impact." + en.ID + ".actual", New: en.Actual, Reason: "initiative closed"})
	}
	p.K.ClosedAt = &now
	p.setPhase(ctx, opsflow.SystemActor, "", "kaizen.closed", opsflow.KaizenClosed, "all follow-ups taken")
}

func (p *kaizen) setPhase(ctx workflow.Context, a opsflow.Actor, role opsflow.Role, action string, to opsflow.KaizenPhase, reason string) {
	ev := p.e.record(ctx, change{Actor: a, Role: role, Action: action, Field: "phase", Old: string(p.K.Phase), New: string(to), Reason: reason})
	p.K.Phase = to
	if to.Final() {
		for _, who := range []string{p.K.Owner, p.K.Sponsor} {
			p.e.notifyWith(ev, opsflow.Notification{Kind: opsflow.NotifyClosed, To: who, Subject: "Kaizen " + p.K.Title + " is " + string(to), Reason: reason})
		}
	}
}

// toTriage puts the initiative before its sponsor, with a task.
func (p *kaizen) toTriage(ctx workflow.Context, reason string) {
	p.setPhase(ctx, opsflow.SystemActor, "", "kaizen.phase_changed", opsflow.KaizenTriage, reason)
	p.openTask(ctx, kaizenTaskTriage, "Triage: "+p.K.Title, p.K.Sponsor, "sponsor", kaizenDecisionDays)
}

// openTask adds a decision task numbered after those of its kind.
func (p *kaizen) openTask(ctx workflow.Context, kind, title, assignee, ownerType string, days int) {
	n := 1
	for _, t := range p.Board.Tasks {
		if t.Kind == kind {
			n++
		}
	}
	id := fmt.Sprintf("%s-%d", kind, n)
	due := p.e.now(ctx).UTC().Add(time.Duration(days) * p.day)
	_ = p.Board.Add(opsflow.Task{ID: id, Kind: kind, Title: title, OwnerType: ownerType, Assignee: assignee, State: opsflow.TaskOpen, DueAt: &due, Weight: 1})
	ev := p.e.record(ctx, change{Actor: opsflow.SystemActor, Action: "task.opened", Field: "tasks." + id, New: title})
	kindOf := opsflow.NotifyAssigned
	if kind == kaizenTaskTriage || kind == kaizenTaskApproval || kind == kaizenTaskRegressionDecision {
		kindOf = opsflow.NotifyApproval
	}
	p.e.notifyFor(ev, kindOf, assignee, id, title)
}

// closeTasks marks the open decision tasks of kind done by a, whose action
// they waited for.
func (p *kaizen) closeTasks(ctx workflow.Context, kind string, a opsflow.Actor) {
	for i := range p.Board.Tasks {
		t := &p.Board.Tasks[i]
		if t.Kind == kind && t.State.Active() {
			old := t.State
			t.Move(opsflow.TaskDone, "", nil, a, p.e.now(ctx).UTC())
			p.e.record(ctx, change{Actor: a, Action: "task.done", Field: "tasks." + t.ID + ".state", Old: string(old), New: string(opsflow.TaskDone)})
		}
	}
}

func (p *kaizen) now() time.Time { return workflow.Now(p.ctx).UTC() }

// take checks a step's gates, the state and role rules that need no
// input: they live in the domain (opsflow.Kaizen.CanTake), so the web
// app offers exactly the steps this workflow would accept.
func (p *kaizen) take(step string, a opsflow.Actor) error { return p.gate().CanTake(step, a) }

func (p *kaizen) gate() opsflow.Kaizen {
	g := p.K
	g.Tasks = p.Board.Tasks
	return g
}

// steps binds each of the initiative's steps (opsflow.KaizenStep) to its
// check and apply.
func (p *kaizen) steps() []handler {
	s := opsflow.KaizenStep
	return []handler{
		on(s.Triage, p.checkTriage, p.applyTriage),
		on(s.SubmitPlan, p.checkPlan, p.applyPlan),
		on(s.ApprovePlan, p.checkReview, p.applyReview),
		on(s.Observe, p.checkObservation, p.applyObservation),
		on(s.Act, p.checkAct, p.applyAct),
		on(s.RecordImpact, p.checkImpact, p.applyImpact),
		on(s.Cancel, p.checkCancel, p.applyCancel),
		on(s.DecideRegression, p.checkRegression, p.applyRegression),
		onTask(p.checkMove, p.applyMove),
		onReassign(p.checkReassign, p.applyReassign),
	}
}

func (p *kaizen) checkTriage(in opsflow.KaizenTriageInput) error {
	if err := p.take(opsflow.KaizenStep.Triage.Name, in.Actor); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	if in.Decision == "defer" && !in.Until.After(p.now()) {
		return opsflow.Invalid("until", "until must be in the future")
	}
	return nil
}

func (p *kaizen) applyTriage(ctx workflow.Context, in opsflow.KaizenTriageInput) error {
	now := p.e.now(ctx).UTC()
	d := &opsflow.Decision{Decision: in.Decision, Reason: in.Reason, By: in.Actor.ID, At: now}
	p.closeTasks(ctx, kaizenTaskTriage, in.Actor)
	switch in.Decision {
	case "accept":
		p.K.Triage = d
		p.setPhase(ctx, in.Actor, opsflow.RoleApprover, "kaizen.accepted", opsflow.KaizenPlan, in.Reason)
		p.openTask(ctx, kaizenTaskPlan, fmt.Sprintf("Write the A3 plan (cycle %d): %s", p.K.Cycle, p.K.Title), p.K.Owner, "owner", kaizenPlanDays)
	case "defer":
		u := in.Until.UTC()
		d.Until = &u
		p.K.Triage = d
		p.setPhase(ctx, in.Actor, opsflow.RoleApprover, "kaizen.deferred", opsflow.KaizenDeferred, in.Reason+" (until "+u.Format(time.RFC3339)+")")
	case "reject":
		p.K.Triage = d
		p.K.ClosedAt = &now
		p.setPhase(ctx, in.Actor, opsflow.RoleApprover, "kaizen.rejected", opsflow.KaizenRejected, in.Reason)
	}
	return nil
}

// planFigures returns the baseline and target the plan would run with.
func (p *kaizen) planFigures(a3 opsflow.A3) (*opsflow.Baseline, *opsflow.Target) {
	b, t := p.K.Baseline, p.K.Target
	if a3.Baseline != nil {
		b = a3.Baseline
	}
	if a3.Target != nil {
		t = a3.Target
	}
	return b, t
}

func (p *kaizen) checkPlan(in opsflow.KaizenPlanInput) error {
	if err := p.take(opsflow.KaizenStep.SubmitPlan.Name, in.Actor); err != nil {
		return err
	}
	now := p.now()
	if err := in.Plan.CheckShape(now); err != nil {
		return err
	}
	b, t := p.planFigures(in.Plan)
	switch {
	case b == nil:
		return opsflow.Invalid("baseline", "the plan needs a baseline: a window of the KPI's measurements, or a value with its source")
	case b.Value == nil:
		return opsflow.Invalid("baseline.value", "the baseline has no value")
	case t == nil:
		return opsflow.Invalid("target", "the plan needs a target (value and date)")
	}
	return opsflow.CheckTarget(p.K.KPI.Direction, *b.Value, *t, now)
}

func (p *kaizen) applyPlan(ctx workflow.Context, in opsflow.KaizenPlanInput) error {
	b, t := p.planFigures(in.Plan)
	if in.Plan.Baseline != nil {
		p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleOwner, Action: "kaizen.baseline_set", Field: "baseline", Old: p.K.Baseline, New: b})
	}
	if in.Plan.Target != nil {
		p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleOwner, Action: "kaizen.target_set", Field: "target", Old: p.K.Target, New: t})
	}
	old := p.K.Plan
	plan := in.Plan
	p.K.Plan, p.K.Baseline, p.K.Target, p.K.PlanApproval = &plan, b, t, nil
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleOwner, Action: "kaizen.plan_submitted", Field: "plan", Old: old, New: plan,
		Reason: fmt.Sprintf("cycle %d", p.K.Cycle)})
	p.closeTasks(ctx, kaizenTaskPlan, in.Actor)
	awaiting := false
	for _, tk := range p.Board.Tasks {
		awaiting = awaiting || (tk.Kind == kaizenTaskApproval && tk.State.Active())
	}
	if !awaiting {
		p.openTask(ctx, kaizenTaskApproval, fmt.Sprintf("Approve the A3 plan (cycle %d): %s", p.K.Cycle, p.K.Title), p.K.Sponsor, "sponsor", kaizenDecisionDays)
	}
	return nil
}

func (p *kaizen) checkReview(in opsflow.KaizenReviewInput) error {
	if err := p.take(opsflow.KaizenStep.ApprovePlan.Name, in.Actor); err != nil {
		return err
	}
	if err := checkSig(in.Signature); err != nil {
		return err
	}
	return in.Validate()
}

func (p *kaizen) applyReview(ctx workflow.Context, in opsflow.KaizenReviewInput) error {
	p.K.PlanApproval = &opsflow.Decision{Decision: in.Decision, Reason: in.Reason, By: in.Actor.ID, At: p.e.now(ctx).UTC()}
	p.closeTasks(ctx, kaizenTaskApproval, in.Actor)
	if in.Decision == "return" {
		ev := p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleApprover, Action: "kaizen.plan_returned", Field: "plan_approval", New: "returned", Reason: in.Reason})
		if workflow.GetVersion(ctx, changePlanReturnTask, workflow.DefaultVersion, 1) >= 1 {
			// The owner has work again, in their inbox, with its due date.
			p.openTask(ctx, kaizenTaskPlan, fmt.Sprintf("Revise the A3 plan (cycle %d): %s", p.K.Cycle, in.Reason), p.K.Owner, "owner", kaizenPlanDays)
			return nil
		}
		p.e.notifyFor(ev, opsflow.NotifyAssigned, p.K.Owner, "", "Kaizen "+p.K.Title+": plan returned for revision")
		return nil
	}
	if err := p.sign(ctx, in.Actor, opsflow.RoleApprover, opsflow.KaizenStep.ApprovePlan.Name, in.Signature); err != nil {
		return err
	}
	p.setPhase(ctx, in.Actor, opsflow.RoleApprover, "kaizen.plan_approved", opsflow.KaizenDo, in.Reason)
	for _, c := range p.K.Plan.Countermeasures {
		due := c.Due.UTC()
		id := fmt.Sprintf("c%d-%s", p.K.Cycle, c.ID)
		_ = p.Board.Add(opsflow.Task{ID: id, Kind: kaizenTaskCountermeasure, Title: c.Title, Description: c.Description,
			OwnerType: "countermeasure", Assignee: c.Owner, State: opsflow.TaskOpen, DueAt: &due, Weight: 1})
		ev := p.e.record(ctx, change{Actor: opsflow.SystemActor, Action: "task.opened", Field: "tasks." + id, New: c.Title,
			Reason: fmt.Sprintf("countermeasure of cycle %d", p.K.Cycle)})
		p.e.notifyFor(ev, opsflow.NotifyAssigned, c.Owner, id, "Countermeasure: "+c.Title)
	}
	return nil
}

func (p *kaizen) checkMove(m opsflow.TaskMove) error {
	if err := p.gate().CanMoveTask(m.TaskID, m.State, m.Actor); err != nil {
		return err
	}
	return p.Board.CheckMove(m) // the reason
}

func (p *kaizen) checkReassign(r opsflow.TaskReassign) error {
	if err := p.take(opsflow.UpdateReassignTask, r.Actor); err != nil {
		return err
	}
	return p.Board.CheckReassign(r, p.K.Owner, p.K.Sponsor)
}

func (p *kaizen) applyReassign(ctx workflow.Context, r opsflow.TaskReassign) error {
	reassignTask(ctx, p.e, &p.Board, r)
	return nil
}

func (p *kaizen) applyMove(ctx workflow.Context, m opsflow.TaskMove) error {
	moveTask(ctx, p.e, &p.Board, m)
	switch p.K.Phase {
	case opsflow.KaizenDo:
		prefix := fmt.Sprintf("c%d-", p.K.Cycle)
		for _, t := range p.Board.Tasks {
			if t.Kind == kaizenTaskCountermeasure && strings.HasPrefix(t.ID, prefix) && !t.State.Final() {
				return nil
			}
		}
		now := p.e.now(ctx).UTC()
		to := now.Add(time.Duration(p.K.Plan.CheckWindowDays) * p.day)
		p.K.CheckFrom, p.K.CheckTo = &now, &to
		p.setPhase(ctx, opsflow.SystemActor, "", "kaizen.check_started", opsflow.KaizenCheck,
			fmt.Sprintf("countermeasures finished; the check window ends %s", to.Format(time.RFC3339)))
	case opsflow.KaizenSustain:
		if t, _ := p.Board.Find(m.TaskID); t.Kind == kaizenTaskRegression && t.State.Final() &&
			workflow.GetVersion(ctx, changeRegressionDecision, workflow.DefaultVersion, 1) >= 1 {
			// The regression was investigated: the sponsor decides whether
			// to run another cycle or accept; the initiative does not close
			// on a completed task alone.
			p.openTask(ctx, kaizenTaskRegressionDecision, fmt.Sprintf("Decide after the regression (%s): new cycle or accept", t.ID), p.K.Sponsor, "sponsor", kaizenDecisionDays)
			return nil
		}
		p.maybeClose(ctx)
	}
	return nil
}

func (p *kaizen) checkRegression(in opsflow.KaizenRegressionInput) error {
	if err := p.take(opsflow.KaizenStep.DecideRegression.Name, in.Actor); err != nil {
		return err
	}
	return in.Validate()
}

func (p *kaizen) applyRegression(ctx workflow.Context, in opsflow.KaizenRegressionInput) error {
	p.closeTasks(ctx, kaizenTaskRegressionDecision, in.Actor)
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleApprover, Action: "kaizen.regression_decided", Field: "regression", New: in.Decision, Reason: in.Reason})
	if in.Decision == "accept" {
		p.maybeClose(ctx)
		return nil
	}
	p.nextCycle(ctx, in.Actor, opsflow.RoleApprover, "kaizen.regression_new_cycle", in.Reason)
	return nil
}

func (p *kaizen) checkObservation(in opsflow.ObservationInput) error {
	if err := p.take(opsflow.KaizenStep.Observe.Name, in.Actor); err != nil {
		return err
	}
	return in.Validate()
}

func (p *kaizen) applyObservation(ctx workflow.Context, in opsflow.ObservationInput) error {
	p.K.Observations = append(p.K.Observations, opsflow.Observation{Text: in.Text, By: in.Actor.ID, At: p.e.now(ctx).UTC()})
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleOwner, Action: "kaizen.observation_recorded", Field: "observations", New: in.Text})
	return nil
}

func (p *kaizen) checkAct(in opsflow.KaizenActInput) error {
	if err := p.take(opsflow.KaizenStep.Act.Name, in.Actor); err != nil {
		return err
	}
	if err := checkSig(in.Decision.Signature); err != nil {
		return err
	}
	return in.Validate()
}

func (p *kaizen) applyAct(ctx workflow.Context, in opsflow.KaizenActInput) error {
	now := p.e.now(ctx).UTC()
	d := in.Decision
	p.K.Act = &opsflow.Decision{Decision: d.Decision, Reason: d.Reason, By: in.Actor.ID, At: now}
	if d.Decision == opsflow.ActStandardise {
		p.K.Standard, p.K.StandardisedAt = d.Standard, &now
		p.K.FollowUps = nil
		for _, day := range opsflow.FollowUpDays {
			p.K.FollowUps = append(p.K.FollowUps, opsflow.FollowUp{Day: day, DueAt: now.Add(time.Duration(day) * p.day)})
		}
		p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleOwner, Action: opsflow.ActionKaizenStandardised, Field: "standard", New: d.Standard, Reason: d.Reason})
		if err := p.sign(ctx, in.Actor, opsflow.RoleOwner, opsflow.KaizenStep.Act.Name, d.Signature); err != nil {
			return err
		}
		p.setPhase(ctx, in.Actor, opsflow.RoleOwner, "kaizen.phase_changed", opsflow.KaizenSustain, "standardised; follow-ups at +30, +60, +90 days")
		return nil
	}
	p.nextCycle(ctx, in.Actor, opsflow.RoleOwner, "kaizen.adjusted", d.Reason)
	return nil
}

// nextCycle puts this cycle in the history and starts the next at plan, in
// a fresh run (continue-as-new) once this one has drained.
func (p *kaizen) nextCycle(ctx workflow.Context, actor opsflow.Actor, role opsflow.Role, action, reason string) {
	p.K.History = append(p.K.History, opsflow.KaizenCycle{
		Cycle: p.K.Cycle, Plan: p.K.Plan, PlanApproval: p.K.PlanApproval, Baseline: p.K.Baseline, Target: p.K.Target,
		Result: p.K.Result, Observations: p.K.Observations, Act: p.K.Act,
	})
	p.e.record(ctx, change{Actor: actor, Role: role, Action: action, Field: "cycle", Old: p.K.Cycle, New: p.K.Cycle + 1, Reason: reason})
	p.K.Cycle++
	p.K.Plan, p.K.PlanApproval, p.K.CheckFrom, p.K.CheckTo, p.K.Result, p.K.Observations, p.K.Act = nil, nil, nil, nil, nil, nil, nil
	p.K.Standard, p.K.StandardisedAt, p.K.FollowUps = nil, nil, nil
	p.setPhase(ctx, actor, role, "kaizen.phase_changed", opsflow.KaizenPlan, fmt.Sprintf("cycle %d starts", p.K.Cycle))
	p.openTask(ctx, kaizenTaskPlan, fmt.Sprintf("Write the A3 plan (cycle %d): %s", p.K.Cycle, p.K.Title), p.K.Owner, "owner", kaizenPlanDays)
	p.newCycle = true
}

func (p *kaizen) checkImpact(in opsflow.KaizenImpactInput) error {
	if err := p.take(opsflow.KaizenStep.RecordImpact.Name, in.Actor); err != nil {
		return err
	}
	return in.Validate()
}

func (p *kaizen) applyImpact(ctx workflow.Context, in opsflow.KaizenImpactInput) error {
	en := in.Entry
	en.RecordedBy, en.RecordedAt, en.LockedAt = in.Actor.ID, p.e.now(ctx).UTC(), nil
	var old any
	for i := range p.K.Impact {
		if p.K.Impact[i].ID == en.ID {
			old = p.K.Impact[i]
			p.K.Impact[i] = en
		}
	}
	if old == nil {
		p.K.Impact = append(p.K.Impact, en)
	}
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleOwner, Action: "kaizen.impact_recorded", Field: "impact." + en.ID, Old: old, New: en})
	return nil
}

func (p *kaizen) checkCancel(in opsflow.KaizenCancelInput) error {
	if err := p.take(opsflow.KaizenStep.Cancel.Name, in.Actor); err != nil {
		return err
	}
	return in.Validate()
}

func (p *kaizen) applyCancel(ctx workflow.Context, in opsflow.KaizenCancelInput) error {
	now := p.e.now(ctx).UTC()
	for i := range p.Board.Tasks {
		t := &p.Board.Tasks[i]
		if t.State.Active() || t.State == opsflow.TaskScheduled {
			old := t.State
			t.Move(opsflow.TaskCancelled, "initiative cancelled", nil, in.Actor, now)
			p.e.record(ctx, change{Actor: in.Actor, Action: "task.cancelled", Field: "tasks." + t.ID + ".state", Old: string(old), New: string(opsflow.TaskCancelled), Reason: in.Reason})
		}
	}
	p.K.Cancellation = &opsflow.Decision{Decision: "cancel", Reason: in.Reason, By: in.Actor.ID, At: now}
	p.K.ClosedAt = &now
	p.setPhase(ctx, in.Actor, opsflow.RoleOwner, "kaizen.cancelled", opsflow.KaizenCancelled, in.Reason)
	return nil
}
