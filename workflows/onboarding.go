package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/opsflow/opsflow"
)

// ActivityProvision calls a provisioning webhook; the worker registers the
// activity under this name.
const ActivityProvision = "Provision"

// Provisioning statuses, as the record shows them.
const (
	provisionPending          = opsflow.ProvisionPending
	provisionRunning          = opsflow.ProvisionRunning
	provisionSucceeded        = opsflow.ProvisionSucceeded
	provisionFailed           = opsflow.ProvisionFailed
	provisionResolvedByPerson = opsflow.ProvisionResolvedByPerson
)

// OnboardingInput starts an onboarding (Template, Hire, Placement, Actor,
// Day) or resumes one after continue-as-new (Resume and Engine).
type OnboardingInput struct {
	Actor     opsflow.Actor              `json:"actor"`
	Hire      opsflow.Hire               `json:"hire"`
	Placement opsflow.Placement          `json:"placement"`
	Template  opsflow.OnboardingTemplate `json:"template"` // the exact version, resolved by the server
	// Day is the length of a day offset (24h in production).
	Day time.Duration `json:"day"`

	Resume *opsflow.Onboarding `json:"resume,omitempty"`
	Engine *EngineState        `json:"engine,omitempty"`
}

// onboarding is the process behind one opsflow.Onboarding.
type onboarding struct {
	e   *engine
	o   *opsflow.Onboarding
	now time.Time // workflow time of the latest change or timer, for derived values
}

// Onboarding is the workflow of one new hire: tasks open at their begin
// offset and remind and escalate on durable timers, provisioning tasks call
// webhooks, the calendar moves the onboarding through pre-boarding, day one
// and the 30/60/90-day check-ins, and it completes when the required work
// is done and the check-ins are held.
func Onboarding(ctx workflow.Context, in OnboardingInput) error {
	p := &onboarding{}
	fresh := in.Resume == nil
	if fresh {
		p.e = newEngine(ctx, EngineState{ID: workflow.GetInfo(ctx).WorkflowExecution.ID, Kind: opsflow.KindOnboarding})
		p.now = p.e.now(ctx)
		p.o = newOnboardingRecord(p.e.ID, in, p.now)
	} else {
		p.e = newEngine(ctx, *in.Engine)
		p.now = p.e.now(ctx)
		p.o = in.Resume
	}
	if err := p.e.register(ctx, p); err != nil {
		return err
	}
	if fresh {
		p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleHR, Action: "onboarding.opened", Field: "state",
			New: p.o.State, Reason: fmt.Sprintf("template %s v%d, start %s", p.o.Template.Role, p.o.Template.Version, p.o.Placement.StartDate)})
	}
	return p.e.run(ctx, p, func() error {
		st := p.e.EngineState
		return workflow.NewContinueAsNewError(ctx, WorkflowOnboarding, OnboardingInput{Resume: p.o, Engine: &st})
	})
}

func newOnboardingRecord(id string, in OnboardingInput, now time.Time) *opsflow.Onboarding {
	day := in.Day
	if day <= 0 {
		day = 24 * time.Hour
	}
	o := &opsflow.Onboarding{
		ID: id, State: opsflow.OnboardingPending, Hire: in.Hire, Placement: in.Placement,
		Template: opsflow.TemplateRef{Role: in.Template.Role, Version: in.Template.Version, Title: in.Template.Title},
		Plan:     in.Template.Tasks, Day: opsflow.Duration(day), OpenedBy: in.Actor.ID, OpenedAt: now,
		Board:    opsflow.Board{Policy: opsflow.OnboardingTaskPolicy(day)},
		CheckIns: []opsflow.CheckIn{}, Provisioning: []opsflow.ProvisionStatus{},
	}
	for _, tt := range in.Template.Tasks {
		_ = o.Board.Add(opsflow.PlanTask(tt, o.Placement, day)) // IDs are unique: the template was validated
		if tt.Provision != nil {
			o.Provisioning = append(o.Provisioning, opsflow.ProvisionStatus{TaskID: tt.ID, System: tt.Provision.System})
		}
	}
	for _, n := range opsflow.CheckinDays {
		_ = o.Board.Add(opsflow.PlanCheckin(n, o.Placement, day))
	}
	o.PreboardAt = preboardAt(o)
	return o
}

// preboardAt is when pre-boarding begins: the earliest begin offset before
// the start, or the start itself for a template with no pre-boarding.
func preboardAt(o *opsflow.Onboarding) time.Time {
	first := 0
	for _, tt := range o.Plan {
		first = min(first, tt.BeginOffsetDays)
	}
	return opsflow.Offset(o.Placement.StartAt, first, o.Day.D())
}

func (p *onboarding) template(id string) (opsflow.TaskTemplate, bool) {
	for _, tt := range p.o.Plan {
		if tt.ID == id {
			return tt, true
		}
	}
	return opsflow.TaskTemplate{}, false
}

func (p *onboarding) provisioning(taskID string) *opsflow.ProvisionStatus {
	for i := range p.o.Provisioning {
		if p.o.Provisioning[i].TaskID == taskID {
			return &p.o.Provisioning[i]
		}
	}
	return nil
}

func (p *onboarding) row() (opsflow.Process, []opsflow.Task) {
	o := p.o
	o.Progress = opsflow.Progress(o.Tasks)
	o.Day1Ready = opsflow.Day1Ready(o.Tasks)
	o.OverdueCount = opsflow.OverdueCount(o.Tasks, p.now)
	view := *o
	view.Tasks = nil             // they travel beside the record, once
	rec, _ := json.Marshal(view) // plain data: cannot fail
	due := opsflow.Offset(o.Placement.StartAt, 90+opsflow.CheckinWindowDays, o.Day.D())
	return opsflow.Process{
		State: string(o.State), Title: fmt.Sprintf("Onboarding %s (%s)", o.Hire.Name, o.Template.Role),
		OwnerID: o.Placement.ManagerID, OpenedAt: o.OpenedAt, ClosedAt: o.ClosedAt, DueAt: &due, Record: rec,
		Search: map[string]string{
			"manager":    o.Placement.ManagerID,
			"start_date": o.Placement.StartDate,
			"role":       o.Template.Role,
			"overdue":    fmt.Sprint(o.OverdueCount > 0),
		},
	}, o.Tasks
}

func (p *onboarding) done() bool { return p.o.State.Final() }

// halt cancels the onboarding because its workflow was cancelled from
// outside opsflow.
func (p *onboarding) halt(ctx workflow.Context, reason string) {
	if !p.o.State.Final() {
		p.cancel(ctx, opsflow.CancelOnboardingInput{Actor: opsflow.SystemActor, Reason: reason})
	}
}

// phases are the calendar's moments, in order.
func (p *onboarding) phases() []struct {
	state opsflow.OnboardingState
	at    time.Time
} {
	start, day := p.o.Placement.StartAt, p.o.Day.D()
	return []struct {
		state opsflow.OnboardingState
		at    time.Time
	}{
		{opsflow.OnboardingPreboarding, p.o.PreboardAt},
		{opsflow.OnboardingDayOne, start},
		{opsflow.OnboardingInProgress, opsflow.Offset(start, 1, day)},
		{opsflow.OnboardingCheckin30, opsflow.Offset(start, 30, day)},
		{opsflow.OnboardingCheckin60, opsflow.Offset(start, 60, day)},
		{opsflow.OnboardingCheckin90, opsflow.Offset(start, 90, day)},
	}
}

func (p *onboarding) deadline() (time.Time, bool) {
	if p.done() {
		return time.Time{}, false
	}
	at, ok := p.o.Board.Deadline()
	earlier := func(t time.Time) {
		if !ok || t.Before(at) {
			at, ok = t, true
		}
	}
	for _, ph := range p.phases() {
		if ph.state.Later(p.o.State) {
			earlier(ph.at)
			break
		}
	}
	for _, ps := range p.o.Provisioning {
		if ps.Status == provisionPending {
			earlier(ps.RequestedAt)
		}
	}
	return at, ok
}

// fire opens, reminds and escalates tasks, moves the calendar phase, and
// runs the webhooks of provisioning tasks that have opened.
func (p *onboarding) fire(ctx workflow.Context, now time.Time) error {
	p.now = now
	// A webhook that succeeds can release tasks that depend on it, due at
	// the same moment: go round until no provisioning is left to run, so
	// no deadline stays behind at the instant just fired.
	for range len(p.o.Tasks) + 1 {
		tick(ctx, p.e, &p.o.Board, p.now, p.resolve)
		for _, ph := range p.phases() {
			if ph.state.Later(p.o.State) && !p.now.Before(ph.at) {
				p.setState(ctx, opsflow.SystemActor, ph.state, "")
			}
		}
		for i := range p.o.Provisioning {
			ps := &p.o.Provisioning[i]
			t, _ := p.o.Board.Find(ps.TaskID)
			if ps.Status == "" && t != nil && t.State == opsflow.TaskOpen {
				ps.Status, ps.RequestedAt = provisionPending, p.now
			}
		}
		ran := false
		for i := range p.o.Provisioning {
			if ps := p.o.Provisioning[i]; ps.Status == provisionPending && !p.now.Before(ps.RequestedAt) {
				req := p.startProvision(i)
				p.e.beside(ctx, func(ctx workflow.Context) { p.provision(ctx, i, req) })
				ran = true
			}
		}
		if !ran {
			break
		}
	}
	p.maybeComplete(ctx)
	return nil
}

// resolve maps an escalation tier to who is told: the assignee (or role
// queue), the hire's manager, then HR.
func (p *onboarding) resolve(rel string, t opsflow.Task) string {
	switch rel {
	case "assignee":
		if t.Assignee != "" {
			return t.Assignee
		}
		return string(t.Role)
	case "manager":
		return p.o.Placement.ManagerID
	case "hr":
		return string(opsflow.RoleHR)
	}
	return ""
}

func (p *onboarding) setState(ctx workflow.Context, a opsflow.Actor, to opsflow.OnboardingState, reason string) {
	ev := p.e.record(ctx, change{Actor: a, Role: opsflow.RoleHR, Action: "onboarding." + string(to), Field: "state", Old: p.o.State, New: to, Reason: reason})
	p.o.State = to
	if to.Final() {
		at := p.e.now(ctx)
		p.o.ClosedAt = &at
		p.e.notifyWith(ev, opsflow.Notification{Kind: opsflow.NotifyClosed, To: p.o.Placement.ManagerID,
			Subject: "Onboarding " + p.o.Hire.Name + " is " + string(to), Reason: reason})
	}
}

// maybeComplete completes the onboarding once the last check-in day has
// come, every check-in is held and every required task is done. Skipped is
// not done: a required task cannot be skipped (see checkMove).
func (p *onboarding) maybeComplete(ctx workflow.Context) {
	if p.o.State != opsflow.OnboardingCheckin90 || len(p.o.CheckIns) < len(opsflow.CheckinDays) {
		return
	}
	for _, tt := range p.o.Plan {
		if t, err := p.o.Board.Find(tt.ID); err == nil && !tt.Optional && t.State != opsflow.TaskDone {
			return
		}
	}
	p.setState(ctx, opsflow.SystemActor, opsflow.OnboardingCompleted, "required tasks done and check-ins held")
}

// provisionOptions: retries with backoff scaled to the process's day (10 s
// first interval at 24h days, 100 ms at the one-second days of tests),
// bounded so a dead receiver becomes a blocked task for a person instead of
// retrying forever.
func provisionOptions(day time.Duration) workflow.ActivityOptions {
	first := min(max(day/8640, 100*time.Millisecond), 10*time.Second)
	return workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: first, BackoffCoefficient: 2, MaximumInterval: 10 * first, MaximumAttempts: ProvisionAttempts,
		},
	}
}

// ProvisionAttempts is how many times one round of provisioning calls the
// webhook before the task is blocked.
const ProvisionAttempts = 5

// startProvision marks provisioning status i running — at once, so the
// next round of fire does not start it again while its webhook runs beside
// the loop — and returns the webhook call.
func (p *onboarding) startProvision(i int) opsflow.ProvisionRequest {
	ps := &p.o.Provisioning[i]
	tt, _ := p.template(ps.TaskID)
	ps.Status = provisionRunning
	ps.Rounds++
	return opsflow.ProvisionRequest{
		URL:            tt.Provision.URL,
		IdempotencyKey: p.o.ID + "/" + ps.TaskID,
		Body: map[string]any{
			"onboarding_id": p.o.ID, "task_id": ps.TaskID, "system": tt.Provision.System,
			"hire": p.o.Hire, "placement": p.o.Placement, "params": tt.Provision.Body,
		},
	}
}

// provision runs the webhook of provisioning status i and records the
// outcome: the task done with the external ID, or blocked with the error.
func (p *onboarding) provision(ctx workflow.Context, i int, req opsflow.ProvisionRequest) {
	var res opsflow.ProvisionResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, provisionOptions(p.o.Day.D())), ActivityProvision, req).Get(ctx, &res)
	if p.e.v2 && p.done() {
		return // cancelled meanwhile: the outcome no longer matters
	}
	if err != nil {
		p.e.at(ctx, failedAt(err))
	} else {
		p.e.at(ctx, res.At)
	}
	p.now = p.e.now(ctx)
	ps := &p.o.Provisioning[i] // handlers may have run meanwhile; the slice itself never grows
	tt, _ := p.template(ps.TaskID)
	t, _ := p.o.Board.Find(ps.TaskID)
	field := "tasks." + ps.TaskID
	if err != nil {
		msg := causeMessage(err)
		ps.Status, ps.Error = provisionFailed, msg
		p.e.record(ctx, change{Actor: opsflow.SystemActor, Action: "provision.failed", Field: field + ".provisioning",
			Old: provisionRunning, New: provisionFailed, Reason: msg})
		if t.State == opsflow.TaskOpen || t.State == opsflow.TaskInProgress {
			old := t.State
			t.State, t.Reason = opsflow.TaskBlocked, "provisioning failed: "+msg
			ev := p.e.record(ctx, change{Actor: opsflow.SystemActor, Action: "task.blocked", Field: field + ".state",
				Old: old, New: opsflow.TaskBlocked, Reason: t.Reason})
			p.e.notifyWith(ev, opsflow.Notification{Kind: opsflow.NotifyProvisioningFailed, To: p.resolve("assignee", *t), TaskID: t.ID,
				Subject: "provisioning failed: " + t.Title, Reason: msg})
		}
		return
	}
	ps.Status, ps.Error, ps.ExternalID = provisionSucceeded, "", res.ExternalID
	p.e.record(ctx, change{Actor: opsflow.SystemActor, Action: "provision.succeeded", Field: field + ".external_id",
		New: res.ExternalID, Reason: fmt.Sprintf("%s answered %d after round %d", tt.Provision.URL, res.Status, ps.Rounds)})
	if t.State.Active() {
		evidence := []string{}
		if res.ExternalID != "" {
			evidence = append(evidence, "external_id:"+res.ExternalID)
		}
		old := t.State
		t.Move(opsflow.TaskDone, "", evidence, opsflow.SystemActor, p.now)
		p.e.record(ctx, change{Actor: opsflow.SystemActor, Action: "task.done", Field: field + ".state", Old: old, New: opsflow.TaskDone})
	}
}

// causeMessage is the innermost error message of an activity failure: the
// webhook's answer, not Temporal's wrapping.
func causeMessage(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// take checks a step's gates, the state and role rules that need no
// input: they live in the domain (opsflow.Onboarding.CanTake), so the web
// app offers exactly the steps this workflow would accept.
func (p *onboarding) take(step string, a opsflow.Actor) error { return p.o.CanTake(step, a) }

// steps binds each of the onboarding's steps (opsflow.OnboardingStep) to
// its check and apply.
func (p *onboarding) steps() []handler {
	s := opsflow.OnboardingStep
	return []handler{
		on(s.CheckIn, p.checkCheckIn, p.applyCheckIn),
		on(s.MoveStart, p.checkMoveStart, p.applyMoveStart),
		on(s.Cancel, p.checkCancel, p.applyCancel),
		on(s.Retry, p.checkRetry, p.applyRetry),
		onTask(p.checkMove, p.applyMove),
		onReassign(p.checkReassign, p.applyReassign),
	}
}

// checkReassign: HR, an administrator or the hire's manager hands a task
// over (HR runs onboardings, so it counts as their owner).
func (p *onboarding) checkReassign(r opsflow.TaskReassign) error {
	if err := p.take(opsflow.UpdateReassignTask, r.Actor); err != nil {
		return err
	}
	owners := []string{p.o.Placement.ManagerID}
	if r.Actor.Has(opsflow.RoleHR) {
		owners = append(owners, r.Actor.ID)
	}
	return p.o.Board.CheckReassign(r, owners...)
}

func (p *onboarding) applyReassign(ctx workflow.Context, r opsflow.TaskReassign) error {
	reassignTask(ctx, p.e, &p.o.Board, r)
	return nil
}

func (p *onboarding) applyMove(ctx workflow.Context, m opsflow.TaskMove) error {
	p.now = p.e.now(ctx)
	t := moveTask(ctx, p.e, &p.o.Board, m)
	if ps := p.provisioning(t.ID); ps != nil && t.State == opsflow.TaskDone && ps.Status != provisionSucceeded {
		old := ps.Status
		ps.Status = provisionResolvedByPerson
		p.e.record(ctx, change{Actor: m.Actor, Role: t.Role, Action: "provision.resolved", Field: "tasks." + t.ID + ".provisioning",
			Old: old, New: ps.Status, Reason: "completed by hand"})
	}
	p.maybeComplete(ctx)
	return nil
}

func (p *onboarding) applyCheckIn(ctx workflow.Context, in opsflow.CheckInInput) error {
	p.now = p.e.now(ctx)
	c := opsflow.CheckIn{Day: in.Day, Notes: in.Notes, Sentiment: in.Sentiment, Risks: in.Risks, HeldBy: in.Actor.ID, HeldAt: p.now}
	p.o.CheckIns = append(p.o.CheckIns, c)
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleManager, Action: "onboarding.checkin_held",
		Field: fmt.Sprintf("check_ins.%d", in.Day), New: struct {
			Notes     string   `json:"notes"`
			Sentiment int      `json:"sentiment"`
			Risks     []string `json:"risks,omitempty"`
		}{c.Notes, c.Sentiment, c.Risks}})
	t, _ := p.o.Board.Find(opsflow.CheckinTaskID(in.Day))
	old := t.State
	t.Move(opsflow.TaskDone, "", nil, in.Actor, p.now)
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleManager, Action: "task.done", Field: "tasks." + t.ID + ".state", Old: old, New: opsflow.TaskDone})
	p.maybeComplete(ctx)
	return nil
}

func (p *onboarding) applyMoveStart(ctx workflow.Context, in opsflow.MoveStartInput) error {
	p.now = p.e.now(ctx)
	p.replan(ctx, in)
	return nil
}

func (p *onboarding) applyCancel(ctx workflow.Context, in opsflow.CancelOnboardingInput) error {
	p.cancel(ctx, in)
	return nil
}

func (p *onboarding) applyRetry(ctx workflow.Context, in opsflow.RetryProvisioningInput) error {
	p.now = p.e.now(ctx)
	ps := p.provisioning(in.TaskID)
	t, _ := p.o.Board.Find(in.TaskID)
	p.e.record(ctx, change{Actor: in.Actor, Role: t.Role, Action: "provision.retry_requested", Field: "tasks." + t.ID + ".provisioning",
		Old: ps.Status, New: provisionPending, Reason: ps.Error})
	// The round is due a moment after now: a timer may just have fired at
	// this very instant, and the engine reads a deadline equal to the last
	// one fired as a fire that made no progress.
	ps.Status, ps.RequestedAt = provisionPending, p.now.Add(time.Millisecond)
	old := t.State
	t.State, t.Reason = opsflow.TaskOpen, ""
	p.e.record(ctx, change{Actor: in.Actor, Role: t.Role, Action: "task.open", Field: "tasks." + t.ID + ".state", Old: old, New: opsflow.TaskOpen, Reason: "provisioning retried"})
	return nil
}

// cancel ends the onboarding: every unfinished task is cancelled, and the
// onboarding is cancelled (before the start) or terminated early.
func (p *onboarding) cancel(ctx workflow.Context, in opsflow.CancelOnboardingInput) {
	p.now = p.e.now(ctx)
	for i := range p.o.Tasks {
		t := &p.o.Tasks[i]
		if !t.State.Final() {
			old := t.State
			t.State, t.Reason = opsflow.TaskCancelled, "onboarding cancelled: "+in.Reason
			p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleHR, Action: "task.cancelled", Field: "tasks." + t.ID + ".state",
				Old: old, New: opsflow.TaskCancelled, Reason: in.Reason})
		}
	}
	to := opsflow.OnboardingCancelled
	if p.o.State.Started() {
		to = opsflow.OnboardingTerminatedEarly
	}
	p.o.Reason = in.Reason
	p.setState(ctx, in.Actor, to, in.Reason)
}

// checkMove adds the onboarding's rules to the board's: check-ins are
// recorded with their notes, required tasks are never skipped or cancelled
// (skipped never counts as done, so completion would be out of reach), and
// a provisioning task whose webhook is running waits for it.
func (p *onboarding) checkMove(m opsflow.TaskMove) error {
	if err := p.o.CanMoveTask(m.TaskID, m.State, m.Actor); err != nil {
		return err
	}
	return p.o.Board.CheckMove(m) // the reason
}

func (p *onboarding) checkCheckIn(in opsflow.CheckInInput) error {
	if err := p.take(opsflow.OnboardingStep.CheckIn.Name, in.Actor); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	return p.o.CanCheckIn(in.Day, in.Actor)
}

func (p *onboarding) checkMoveStart(in opsflow.MoveStartInput) error {
	if err := p.take(opsflow.OnboardingStep.MoveStart.Name, in.Actor); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	if in.StartAt.Equal(p.o.Placement.StartAt) {
		return opsflow.Invalid("start_date", "the onboarding already starts then")
	}
	return nil
}

// replan moves the start and every unfinished task's dates with it; each
// changed date is recorded.
func (p *onboarding) replan(ctx workflow.Context, in opsflow.MoveStartInput) {
	pl := &p.o.Placement
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleHR, Action: "onboarding.start_date_moved", Field: "placement.start_date",
		Old: pl.StartDate + " (" + text(pl.StartAt) + ")", New: in.StartDate + " (" + text(in.StartAt) + ")", Reason: in.Reason})
	pl.StartDate, pl.StartAt = in.StartDate, in.StartAt
	p.o.PreboardAt = preboardAt(p.o)
	for i := range p.o.Tasks {
		t := &p.o.Tasks[i]
		old := t.DueAt
		var changed bool
		if tt, ok := p.template(t.ID); ok {
			changed = opsflow.Replan(t, tt, *pl, p.o.Day.D())
		} else if t.Kind == "checkin" && !t.State.Final() {
			planned := opsflow.PlanCheckin(dayOf(t.ID), *pl, p.o.Day.D())
			t.OpenAt, t.DueAt = planned.OpenAt, planned.DueAt
			t.RemindedAt, t.EscalatedAt, t.EscalatedTo, t.EscalationLevel = nil, nil, "", 0
			changed = true
		}
		if changed {
			p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleHR, Action: "task.replanned", Field: "tasks." + t.ID + ".due_at",
				Old: old, New: t.DueAt, Reason: in.Reason})
		}
	}
}

func dayOf(checkinID string) int {
	for _, n := range opsflow.CheckinDays {
		if opsflow.CheckinTaskID(n) == checkinID {
			return n
		}
	}
	return 0
}

func (p *onboarding) checkCancel(in opsflow.CancelOnboardingInput) error {
	if err := p.take(opsflow.OnboardingStep.Cancel.Name, in.Actor); err != nil {
		return err
	}
	return in.Validate()
}

func (p *onboarding) checkRetry(in opsflow.RetryProvisioningInput) error {
	return p.o.CanRetry(in.TaskID, in.Actor)
}
