package opsflow

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Gate answers, from a process's record alone, whether a person may take
// a step now: the state and role gates that need no input. The workflows
// check them first (then the input), and the web app offers only the forms
// they allow, so there is one copy of each rule.
//
// An error is the answer the API would give for the step (a conflict
// naming the state, a forbidden saying who may) before it looks at a body.
type Gate interface {
	// CanTake gates a step of the kind's step table, by its name (the
	// update's name). Steps on one item (an action, a task, a check-in)
	// pass when the record's state allows them at all; the kind's own
	// methods gate each item.
	CanTake(step string, a Actor) error
	// CanMoveTask gates a task step: the task exists, a may work it and
	// the process lets it move to state to by hand.
	CanMoveTask(taskID string, to TaskState, a Actor) error
	// CanReassignTask gates handing a task to someone else: the task is
	// still to do and a is one of the process's owners or an admin.
	CanReassignTask(taskID string, a Actor) error
}

// GateOf decodes a read-model record of kind k into its Gate.
func GateOf(k Kind, record []byte) (Gate, error) {
	var g Gate
	var err error
	switch k {
	case KindCAPA:
		var c CAPA
		err = json.Unmarshal(record, &c)
		g = c
	case KindKaizen:
		var z Kaizen
		err = json.Unmarshal(record, &z)
		g = z
	case KindOnboarding:
		var o Onboarding
		err = json.Unmarshal(record, &o)
		g = o
	default:
		return nil, fmt.Errorf("gate: unknown kind %q", k)
	}
	if err != nil {
		return nil, fmt.Errorf("gate: decode %s record: %w", k, err)
	}
	return g, nil
}

func unknownStep(k Kind, step string) error {
	return Invalid("step", "a %s has no step %q", k, step)
}

// ---- CAPA

// Kinds of the tasks on a CAPA's board.
const (
	CAPATaskPhase         = "phase"         // tracks a phase's due date; finishes with the phase's step
	CAPATaskContainment   = "containment"   // a containment action
	CAPATaskAction        = "action"        // a corrective or preventive action
	CAPATaskEffectiveness = "effectiveness" // the review, scheduled to open when the window ends
)

func (c CAPA) isOwner(a Actor) bool { return a.ID == c.Owner }

// requireOwner lets the CAPA owner (or an admin) act.
func (c CAPA) requireOwner(a Actor, what string) error {
	if c.isOwner(a) || a.Has(RoleAdmin) {
		return nil
	}
	return Forbidden("only the CAPA owner (%s) may %s", c.Owner, what)
}

// requireIndependent is separation of duties: an approver who is not the
// CAPA owner.
func (c CAPA) requireIndependent(a Actor, what string) error {
	if err := a.Require(RoleApprover); err != nil {
		return Forbidden("%s needs the approver role", what)
	}
	if c.isOwner(a) {
		return Forbidden("separation of duties: the CAPA owner (%s) may not %s; another approver must", a.ID, what)
	}
	return nil
}

func (c CAPA) board() *Board { return &Board{Tasks: c.Tasks} }

// PendingExtension returns the extension request waiting for a decision.
func (c CAPA) PendingExtension() *Extension {
	for i := range c.Extensions {
		if c.Extensions[i].Status == "pending" {
			return &c.Extensions[i]
		}
	}
	return nil
}

// ReviewTask returns the latest effectiveness review task.
func (c CAPA) ReviewTask() *Task {
	for i := len(c.Tasks) - 1; i >= 0; i-- {
		if t := &c.Tasks[i]; t.Kind == CAPATaskEffectiveness {
			return t
		}
	}
	return nil
}

// CanTake implements Gate.
func (c CAPA) CanTake(step string, a Actor) error {
	s := CAPAStep
	if err := CheckStep(step, c.State); err != nil {
		return err
	}
	switch step {
	case s.Triage.Name:
		if !c.isOwner(a) && !a.Has(RoleApprover) {
			return Forbidden("risk scoring is for the CAPA owner or an approver")
		}
	case s.Decide.Name:
		return c.requireIndependent(a, "decide whether a CAPA is required")
	case s.AddContainment.Name:
		return c.requireOwner(a, "add containment actions")
	case s.VerifyContainment.Name:
		return c.canVerifyContainment(a)
	case s.RecordInvestigation.Name:
		return c.requireOwner(a, "record the investigation")
	case s.ProposePlan.Name:
		if c.PlanProposedBy != "" {
			return Conflict(string(c.State), "a plan is already waiting for approval")
		}
		return c.requireOwner(a, "propose the action plan")
	case s.ApprovePlan.Name:
		if c.PlanProposedBy == "" {
			return Conflict(string(c.State), "no plan has been proposed yet")
		}
		return c.requireIndependent(a, "approve the action plan")
	case s.CompleteAction.Name:
		// Which action, and whether a may complete it: CanCompleteAction.
	case s.VerifyImplementation.Name:
		if !c.isOwner(a) && !a.Has(RoleApprover) {
			return Forbidden("verification is for an approver or the CAPA owner")
		}
		for _, x := range c.Actions {
			if x.ImplementedBy == a.ID {
				return Forbidden("separation of duties: %s implemented action %s and may not verify the implementation", a.ID, x.ID)
			}
		}
	case s.RecordEffectiveness.Name:
		return c.canReviewEffectiveness(a)
	case s.SignClosure.Name:
		var res []EffectivenessResult
		if c.Effectiveness != nil {
			res = c.Effectiveness.Results
		}
		if len(res) == 0 || res[len(res)-1].Outcome != OutcomeEffective || res[len(res)-1].Cycle != c.Cycle {
			return Conflict(string(c.State), "closure needs an effective result for cycle %d first", c.Cycle)
		}
		return c.requireIndependent(a, "sign the closure")
	case s.RequestExtension.Name:
		// Which task, and whether a may ask: CanRequestExtension.
		if c.PendingExtension() != nil {
			return Conflict(string(c.State), "an extension request is already pending")
		}
	case s.DecideExtension.Name:
		x := c.PendingExtension()
		if x == nil {
			return Conflict(string(c.State), "no extension request is pending")
		}
		if a.ID == x.RequestedBy {
			return Forbidden("separation of duties: %s requested this extension and may not decide it", a.ID)
		}
		if !a.Has(RoleApprover) {
			return Forbidden("an extension is decided by an approver")
		}
	case s.Cancel.Name:
		if !c.isOwner(a) && !a.Has(RoleApprover) {
			return Forbidden("a CAPA is cancelled by its owner or an approver")
		}
	case UpdateMoveTask:
		// Which task, and which move: CanMoveTask.
	case UpdateReassignTask:
		return MayReassign(a, c.Owner)
	default:
		return unknownStep(KindCAPA, step)
	}
	return nil
}

// canVerifyContainment: the owner or an approver, once every containment
// action is finished and at least one done — and not by whoever did one.
func (c CAPA) canVerifyContainment(a Actor) error {
	if !c.isOwner(a) && !a.Has(RoleApprover) {
		return Forbidden("containment is verified by the CAPA owner or an approver")
	}
	b := c.board()
	done := 0
	for _, ca := range c.Containment {
		t, err := b.Find(ca.ID)
		if err != nil {
			continue
		}
		if t.State.Active() {
			return Conflict(string(c.State), "containment action %s is still %s", t.ID, t.State)
		}
		if t.State == TaskDone {
			done++
			if t.CompletedBy == a.ID {
				return Forbidden("separation of duties: %s completed containment action %s and may not verify it", a.ID, t.ID)
			}
		}
	}
	if done == 0 {
		return Conflict(string(c.State), "no containment action is done yet: add one (add-containment) and complete it")
	}
	return nil
}

// canReviewEffectiveness: once the window has ended, an approver who is
// not the owner (and the named reviewer, if the plan names one).
func (c CAPA) canReviewEffectiveness(a Actor) error {
	t := c.ReviewTask()
	if t == nil || t.State == TaskDone {
		return Conflict(string(c.State), "effectiveness is already recorded; the closure signature is next")
	}
	if t.State == TaskScheduled {
		end := ""
		if c.Effectiveness != nil && c.Effectiveness.WindowEnd != nil {
			end = c.Effectiveness.WindowEnd.UTC().Format(time.RFC3339)
		}
		return Conflict(string(c.State), "the effectiveness window runs until %s", end)
	}
	if c.isOwner(a) {
		return Forbidden("separation of duties: the CAPA owner (%s) may not review effectiveness; an independent reviewer must", a.ID)
	}
	if c.Effectiveness != nil {
		if r := c.Effectiveness.Plan.Reviewer; r != "" && r != a.ID && !a.Has(RoleAdmin) {
			return Forbidden("the effectiveness reviewer is %s", r)
		}
	}
	if !a.Has(RoleApprover) {
		return Forbidden("effectiveness is reviewed by an approver")
	}
	return nil
}

// FindAction returns the action of the current plan with the given ID and
// its task.
func (c CAPA) FindAction(id string) (*Action, *Task, error) {
	i := slices.IndexFunc(c.Actions, func(x Action) bool { return x.ID == id })
	if i < 0 {
		return nil, nil, Invalid("action_id", "no action %q in this CAPA's current plan", id)
	}
	t, err := c.board().Find(id)
	if err != nil {
		return nil, nil, Invalid("action_id", "action %q has no task", id)
	}
	return &c.Actions[i], t, nil
}

// CanCompleteAction gates complete-action for one action: the action's
// owner (or an admin), while its task is open.
func (c CAPA) CanCompleteAction(id string, a Actor) error {
	if err := c.CanTake(CAPAStep.CompleteAction.Name, a); err != nil {
		return err
	}
	_, t, err := c.FindAction(id)
	if err != nil {
		return err
	}
	if !t.CanWork(a) {
		return Forbidden("action %s is assigned to %s", t.ID, t.Assignee)
	}
	return t.CanMove(TaskDone)
}

// CanRequestExtension gates request-extension for one task: a task still
// to do, asked for by its assignee or the CAPA owner.
func (c CAPA) CanRequestExtension(taskID string, a Actor) error {
	if err := c.CanTake(CAPAStep.RequestExtension.Name, a); err != nil {
		return err
	}
	t, err := c.board().Find(taskID)
	if err != nil {
		return Invalid("task_id", "no task %q in this CAPA", taskID)
	}
	if !t.State.Active() && t.State != TaskScheduled {
		return Conflict(string(c.State), "task %s is %s: its due date no longer matters", t.ID, t.State)
	}
	if !t.CanWork(a) && !c.isOwner(a) {
		return Forbidden("only the task's assignee or the CAPA owner may ask to extend it")
	}
	return nil
}

// CanMoveTask implements Gate: containment and action tasks are worked on
// the board; phase and review tasks finish with their CAPA step, and an
// approved action is skipped with a reason, never cancelled.
func (c CAPA) CanMoveTask(taskID string, to TaskState, a Actor) error {
	if err := c.CanTake(UpdateMoveTask, a); err != nil {
		return err
	}
	b := c.board()
	if err := b.CanMove(taskID, to, a); err != nil {
		return err
	}
	t, _ := b.Find(taskID)
	finishing := to == TaskDone || to == TaskSkipped || to == TaskCancelled
	switch {
	case finishing && (t.Kind == CAPATaskPhase || t.Kind == CAPATaskEffectiveness):
		return Conflict(string(c.State), "task %s finishes with its CAPA step (POST /v1/capas/{id}/…), not by a task move", t.ID)
	case t.Kind == CAPATaskAction && to == TaskCancelled:
		return Conflict(string(c.State), "an approved action cannot be cancelled; skip it with a reason")
	}
	return nil
}

// CanReassignTask implements Gate: the CAPA's owner hands its tasks over.
func (c CAPA) CanReassignTask(taskID string, a Actor) error {
	if err := c.CanTake(UpdateReassignTask, a); err != nil {
		return err
	}
	return c.board().CanReassign(taskID, a, c.Owner)
}

// ---- Kaizen

// Kinds of the tasks on a Kaizen board. Decision tasks sit in someone's
// inbox until they take the matching step; they cannot be moved by hand.
const (
	KaizenTaskTriage         = "triage"
	KaizenTaskPlan           = "plan"
	KaizenTaskApproval       = "plan-approval"
	KaizenTaskCountermeasure = "countermeasure"
	KaizenTaskRegression     = "regression"
	// KaizenTaskRegressionDecision waits for the sponsor's decision after
	// a regression was investigated.
	KaizenTaskRegressionDecision = "regression-decision"
)

// inPhase returns a conflict unless the initiative is in one of phases.
func (k Kaizen) inPhase(what string, phases ...KaizenPhase) error {
	if slices.Contains(phases, k.Phase) {
		return nil
	}
	names := make([]string, len(phases))
	for i, ph := range phases {
		names[i] = string(ph)
	}
	return Conflict(string(k.Phase), "%s is possible in %s, not %s", what, strings.Join(names, " or "), k.Phase)
}

// RegressionDecisionPending reports whether the sponsor owes a decision
// after a regression.
func (k Kaizen) RegressionDecisionPending() bool {
	for _, t := range k.Tasks {
		if t.Kind == KaizenTaskRegressionDecision && t.State.Active() {
			return true
		}
	}
	return false
}

// CanTake implements Gate.
func (k Kaizen) CanTake(step string, a Actor) error {
	s := KaizenStep
	switch step {
	case s.Triage.Name:
		if err := k.inPhase("triage", KaizenTriage); err != nil {
			return err
		}
		return k.CheckSponsorAct(a, "triage")
	case s.SubmitPlan.Name:
		if err := k.inPhase("submitting a plan", KaizenPlan); err != nil {
			return err
		}
		if !k.CanManage(a) {
			return Forbidden("only the owner, %s, submits the plan", k.Owner)
		}
	case s.ApprovePlan.Name:
		if err := k.inPhase("approving a plan", KaizenPlan); err != nil {
			return err
		}
		if k.Plan == nil || k.PlanApproval != nil {
			return Conflict(string(k.Phase), "no plan is awaiting approval")
		}
		return k.CheckSponsorAct(a, "plan approval")
	case s.Observe.Name:
		if err := k.inPhase("recording observations", KaizenCheck, KaizenAct); err != nil {
			return err
		}
		if !k.CanManage(a) {
			return Forbidden("only the owner, %s, records observations", k.Owner)
		}
	case s.Act.Name:
		if err := k.inPhase("deciding how to act", KaizenAct); err != nil {
			return err
		}
		if !k.CanManage(a) {
			return Forbidden("only the owner, %s, decides how to act", k.Owner)
		}
		if len(k.Observations) == 0 {
			return Conflict(string(k.Phase), "record the check's observations before deciding")
		}
	case s.RecordImpact.Name:
		if k.Phase.Final() {
			return Conflict(string(k.Phase), "the initiative is %s: impact is locked", k.Phase)
		}
		if !k.CanManage(a) && a.ID != k.Sponsor {
			return Forbidden("only the owner or the sponsor records impact")
		}
	case s.Cancel.Name:
		if k.Phase.Final() {
			return Conflict(string(k.Phase), "the initiative is already %s", k.Phase)
		}
		if !k.CanManage(a) && a.ID != k.Sponsor {
			return Forbidden("only the owner or the sponsor cancels an initiative")
		}
	case s.DecideRegression.Name:
		if err := k.inPhase("deciding after a regression", KaizenSustain); err != nil {
			return err
		}
		if !k.RegressionDecisionPending() {
			return Conflict(string(k.Phase), "no regression decision is pending")
		}
		return k.CheckSponsorAct(a, "the regression decision")
	case UpdateMoveTask:
		// Which task, and which move: CanMoveTask.
	case UpdateReassignTask:
		if k.Phase.Final() {
			return Conflict(string(k.Phase), "the initiative is %s and takes no more changes", k.Phase)
		}
		return MayReassign(a, k.Owner, k.Sponsor)
	default:
		return unknownStep(KindKaizen, step)
	}
	return nil
}

// CanMoveTask implements Gate: decision tasks close with their decision;
// countermeasures and regression tasks are worked on the board.
func (k Kaizen) CanMoveTask(taskID string, to TaskState, a Actor) error {
	b := &Board{Tasks: k.Tasks}
	t, err := b.Find(taskID)
	if err != nil {
		return err
	}
	switch t.Kind {
	case KaizenTaskTriage, KaizenTaskPlan, KaizenTaskApproval, KaizenTaskRegressionDecision:
		return Conflict(string(k.Phase), "task %s closes when its decision is taken (triage, submit-plan, approve-plan or decide-regression), not by hand", t.ID)
	}
	return b.CanMove(taskID, to, a)
}

// CanReassignTask implements Gate: the owner or the sponsor hands an
// initiative's tasks over.
func (k Kaizen) CanReassignTask(taskID string, a Actor) error {
	if err := k.CanTake(UpdateReassignTask, a); err != nil {
		return err
	}
	b := &Board{Tasks: k.Tasks}
	return b.CanReassign(taskID, a, k.Owner, k.Sponsor)
}

// ---- Onboarding

// OnboardingTaskCheckin is the kind of the tasks that stand for the
// check-ins.
const OnboardingTaskCheckin = "checkin"

func (o Onboarding) open() error {
	if o.State.Final() {
		return Conflict(string(o.State), "the onboarding is %s", o.State)
	}
	return nil
}

// mayManage: HR, admins and the hire's own manager steer an onboarding.
func (o Onboarding) mayManage(a Actor) bool {
	return a.Has(RoleHR) || a.ID == o.Placement.ManagerID
}

// TemplateTask returns the template task a task was planned from.
func (o Onboarding) TemplateTask(id string) (TaskTemplate, bool) {
	for _, tt := range o.Plan {
		if tt.ID == id {
			return tt, true
		}
	}
	return TaskTemplate{}, false
}

// ProvisioningOf returns the provisioning status of a task, if it has one.
func (o Onboarding) ProvisioningOf(taskID string) *ProvisionStatus {
	for i := range o.Provisioning {
		if o.Provisioning[i].TaskID == taskID {
			return &o.Provisioning[i]
		}
	}
	return nil
}

// CanTake implements Gate.
func (o Onboarding) CanTake(step string, a Actor) error {
	s := OnboardingStep
	if err := o.open(); err != nil {
		return err
	}
	switch step {
	case s.CheckIn.Name:
		// Which day is open: CanCheckIn.
		if a.ID != o.Placement.ManagerID && !a.Has(RoleHR) {
			return Forbidden("only the hire's manager (%s) or HR records check-ins", o.Placement.ManagerID)
		}
	case s.MoveStart.Name:
		if !o.mayManage(a) {
			return Forbidden("only HR or the hire's manager may move the start date")
		}
		if o.State.Started() {
			return Conflict(string(o.State), "the hire has already started")
		}
	case s.Cancel.Name:
		if !o.mayManage(a) {
			return Forbidden("only HR or the hire's manager may cancel an onboarding")
		}
	case s.Retry.Name, UpdateMoveTask:
		// Which task: CanRetry, CanMoveTask.
	case UpdateReassignTask:
		return MayReassign(a, o.reassigners(a)...)
	default:
		return unknownStep(KindOnboarding, step)
	}
	return nil
}

// reassigners are who may hand an onboarding's tasks over: the hire's
// manager, and a, when a is HR (HR runs onboardings).
func (o Onboarding) reassigners(a Actor) []string {
	owners := []string{o.Placement.ManagerID}
	if a.Has(RoleHR) {
		owners = append(owners, a.ID)
	}
	return owners
}

// CanReassignTask implements Gate.
func (o Onboarding) CanReassignTask(taskID string, a Actor) error {
	if err := o.CanTake(UpdateReassignTask, a); err != nil {
		return err
	}
	return o.Board.CanReassign(taskID, a, o.reassigners(a)...)
}

// CanCheckIn gates the day-N check-in: the manager or HR, once its day
// has come, and once.
func (o Onboarding) CanCheckIn(day int, a Actor) error {
	if err := o.CanTake(OnboardingStep.CheckIn.Name, a); err != nil {
		return err
	}
	t, err := o.Board.Find(CheckinTaskID(day))
	if err != nil {
		return Invalid("day", "day must be 30, 60 or 90")
	}
	switch {
	case t.State == TaskDone:
		return Conflict(string(o.State), "the day-%d check-in is already held", day)
	case !t.State.Active():
		open := ""
		if t.OpenAt != nil {
			open = t.OpenAt.UTC().Format(time.RFC3339)
		}
		return Conflict(string(o.State), "the day-%d check-in is not due yet (opens %s)", day, open)
	}
	return nil
}

// CanRetry gates retry-provisioning for one task: blocked by a failed
// webhook, retried by whoever may work the task or HR.
func (o Onboarding) CanRetry(taskID string, a Actor) error {
	if err := o.CanTake(OnboardingStep.Retry.Name, a); err != nil {
		return err
	}
	t, err := o.Board.Find(taskID)
	if err != nil {
		return err
	}
	ps := o.ProvisioningOf(taskID)
	if ps == nil {
		return Invalid("task_id", "task %s has no provisioning webhook", taskID)
	}
	if !t.CanWork(a) && !a.Has(RoleHR) {
		return Forbidden("task %s is assigned to %s", t.ID, t.Assignee+string(t.Role))
	}
	if ps.Status != ProvisionFailed || t.State != TaskBlocked {
		return Conflict(string(t.State), "task %s is %s with provisioning %s; only a blocked, failed provisioning can be retried", t.ID, t.State, ps.Status)
	}
	return nil
}

// CanMoveTask implements Gate: check-ins are recorded with their notes,
// required tasks are never skipped or cancelled (skipped never counts as
// done, so completion would be out of reach), and a provisioning task
// whose webhook is running waits for it.
func (o Onboarding) CanMoveTask(taskID string, to TaskState, a Actor) error {
	if err := o.CanTake(UpdateMoveTask, a); err != nil {
		return err
	}
	if err := o.Board.CanMove(taskID, to, a); err != nil {
		return err
	}
	t, _ := o.Board.Find(taskID)
	if t.Kind == OnboardingTaskCheckin {
		return Invalid("task_id", "check-ins are recorded with POST /v1/onboardings/{id}/check-ins")
	}
	if tt, ok := o.TemplateTask(taskID); ok && !tt.Optional && (to == TaskSkipped || to == TaskCancelled) {
		return Invalid("state", "task %s is required and cannot be %s", taskID, to)
	}
	if ps := o.ProvisioningOf(taskID); ps != nil && (ps.Status == ProvisionPending || ps.Status == ProvisionRunning) {
		return Conflict(string(t.State), "task %s is being provisioned; wait for the webhook", taskID)
	}
	return nil
}

// Every record is a Gate.
var (
	_ Gate = CAPA{}
	_ Gate = Kaizen{}
	_ Gate = Onboarding{}
)
