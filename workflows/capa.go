package workflows

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/opsflow/opsflow"
)

// Workflow changes behind workflow.GetVersion (see DESIGN: every change to
// a command sequence is versioned; the IDs are in every history that took
// the new path, never reuse or rename one).
const changeAwaitingSignature = "capa-awaiting-signature"

// CAPATimings are the process's clocks, in process days (multiples of Day):
// how long each phase may take, when reminders go out and when overdue work
// escalates (owner → approver → admin).
type CAPATimings struct {
	TriageDays        int   `json:"triage_days"`
	DecisionDays      int   `json:"decision_days"`
	VerifyDays        int   `json:"verify_days"` // containment verification, implementation verification
	InvestigationDays int   `json:"investigation_days"`
	PlanDays          int   `json:"plan_days"`
	ApprovalDays      int   `json:"approval_days"`
	ReviewDays        int   `json:"review_days"` // effectiveness review after the window
	ClosureDays       int   `json:"closure_days"`
	RemindDays        int   `json:"remind_days"`
	EscalateDays      []int `json:"escalate_days"` // days after due for the owner, approver and admin tiers
}

// DefaultCAPATimings are the timings used when a start does not say.
var DefaultCAPATimings = CAPATimings{
	TriageDays: 2, DecisionDays: 3, VerifyDays: 5, InvestigationDays: 30, PlanDays: 10,
	ApprovalDays: 5, ReviewDays: 10, ClosureDays: 5, RemindDays: 1, EscalateDays: []int{0, 3, 7},
}

// CAPAInput starts a CAPA workflow, or resumes one after continue-as-new.
type CAPAInput struct {
	Actor   opsflow.Actor       `json:"actor"`
	Request opsflow.CAPARequest `json:"request"`
	// Day is the length of a process day: 24h in production, a second in
	// tests. The workflow keeps it for its whole life.
	Day     time.Duration         `json:"day"`
	Timings *CAPATimings          `json:"timings,omitempty"`
	Resume  *Resume[opsflow.CAPA] `json:"resume,omitempty"`
	// Signal is the KPI signal that opened the CAPA, when a KPI's watch
	// opened it (the request's source then says kpi_signal).
	Signal *opsflow.KPISignalLink `json:"signal,omitempty"`
}

// capa is one CAPA's workflow state.
type capa struct {
	e       *engine
	rec     opsflow.CAPA
	board   opsflow.Board
	day     time.Duration
	timings CAPATimings
	taskSeq int
}

// Task kinds on a CAPA's board (the domain's, which its gates read).
const (
	taskPhase         = opsflow.CAPATaskPhase
	taskContainment   = opsflow.CAPATaskContainment
	taskAction        = opsflow.CAPATaskAction
	taskEffectiveness = opsflow.CAPATaskEffectiveness
)

// CAPA is the workflow of one corrective and preventive action.
func CAPA(ctx workflow.Context, in CAPAInput) error {
	p := &capa{day: in.Day, timings: DefaultCAPATimings}
	if in.Timings != nil {
		p.timings = *in.Timings
	}
	if p.day <= 0 {
		p.day = 24 * time.Hour
	}
	p.board.Policy = p.policy()
	if in.Resume != nil {
		p.e = newEngine(ctx, in.Resume.Engine)
		p.rec, p.board, p.taskSeq = in.Resume.Record, in.Resume.Board, in.Resume.TaskSeq
	} else {
		p.e = newEngine(ctx, EngineState{ID: workflow.GetInfo(ctx).WorkflowExecution.ID, Kind: opsflow.KindCAPA})
	}
	if err := p.e.register(ctx, p); err != nil {
		return err
	}
	if err := registerKPISignal(ctx, p.e, p, signalNotes{final: p.done, state: func() string { return string(p.rec.State) },
		notes: &p.rec.KPISignals, action: "capa.kpi_signal_added"}); err != nil {
		return err
	}
	if in.Resume == nil {
		if err := p.open(ctx, in); err != nil {
			return err
		}
	}
	return p.e.run(ctx, p, func() error {
		return workflow.NewContinueAsNewError(ctx, WorkflowCAPA, CAPAInput{
			Actor: in.Actor, Day: p.day, Timings: &p.timings,
			Resume: &Resume[opsflow.CAPA]{Engine: p.e.EngineState, Record: p.rec, Board: p.board, TaskSeq: p.taskSeq},
		})
	})
}

func (p *capa) policy() opsflow.TaskPolicy {
	tiers := []string{"owner", "approver", "admin"}
	var esc []opsflow.EscalationTier
	for i, d := range p.timings.EscalateDays {
		if i >= len(tiers) {
			break
		}
		esc = append(esc, opsflow.EscalationTier{After: opsflow.Duration(p.days(d)), Notify: tiers[i]})
	}
	return opsflow.TaskPolicy{RemindBefore: opsflow.Duration(p.days(p.timings.RemindDays)), Escalation: esc}
}

func (p *capa) days(n int) time.Duration { return time.Duration(n) * p.day }

// open records the report and its first tasks. A request that slipped past
// the server's validation still fails here, before anything is recorded.
func (p *capa) open(ctx workflow.Context, in CAPAInput) error {
	if err := in.Request.Validate(); err != nil {
		return AppError(err)
	}
	r := in.Request
	now := p.e.now(ctx).UTC()
	owner := r.Owner
	if owner == "" {
		owner = in.Actor.ID
	}
	p.rec = opsflow.CAPA{
		ID: p.e.ID, Title: r.Title, Type: r.Type, State: opsflow.CAPAReported, Source: r.Source,
		Problem: r.Problem, Scope: r.Scope, ReportedBy: in.Actor.ID, Owner: owner, Cycle: 1,
		OpenedAt: now, Containment: []opsflow.ContainmentAction{}, Actions: []opsflow.Action{},
		Extensions: []opsflow.Extension{}, Signatures: []opsflow.Signature{},
	}
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleRequester, Action: "capa.reported", Field: "state", New: opsflow.CAPAReported,
		Reason: fmt.Sprintf("%s: %s (source %s %v)", r.Type, r.Title, r.Source.Type, r.Source.Refs)})
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleRequester, Action: "capa.owner_assigned", Field: "owner", New: owner})
	if s := in.Signal; s != nil {
		p.rec.KPISignal = s
		p.e.record(ctx, change{Actor: in.Actor, Action: "capa.kpi_signal", Field: "kpi_signal", New: s,
			Reason: fmt.Sprintf("opened by kpi %s: %s at %s (chart %s)", s.KPI.Key, s.Rule, s.At.Format("2006-01-02"), s.Chart)})
	}
	p.addContainment(ctx, in.Actor, r.Containment)
	p.phaseTask(ctx, in.Actor, "triage", "Score the risk of "+r.Title, owner, "", p.timings.TriageDays)
	return nil
}

// row is the read-model row: the record with its derived fields filled in
// (its tasks travel beside it, once).
func (p *capa) row() (opsflow.Process, []opsflow.Task) {
	rec := p.view()
	rec.Tasks = nil
	b, err := json.Marshal(rec)
	if err != nil { // plain data: cannot fail
		panic(err)
	}
	search := map[string]string{"source": rec.Source.Type, "type": rec.Type}
	if rec.Risk != nil {
		search["risk_level"] = rec.Risk.Level
	}
	return opsflow.Process{
		State: string(rec.State), Title: rec.Title, OwnerID: rec.Owner, OpenedAt: rec.OpenedAt,
		ClosedAt: rec.ClosedAt, DueAt: rec.DueAt, Record: b, Search: search,
	}, slices.Clone(p.board.Tasks)
}

// view is the record with what derives from the tasks: each action's status,
// the current due date, escalation and overdue.
func (p *capa) view() opsflow.CAPA {
	rec := p.rec
	rec.Tasks = slices.Clone(p.board.Tasks)
	rec.Containment = slices.Clone(p.rec.Containment)
	for i := range rec.Containment {
		if t, err := p.board.Find(rec.Containment[i].ID); err == nil {
			rec.Containment[i].Status, rec.Containment[i].DoneBy, rec.Containment[i].DoneAt = t.State, t.CompletedBy, t.CompletedAt
			if t.DueAt != nil {
				rec.Containment[i].DueAt = *t.DueAt
			}
		}
	}
	rec.Actions = slices.Clone(p.rec.Actions)
	for i := range rec.Actions {
		if t, err := p.board.Find(rec.Actions[i].ID); err == nil {
			rec.Actions[i].Status = t.State
			if t.DueAt != nil {
				rec.Actions[i].DueAt = *t.DueAt
			}
		}
	}
	rec.DueAt, rec.EscalationLevel, rec.Overdue = nil, 0, false
	for _, t := range p.board.Tasks {
		if !t.State.Active() || t.DueAt == nil {
			continue
		}
		if rec.DueAt == nil || t.DueAt.Before(*rec.DueAt) {
			d := *t.DueAt
			rec.DueAt = &d
		}
		rec.EscalationLevel = max(rec.EscalationLevel, t.EscalationLevel)
		rec.Overdue = rec.Overdue || t.EscalationLevel > 0
	}
	return rec
}

func (p *capa) deadline() (time.Time, bool) { return p.board.Deadline() }

// fire applies reminders, escalations and openings (the effectiveness
// review opens when its window ends: that is the durable window timer).
func (p *capa) fire(ctx workflow.Context, now time.Time) error {
	tick(ctx, p.e, &p.board, now, p.resolve)
	return nil
}

// resolve names who an escalation tier notifies.
func (p *capa) resolve(relation string, t opsflow.Task) string {
	switch relation {
	case "owner":
		return p.rec.Owner
	case "approver":
		if p.rec.PlanApproval != nil {
			return p.rec.PlanApproval.By
		}
		return string(opsflow.RoleApprover)
	case "admin":
		return string(opsflow.RoleAdmin)
	}
	return ""
}

func (p *capa) done() bool { return p.rec.State.Final() }

// halt cancels the CAPA because its workflow was cancelled from outside
// opsflow; the trail says so, with the system as the actor.
func (p *capa) halt(ctx workflow.Context, reason string) {
	if p.rec.State.Final() {
		return
	}
	_ = p.applyCancel(ctx, opsflow.CancelInput{Actor: opsflow.SystemActor, Reason: reason})
}

// newTaskID numbers tasks so IDs never repeat across cycles.
func (p *capa) newTaskID(name string) string {
	p.taskSeq++
	return fmt.Sprintf("%s-%d", name, p.taskSeq)
}

// addTask puts a task on the board and records it.
func (p *capa) addTask(ctx workflow.Context, by opsflow.Actor, t opsflow.Task) {
	if t.Weight == 0 {
		t.Weight = 1
	}
	_ = p.board.Add(t) // IDs come from newTaskID: always new
	due := ""
	if t.DueAt != nil {
		due = "due " + t.DueAt.UTC().Format(time.RFC3339)
	}
	who := t.Assignee
	if who == "" {
		who = "role " + string(t.Role)
	}
	ev := p.e.record(ctx, change{Actor: by, Action: "task.created", Field: "tasks." + t.ID, New: t.Title,
		Reason: fmt.Sprintf("assigned to %s; %s", who, due)})
	if t.State == opsflow.TaskOpen { // a scheduled task is announced when it opens
		to, kind := t.Assignee, opsflow.NotifyAssigned
		if to == "" {
			to = string(t.Role)
		}
		if t.Role == opsflow.RoleApprover {
			kind = opsflow.NotifyApproval // a decision, an approval, a verification or a signature
		}
		p.e.notifyFor(ev, kind, to, t.ID, t.Title)
	}
}

// phaseTask opens the task that tracks one phase's due date.
func (p *capa) phaseTask(ctx workflow.Context, by opsflow.Actor, name, title, assignee string, role opsflow.Role, days int) {
	due := p.e.now(ctx).UTC().Add(p.days(days))
	p.addTask(ctx, by, opsflow.Task{ID: p.newTaskID(name), Kind: taskPhase, Title: title, OwnerType: "quality",
		Assignee: assignee, Role: role, State: opsflow.TaskOpen, DueAt: &due})
}

// finishPhase marks the open phase tasks done by actor.
func (p *capa) finishPhase(ctx workflow.Context, actor opsflow.Actor) {
	p.finishTasks(ctx, actor, func(t opsflow.Task) bool { return t.Kind == taskPhase || t.Kind == taskEffectiveness }, opsflow.TaskDone, "")
}

// finishTasks moves every active (or scheduled) task that matches to state.
func (p *capa) finishTasks(ctx workflow.Context, actor opsflow.Actor, match func(opsflow.Task) bool, to opsflow.TaskState, reason string) {
	now := p.e.now(ctx)
	for i := range p.board.Tasks {
		t := &p.board.Tasks[i]
		if !(t.State.Active() || t.State == opsflow.TaskScheduled) || !match(*t) {
			continue
		}
		old := t.State
		t.Move(to, reason, nil, actor, now)
		p.e.record(ctx, change{Actor: actor, Action: "task." + string(to), Field: "tasks." + t.ID + ".state", Old: old, New: to, Reason: reason})
	}
}

// setState moves the CAPA and records why.
func (p *capa) setState(ctx workflow.Context, actor opsflow.Actor, role opsflow.Role, action string, to opsflow.CAPAState, reason string) {
	old := p.rec.State
	p.rec.State = to
	p.e.record(ctx, change{Actor: actor, Role: role, Action: action, Field: "state", Old: old, New: to, Reason: reason})
}

func (p *capa) addContainment(ctx workflow.Context, by opsflow.Actor, actions []opsflow.ActionInput) {
	now := p.e.now(ctx).UTC()
	for _, a := range actions {
		due := a.Due.Resolve(now, p.day)
		id := p.newTaskID("containment")
		p.rec.Containment = append(p.rec.Containment, opsflow.ContainmentAction{ID: id, Description: a.Description, Owner: a.Owner, DueAt: due, Status: opsflow.TaskOpen})
		p.addTask(ctx, by, opsflow.Task{ID: id, Kind: taskContainment, Title: "Containment: " + a.Description, OwnerType: "quality",
			Assignee: a.Owner, State: opsflow.TaskOpen, DueAt: &due})
	}
}

// gate is the record as its gates read it: the state and role rules that
// need no input live in the domain (opsflow.CAPA.CanTake), so the web app
// offers exactly the steps this workflow would accept.
func (p *capa) gate() opsflow.CAPA {
	g := p.rec
	g.Tasks = p.board.Tasks
	return g
}

// take checks the gates of a step for its actor.
func (p *capa) take(step string, a opsflow.Actor) error { return p.gate().CanTake(step, a) }

// steps binds each of the CAPA's steps (opsflow.CAPAStep) to its check
// and apply.
func (p *capa) steps() []handler {
	s := opsflow.CAPAStep
	return []handler{
		on(s.Triage, p.checkTriage, p.applyTriage),
		on(s.Decide, p.checkDecide, p.applyDecide),
		on(s.AddContainment, p.checkAddContainment, p.applyAddContainment),
		on(s.VerifyContainment, p.checkVerifyContainment, p.applyVerifyContainment),
		on(s.RecordInvestigation, p.checkInvestigation, p.applyInvestigation),
		on(s.ProposePlan, p.checkProposePlan, p.applyProposePlan),
		on(s.ApprovePlan, p.checkApprovePlan, p.applyApprovePlan),
		on(s.CompleteAction, p.checkCompleteAction, p.applyCompleteAction),
		on(s.VerifyImplementation, p.checkVerifyImplementation, p.applyVerifyImplementation),
		on(s.RecordEffectiveness, p.checkEffectiveness, p.applyEffectiveness),
		on(s.SignClosure, p.checkSign, p.applySign),
		on(s.RequestExtension, p.checkRequestExtension, p.applyRequestExtension),
		on(s.DecideExtension, p.checkDecideExtension, p.applyDecideExtension),
		on(s.Cancel, p.checkCancel, p.applyCancel),
		onTask(p.checkMove, p.applyMove),
		onReassign(p.checkReassign, p.applyReassign),
	}
}

// ---- triage

func (p *capa) checkTriage(in opsflow.TriageInput) error {
	if err := p.take(opsflow.CAPAStep.Triage.Name, in.Actor); err != nil {
		return err
	}
	return in.Validate()
}

func (p *capa) applyTriage(ctx workflow.Context, in opsflow.TriageInput) error {
	r, _ := opsflow.ScoreRisk(in.Severity, in.Occurrence, in.Detection)
	p.rec.Risk = &r
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleOwner, Action: "capa.risk_scored", Field: "risk",
		New: fmt.Sprintf("S%d×O%d×D%d = %d (%s, %s)", r.Severity, r.Occurrence, r.Detection, r.Score, r.Level, r.Model), Reason: in.Comment})
	p.finishPhase(ctx, in.Actor)
	p.setState(ctx, in.Actor, opsflow.RoleOwner, "capa.triaged", opsflow.CAPATriage, "risk "+r.Level)
	p.phaseTask(ctx, in.Actor, "decision", "Decide whether a CAPA is required", "", opsflow.RoleApprover, p.timings.DecisionDays)
	return nil
}

func (p *capa) checkDecide(in opsflow.DecideInput) error {
	if err := p.take(opsflow.CAPAStep.Decide.Name, in.Actor); err != nil {
		return err
	}
	if err := checkSig(in.Signature); err != nil {
		return err
	}
	return in.Validate()
}

func (p *capa) applyDecide(ctx workflow.Context, in opsflow.DecideInput) error {
	now := p.e.now(ctx).UTC()
	p.rec.Decision = &opsflow.CAPADecision{Required: *in.Required, Rationale: in.Rationale, By: in.Actor.ID, At: now}
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleApprover, Action: "capa.decided", Field: "decision.capa_required", New: *in.Required, Reason: in.Rationale})
	if err := p.sign(ctx, in.Actor, opsflow.CAPAStep.Decide.Name, in.Signature); err != nil {
		return err
	}
	p.finishPhase(ctx, in.Actor)
	if !*in.Required {
		// Containment already started stays on record but is no longer owed.
		p.finishTasks(ctx, in.Actor, func(opsflow.Task) bool { return true }, opsflow.TaskCancelled, "no CAPA required")
		p.setState(ctx, in.Actor, opsflow.RoleApprover, "capa.closed_no_capa", opsflow.CAPAClosedNoCAPA, in.Rationale)
		p.close(ctx)
		return nil
	}
	p.setState(ctx, in.Actor, opsflow.RoleApprover, "capa.containment_started", opsflow.CAPAContainment, in.Rationale)
	p.phaseTask(ctx, in.Actor, "verify-containment", "Verify the containment", p.rec.Owner, "", p.timings.VerifyDays)
	return nil
}

// ---- containment

func (p *capa) checkAddContainment(in opsflow.ContainmentInput) error {
	if err := p.take(opsflow.CAPAStep.AddContainment.Name, in.Actor); err != nil {
		return err
	}
	return in.Validate()
}

func (p *capa) applyAddContainment(ctx workflow.Context, in opsflow.ContainmentInput) error {
	p.addContainment(ctx, in.Actor, in.Actions)
	return nil
}

func (p *capa) checkVerifyContainment(in opsflow.VerifyContainmentInput) error {
	if err := p.take(opsflow.CAPAStep.VerifyContainment.Name, in.Actor); err != nil {
		return err
	}
	return in.Validate()
}

func (p *capa) applyVerifyContainment(ctx workflow.Context, in opsflow.VerifyContainmentInput) error {
	now := p.e.now(ctx).UTC()
	for i := range p.rec.Containment {
		c := &p.rec.Containment[i]
		if t, err := p.board.Find(c.ID); err == nil && t.State == opsflow.TaskDone {
			c.VerifiedBy, c.VerifiedAt = in.Actor.ID, &now
			p.e.record(ctx, change{Actor: in.Actor, Action: "capa.containment_verified", Field: "containment." + c.ID + ".verified_by", New: in.Actor.ID})
		}
	}
	p.rec.ContainmentVerified = &opsflow.Approval{Approved: true, By: in.Actor.ID, At: now, Comment: in.Comment}
	p.finishPhase(ctx, in.Actor)
	p.setState(ctx, in.Actor, opsflow.RoleOwner, "capa.investigation_started", opsflow.CAPAInvestigation, in.Comment)
	p.phaseTask(ctx, in.Actor, "investigation", "Investigate the root cause", p.rec.Owner, "", p.timings.InvestigationDays)
	return nil
}

// ---- investigation

func (p *capa) checkInvestigation(in opsflow.InvestigationInput) error {
	if err := p.take(opsflow.CAPAStep.RecordInvestigation.Name, in.Actor); err != nil {
		return err
	}
	return in.Validate()
}

func (p *capa) applyInvestigation(ctx workflow.Context, in opsflow.InvestigationInput) error {
	now := p.e.now(ctx).UTC()
	inv := in.Investigation
	inv.By, inv.At = in.Actor.ID, &now
	old := p.rec.Problem
	p.rec.Investigation = &inv
	p.rec.Problem = inv.Problem
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleOwner, Action: "capa.problem_described", Field: "problem", Old: old, New: inv.Problem})
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleOwner, Action: "capa.rca_recorded", Field: "investigation.rca",
		New: map[string]any{"method": inv.Method, "whys": inv.Whys, "fishbone": inv.Fishbone}})
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleOwner, Action: "capa.root_causes_recorded", Field: "investigation.root_causes", New: inv.RootCauses})
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleOwner, Action: "capa.escape_point_recorded", Field: "investigation.escape_point", New: inv.EscapePoint})
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleOwner, Action: "capa.extent_recorded", Field: "investigation.extent", New: inv.Extent, Reason: inv.ExtentReview})
	p.finishPhase(ctx, in.Actor)
	p.setState(ctx, in.Actor, opsflow.RoleOwner, "capa.planning_started", opsflow.CAPAActionPlan, fmt.Sprintf("cycle %d", p.rec.Cycle))
	p.phaseTask(ctx, in.Actor, "plan", "Propose corrective and preventive actions", p.rec.Owner, "", p.timings.PlanDays)
	return nil
}

// ---- action plan

func (p *capa) checkProposePlan(in opsflow.PlanInput) error {
	if err := p.take(opsflow.CAPAStep.ProposePlan.Name, in.Actor); err != nil {
		return err
	}
	if err := in.Validate(p.rec.Type); err != nil {
		return err
	}
	if r := in.Effectiveness.Reviewer; r != "" && r == p.rec.Owner {
		return opsflow.Forbidden("separation of duties: the effectiveness reviewer may not be the CAPA owner")
	}
	return nil
}

func (p *capa) applyProposePlan(ctx workflow.Context, in opsflow.PlanInput) error {
	now := p.e.now(ctx).UTC()
	p.rec.Actions = nil
	for _, a := range in.Actions {
		p.rec.Actions = append(p.rec.Actions, opsflow.Action{
			ID: p.newTaskID(fmt.Sprintf("c%d-action", p.rec.Cycle)), Kind: a.Kind, Description: a.Description, Owner: a.Owner,
			DueAt: a.Due.Resolve(now, p.day), Status: opsflow.TaskScheduled,
			ChangeControlRef: a.ChangeControlRef, DocRef: a.DocRef, TrainingRef: a.TrainingRef,
		})
	}
	p.rec.Effectiveness = &opsflow.Effectiveness{Plan: in.Effectiveness}
	p.rec.PlanProposedBy = in.Actor.ID
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleOwner, Action: "capa.plan_proposed", Field: "actions", New: p.rec.Actions})
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleOwner, Action: "capa.effectiveness_planned", Field: "effectiveness.plan", New: in.Effectiveness})
	p.finishPhase(ctx, in.Actor)
	p.phaseTask(ctx, in.Actor, "plan-approval", "Approve the action plan", "", opsflow.RoleApprover, p.timings.ApprovalDays)
	return nil
}

func (p *capa) checkApprovePlan(in opsflow.ApprovePlanInput) error {
	if err := p.take(opsflow.CAPAStep.ApprovePlan.Name, in.Actor); err != nil {
		return err
	}
	if err := checkSig(in.Signature); err != nil {
		return err
	}
	return in.Validate()
}

func (p *capa) applyApprovePlan(ctx workflow.Context, in opsflow.ApprovePlanInput) error {
	now := p.e.now(ctx).UTC()
	ap := opsflow.Approval{Approved: *in.Approved, By: in.Actor.ID, At: now, Comment: in.Comment}
	p.finishPhase(ctx, in.Actor)
	if !ap.Approved {
		p.rec.PlanRejections = append(p.rec.PlanRejections, ap)
		p.rec.PlanProposedBy = ""
		p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleApprover, Action: "capa.plan_rejected", Field: "plan_approval", New: "rejected", Reason: in.Comment})
		if err := p.sign(ctx, in.Actor, opsflow.CAPAStep.ApprovePlan.Name, in.Signature); err != nil {
			return err
		}
		p.phaseTask(ctx, in.Actor, "plan", "Revise the action plan", p.rec.Owner, "", p.timings.PlanDays)
		return nil
	}
	p.rec.PlanApproval = &ap
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleApprover, Action: "capa.plan_approved", Field: "plan_approval", New: "approved", Reason: in.Comment})
	if err := p.sign(ctx, in.Actor, opsflow.CAPAStep.ApprovePlan.Name, in.Signature); err != nil {
		return err
	}
	p.setState(ctx, in.Actor, opsflow.RoleApprover, "capa.implementation_started", opsflow.CAPAImplementation, "plan approved")
	for i := range p.rec.Actions {
		a := &p.rec.Actions[i]
		due := a.DueAt
		a.Status = opsflow.TaskOpen
		p.addTask(ctx, in.Actor, opsflow.Task{ID: a.ID, Kind: taskAction, Title: fmt.Sprintf("%s action: %s", a.Kind, a.Description),
			OwnerType: "quality", Assignee: a.Owner, State: opsflow.TaskOpen, DueAt: &due})
	}
	return nil
}

// ---- implementation

func (p *capa) findAction(id string) (*opsflow.Action, *opsflow.Task, error) {
	i := slices.IndexFunc(p.rec.Actions, func(a opsflow.Action) bool { return a.ID == id })
	if i < 0 {
		return nil, nil, opsflow.Invalid("action_id", "no action %q in this CAPA's current plan", id)
	}
	t, err := p.board.Find(id)
	if err != nil {
		return nil, nil, opsflow.Invalid("action_id", "action %q has no task", id)
	}
	return &p.rec.Actions[i], t, nil
}

func (p *capa) checkCompleteAction(in opsflow.CompleteActionInput) error {
	if err := p.take(opsflow.CAPAStep.CompleteAction.Name, in.Actor); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	return p.gate().CanCompleteAction(in.ActionID, in.Actor)
}

func (p *capa) applyCompleteAction(ctx workflow.Context, in opsflow.CompleteActionInput) error {
	p.completeAction(ctx, in.Actor, in.ActionID, in.Evidence)
	return nil
}

// completeAction marks an action done with its evidence and moves on to
// verification when no action is left open.
func (p *capa) completeAction(ctx workflow.Context, actor opsflow.Actor, id string, ev opsflow.Evidence) {
	a, _, _ := p.findAction(id)
	now := p.e.now(ctx).UTC()
	moveTask(ctx, p.e, &p.board, opsflow.TaskMove{Actor: actor, TaskID: id, State: opsflow.TaskDone, Evidence: ev.Refs})
	a.Evidence, a.ImplementedBy, a.ImplementedAt, a.Status = &ev, actor.ID, &now, opsflow.TaskDone
	p.e.record(ctx, change{Actor: actor, Action: "capa.action_completed", Field: "actions." + id + ".evidence", New: ev})
	p.advanceImplementation(ctx, actor)
}

func (p *capa) advanceImplementation(ctx workflow.Context, actor opsflow.Actor) {
	if p.rec.State != opsflow.CAPAImplementation {
		return
	}
	done := 0
	for _, a := range p.rec.Actions {
		t, err := p.board.Find(a.ID)
		if err != nil {
			continue
		}
		if !t.State.Final() {
			return
		}
		if t.State == opsflow.TaskDone {
			done++
		}
	}
	if done == 0 {
		return // every action skipped: nothing to verify; the owner must re-plan or cancel
	}
	p.setState(ctx, opsflow.SystemActor, "", "capa.verification_started", opsflow.CAPAVerification, "every action is done")
	p.phaseTask(ctx, opsflow.SystemActor, "verification", "Verify the implementation (not by an implementer)", "", opsflow.RoleApprover, p.timings.VerifyDays)
}

// ---- task moves: containment and action tasks are worked on the board;
// phase tasks finish through their step.

func (p *capa) checkMove(m opsflow.TaskMove) error {
	if err := p.gate().CanMoveTask(m.TaskID, m.State, m.Actor); err != nil {
		return err
	}
	if err := p.board.CheckMove(m); err != nil { // the reason
		return err
	}
	if t, _ := p.board.Find(m.TaskID); t.Kind == taskAction && m.State == opsflow.TaskDone && len(m.Evidence) == 0 {
		return opsflow.Invalid("evidence", "completing an action needs evidence")
	}
	return nil
}

func (p *capa) checkReassign(r opsflow.TaskReassign) error {
	if err := p.take(opsflow.UpdateReassignTask, r.Actor); err != nil {
		return err
	}
	return p.board.CheckReassign(r, p.rec.Owner)
}

func (p *capa) applyReassign(ctx workflow.Context, r opsflow.TaskReassign) error {
	reassignTask(ctx, p.e, &p.board, r)
	return nil
}

func (p *capa) applyMove(ctx workflow.Context, m opsflow.TaskMove) error {
	t, _ := p.board.Find(m.TaskID)
	if t.Kind == taskAction && m.State == opsflow.TaskDone {
		ev := opsflow.Evidence{Text: m.Reason, Refs: m.Evidence}
		if ev.Text == "" {
			ev.Text = "see references"
		}
		p.completeAction(ctx, m.Actor, m.TaskID, ev)
		return nil
	}
	moveTask(ctx, p.e, &p.board, m)
	if t.Kind == taskAction {
		p.advanceImplementation(ctx, m.Actor)
	}
	return nil
}

// ---- verification

func (p *capa) checkVerifyImplementation(in opsflow.VerifyImplementationInput) error {
	if err := p.take(opsflow.CAPAStep.VerifyImplementation.Name, in.Actor); err != nil {
		return err
	}
	return in.Validate()
}

func (p *capa) applyVerifyImplementation(ctx workflow.Context, in opsflow.VerifyImplementationInput) error {
	now := p.e.now(ctx).UTC()
	v := opsflow.Verification{ImplementedAsPlanned: *in.ImplementedAsPlanned, NoAdverseEffect: *in.NoAdverseEffect,
		AdverseEffectAssessment: in.AdverseEffectAssessment, Comment: in.Comment, By: in.Actor.ID, At: now}
	p.rec.Verification = &v
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleApprover, Action: "capa.implementation_verified", Field: "verification",
		New: map[string]any{"implemented_as_planned": v.ImplementedAsPlanned, "no_adverse_effect": v.NoAdverseEffect}, Reason: in.AdverseEffectAssessment})
	p.finishPhase(ctx, in.Actor)
	if !v.ImplementedAsPlanned || !v.NoAdverseEffect {
		// Back to planning: the owner revises the plan, which is approved again.
		p.rec.PlanProposedBy, p.rec.PlanApproval = "", nil
		p.setState(ctx, in.Actor, opsflow.RoleApprover, "capa.verification_failed", opsflow.CAPAActionPlan, in.Comment)
		p.phaseTask(ctx, in.Actor, "plan", "Revise the action plan after a failed verification", p.rec.Owner, "", p.timings.PlanDays)
		return nil
	}
	p.startWindow(ctx, in.Actor, "implementation verified")
	return nil
}

// startWindow enters the effectiveness check: the review task is scheduled
// to open when the window ends. That scheduled opening is the durable
// window timer (the engine sleeps until the board's next deadline).
func (p *capa) startWindow(ctx workflow.Context, actor opsflow.Actor, reason string) {
	now := p.e.now(ctx).UTC()
	eff := p.rec.Effectiveness
	end := now.Add(p.days(eff.Plan.WindowDays))
	eff.WindowStart, eff.WindowEnd = &now, &end
	if p.rec.State != opsflow.CAPAEffectiveness {
		p.setState(ctx, actor, "", "capa.effectiveness_window_started", opsflow.CAPAEffectiveness, reason)
	}
	p.e.record(ctx, change{Actor: actor, Action: "capa.effectiveness_window_set", Field: "effectiveness.window_end", New: end, Reason: reason})
	due := end.Add(p.days(p.timings.ReviewDays))
	p.addTask(ctx, actor, opsflow.Task{ID: p.newTaskID("effectiveness"), Kind: taskEffectiveness, Title: "Review effectiveness: " + eff.Plan.Metric,
		OwnerType: "quality", Assignee: eff.Plan.Reviewer, Role: opsflow.RoleApprover, State: opsflow.TaskScheduled, OpenAt: &end, DueAt: &due})
}

// ---- effectiveness

func (p *capa) checkEffectiveness(in opsflow.EffectivenessInput) error {
	if err := p.take(opsflow.CAPAStep.RecordEffectiveness.Name, in.Actor); err != nil {
		return err
	}
	if err := checkSig(in.Signature); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	if in.Outcome == opsflow.OutcomeInconclusive && p.rec.Effectiveness.Extended {
		return opsflow.Invalid("outcome", "the window was already extended once after an inconclusive result: decide effective or ineffective")
	}
	return nil
}

func (p *capa) applyEffectiveness(ctx workflow.Context, in opsflow.EffectivenessInput) error {
	now := p.e.now(ctx).UTC()
	res := opsflow.EffectivenessResult{Cycle: p.rec.Cycle, Outcome: in.Outcome, Data: in.Data, Evidence: in.Evidence, Reason: in.Reason,
		Chart: in.Chart, By: in.Actor.ID, At: now}
	eff := p.rec.Effectiveness
	eff.Results = append(eff.Results, res)
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleApprover, Action: "capa.effectiveness_recorded", Field: "effectiveness.outcome", New: in.Outcome, Reason: in.Reason})
	if c := in.Chart; c != nil {
		// What the cited KPI's chart showed, beside the reviewer's
		// judgement: a record an auditor can weigh one against the other.
		p.e.record(ctx, change{Actor: opsflow.SystemActor, Action: "capa.effectiveness_chart", Field: "effectiveness.chart", New: c.Verdict,
			Reason: fmt.Sprintf("kpi %s: %s", c.KPI, c.Sentence)})
	}
	if err := p.sign(ctx, in.Actor, opsflow.CAPAStep.RecordEffectiveness.Name, in.Signature); err != nil {
		return err
	}
	p.finishPhase(ctx, in.Actor)
	switch in.Outcome {
	case opsflow.OutcomeEffective:
		// A CAPA waiting for its closure signature says so in its state
		// (and lists can find it); before this change it stayed in
		// effectiveness_check, and those runs replay that way.
		if workflow.GetVersion(ctx, changeAwaitingSignature, workflow.DefaultVersion, 1) >= 1 {
			p.setState(ctx, in.Actor, opsflow.RoleApprover, "capa.awaiting_signature", opsflow.CAPAAwaitingSig, "judged effective")
		}
		p.phaseTask(ctx, in.Actor, "closure", "Sign the closure", "", opsflow.RoleApprover, p.timings.ClosureDays)
	case opsflow.OutcomeInconclusive:
		eff.Extended = true
		p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleApprover, Action: "capa.effectiveness_extended", Field: "effectiveness.extended", Old: false, New: true, Reason: in.Reason})
		p.startWindow(ctx, in.Actor, "inconclusive: window extended once")
	case opsflow.OutcomeIneffective:
		p.reopen(ctx, in.Actor, res)
	}
	return nil
}

// reopen archives the cycle and sends the CAPA back to investigation.
func (p *capa) reopen(ctx workflow.Context, actor opsflow.Actor, res opsflow.EffectivenessResult) {
	p.rec.Cycles = append(p.rec.Cycles, opsflow.CAPACycle{Cycle: p.rec.Cycle, Investigation: p.rec.Investigation,
		Actions: p.view().Actions, PlanApproval: p.rec.PlanApproval, Verification: p.rec.Verification, Result: res})
	old := p.rec.Cycle
	p.rec.Cycle++
	p.rec.Investigation, p.rec.Actions, p.rec.PlanApproval, p.rec.PlanProposedBy, p.rec.Verification = nil, []opsflow.Action{}, nil, "", nil
	plan := p.rec.Effectiveness.Plan
	p.rec.Effectiveness = &opsflow.Effectiveness{Plan: plan}
	p.e.record(ctx, change{Actor: actor, Role: opsflow.RoleApprover, Action: "capa.cycle_started", Field: "cycle", Old: old, New: p.rec.Cycle, Reason: res.Reason})
	p.setState(ctx, actor, opsflow.RoleApprover, "capa.reopened", opsflow.CAPAInvestigation, "ineffective: "+res.Reason)
	p.phaseTask(ctx, actor, "investigation", fmt.Sprintf("Re-investigate (cycle %d)", p.rec.Cycle), p.rec.Owner, "", p.timings.InvestigationDays)
}

// ---- closure signature

func (p *capa) checkSign(in opsflow.SignInput) error {
	if err := p.take(opsflow.CAPAStep.SignClosure.Name, in.Actor); err != nil {
		return err
	}
	return in.Validate()
}

func (p *capa) applySign(ctx workflow.Context, in opsflow.SignInput) error {
	if in.LessonsLearned != "" {
		p.rec.LessonsLearned = in.LessonsLearned
		p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleApprover, Action: "capa.lessons_learned", Field: "lessons_learned", New: in.LessonsLearned})
	}
	p.finishPhase(ctx, in.Actor)
	// The signature covers the record as it stands now, before it is
	// closed: what the signer saw and approved.
	if in.Method == "" {
		// Signed before signing passwords: the signer re-entered their
		// token, and the signature was recorded as it was then.
		if err := p.signClosureV1(ctx, in); err != nil {
			return err
		}
	} else if err := p.sign(ctx, in.Actor, opsflow.CAPAStep.SignClosure.Name, &opsflow.ESign{PrintedName: in.PrintedName, Meaning: in.Meaning, Method: in.Method}); err != nil {
		return err
	}
	p.setState(ctx, in.Actor, opsflow.RoleApprover, "capa.closed", opsflow.CAPAClosed, in.Meaning)
	p.close(ctx)
	return nil
}

// sign records a signature of the CAPA as it stands now (see signRecord),
// for a signed step; a step given none records none.
func (p *capa) sign(ctx workflow.Context, actor opsflow.Actor, step string, es *opsflow.ESign) error {
	if es == nil {
		return nil
	}
	signed := p.view()
	signed.SignedVersions = nil
	sig, ver, err := signRecord(ctx, p.e, actor, opsflow.RoleApprover, opsflow.ActionSigned, step, p.rec.ID, *es, signed)
	if err != nil {
		return err
	}
	p.rec.Signatures = append(p.rec.Signatures, sig)
	p.rec.SignedVersions = append(p.rec.SignedVersions, ver)
	return nil
}

// signClosureV1 is the closure signature as it was recorded before
// signing passwords (and other signed steps): kept as it was, for the
// running CAPAs that took it.
func (p *capa) signClosureV1(ctx workflow.Context, in opsflow.SignInput) error {
	signed := p.view()
	signed.SignedVersions = nil
	raw, err := json.Marshal(signed) //workflowcheck:ignore encoding/json sorts map keys: its output is deterministic
	if err != nil {
		return fmt.Errorf("encode signed record: %w", err)
	}
	canon, err := opsflow.CanonicalJSON(raw) //workflowcheck:ignore encoding/json sorts map keys: its output is deterministic
	if err != nil {
		return err
	}
	hash, _ := opsflow.RecordHash(canon) //workflowcheck:ignore encoding/json sorts map keys: its output is deterministic
	sig := opsflow.Signature{SignerID: in.Actor.ID, PrintedName: in.PrintedName, SignedAt: p.e.now(ctx).UTC(), Meaning: in.Meaning, RecordHash: hash, Method: "token re-entry"}
	p.rec.Signatures = append(p.rec.Signatures, sig)
	p.rec.SignedVersions = append(p.rec.SignedVersions, opsflow.SignedVersion{RecordHash: hash, Record: canon})
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleApprover, Action: opsflow.ActionSigned, Field: "signatures", New: hash,
		Reason: fmt.Sprintf("%s, signed by %s (%s)", in.Meaning, in.PrintedName, in.Actor.ID)})
	return nil
}

// close stamps the closure and seals the final record: the seal event
// carries its hash, so an inspection pack can prove the record unaltered.
func (p *capa) close(ctx workflow.Context) {
	now := p.e.now(ctx).UTC()
	p.rec.ClosedAt = &now
	d := int(now.Sub(p.rec.OpenedAt) / p.day)
	p.rec.DaysOpen = &d
	p.finishTasks(ctx, opsflow.SystemActor, func(opsflow.Task) bool { return true }, opsflow.TaskCancelled, "CAPA "+string(p.rec.State))
	raw, _ := json.Marshal(p.view())   //workflowcheck:ignore encoding/json sorts map keys: its output is deterministic
	hash, _ := opsflow.RecordHash(raw) //workflowcheck:ignore encoding/json sorts map keys: its output is deterministic
	ev := p.e.record(ctx, change{Actor: opsflow.SystemActor, Action: opsflow.ActionSealed, Field: "record_sha256", New: hash, Reason: "final record sealed at " + string(p.rec.State)})
	for _, to := range []string{p.rec.Owner, p.rec.ReportedBy} {
		p.e.notifyWith(ev, opsflow.Notification{Kind: opsflow.NotifyClosed, To: to, Subject: "CAPA " + p.rec.Title + " is " + string(p.rec.State)})
		if p.rec.ReportedBy == p.rec.Owner {
			break
		}
	}
}

// ---- extensions

func (p *capa) pendingExtension() *opsflow.Extension { return p.rec.PendingExtension() }

// checkRequestExtension: a new due date must be later than the current one
// (an extension, never a way to shorten someone's time silently).
func (p *capa) checkRequestExtension(in opsflow.ExtensionInput) error {
	if err := p.take(opsflow.CAPAStep.RequestExtension.Name, in.Actor); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	if err := p.gate().CanRequestExtension(in.TaskID, in.Actor); err != nil {
		return err
	}
	t, _ := p.board.Find(in.TaskID)
	if t.DueAt != nil && !in.NewDue.After(*t.DueAt) {
		return opsflow.Invalid("new_due", "new_due must be later than the current due date %s", t.DueAt.UTC().Format(time.RFC3339))
	}
	return nil
}

func (p *capa) applyRequestExtension(ctx workflow.Context, in opsflow.ExtensionInput) error {
	now := p.e.now(ctx).UTC()
	t, _ := p.board.Find(in.TaskID)
	x := opsflow.Extension{ID: fmt.Sprintf("ext-%d", len(p.rec.Extensions)+1), TaskID: t.ID, RequestedBy: in.Actor.ID, RequestedAt: now,
		Reason: in.Reason, NewDue: in.NewDue.UTC(), Status: "pending"}
	if t.DueAt != nil {
		d := *t.DueAt
		x.OldDue = &d
	}
	p.rec.Extensions = append(p.rec.Extensions, x)
	p.e.record(ctx, change{Actor: in.Actor, Action: "capa.extension_requested", Field: "tasks." + t.ID + ".due_at", Old: x.OldDue, New: x.NewDue, Reason: in.Reason})
	return nil
}

func (p *capa) checkDecideExtension(in opsflow.DecideExtensionInput) error {
	if err := p.take(opsflow.CAPAStep.DecideExtension.Name, in.Actor); err != nil {
		return err
	}
	return in.Validate()
}

func (p *capa) applyDecideExtension(ctx workflow.Context, in opsflow.DecideExtensionInput) error {
	now := p.e.now(ctx).UTC()
	x := p.pendingExtension()
	x.DecidedBy, x.DecidedAt, x.Comment = in.Actor.ID, &now, in.Comment
	if !*in.Approved {
		x.Status = "rejected"
		p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleApprover, Action: "capa.extension_rejected", Field: "extensions." + x.ID, Old: "pending", New: "rejected", Reason: in.Comment})
		return nil
	}
	x.Status = "approved"
	p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleApprover, Action: "capa.extension_approved", Field: "extensions." + x.ID, Old: "pending", New: "approved", Reason: in.Comment})
	if t, err := p.board.Find(x.TaskID); err == nil && (t.State.Active() || t.State == opsflow.TaskScheduled) {
		old := t.DueAt
		due := x.NewDue
		// A new due date restarts the reminder and escalation ladder.
		t.DueAt, t.RemindedAt, t.EscalationLevel, t.EscalatedTo, t.EscalatedAt = &due, nil, 0, "", nil
		p.e.record(ctx, change{Actor: in.Actor, Role: opsflow.RoleApprover, Action: "task.due_changed", Field: "tasks." + t.ID + ".due_at", Old: old, New: due,
			Reason: fmt.Sprintf("extension %s requested by %s: %s", x.ID, x.RequestedBy, x.Reason)})
		if i := slices.IndexFunc(p.rec.Actions, func(a opsflow.Action) bool { return a.ID == t.ID }); i >= 0 {
			p.rec.Actions[i].DueAt = due
		}
	}
	return nil
}

// ---- cancel

func (p *capa) checkCancel(in opsflow.CancelInput) error {
	if err := p.take(opsflow.CAPAStep.Cancel.Name, in.Actor); err != nil {
		return err
	}
	return in.Validate()
}

func (p *capa) applyCancel(ctx workflow.Context, in opsflow.CancelInput) error {
	now := p.e.now(ctx).UTC()
	p.rec.Cancellation = &opsflow.Cancellation{By: in.Actor.ID, At: now, Reason: in.Reason, From: p.rec.State}
	p.finishTasks(ctx, in.Actor, func(opsflow.Task) bool { return true }, opsflow.TaskCancelled, in.Reason)
	p.setState(ctx, in.Actor, opsflow.RoleOwner, "capa.cancelled", opsflow.CAPACancelled, in.Reason)
	p.close(ctx)
	return nil
}
