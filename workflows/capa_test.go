package workflows

import (
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/opsflow/opsflow"
)

var (
	wfAlice = opsflow.Actor{ID: "alice", Name: "Alice Martin", Roles: []opsflow.Role{opsflow.RoleRequester, opsflow.RoleOwner}}
	wfDave  = opsflow.Actor{ID: "dave", Name: "Dave Okafor", Roles: []opsflow.Role{opsflow.RoleRequester, opsflow.RoleOwner}}
	wfBob   = opsflow.Actor{ID: "bob", Name: "Bob Chen", Roles: []opsflow.Role{opsflow.RoleApprover}}
	wfErin  = opsflow.Actor{ID: "erin", Name: "Erin Silva", Roles: []opsflow.Role{opsflow.RoleApprover, opsflow.RoleOwner}}
)

const day = time.Hour // a process day in these tests

// capaScript drives a CAPA through updates at given workflow times. Each
// step runs at its offset; a failing step fails the test with its name.
type capaScript struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	results map[string]*updateResult
	n       int
}

func (s *capaScript) at(offset time.Duration, name, update string, arg any) *updateResult {
	s.n++
	r := &updateResult{}
	s.results[name] = r
	id := name
	s.env.RegisterDelayedCallback(func() { s.env.UpdateWorkflow(update, id, r, arg) }, offset)
	return r
}

func newScript(t *testing.T) (*capaScript, *store) {
	env, st := newEnv(t)
	return &capaScript{t: t, env: env, results: map[string]*updateResult{}}, st
}

func capaRequest() opsflow.CAPARequest {
	return opsflow.CAPARequest{Title: "Cracked housings", Type: opsflow.CAPATypeCorrective,
		Source: opsflow.CAPASource{Type: "complaint", Refs: []string{"CMP-7"}}, Problem: opsflow.Problem{What: "cracks", HowMany: 3},
		Owner: "alice", Containment: []opsflow.ActionInput{{Description: "quarantine lot 42", Owner: "dave", Due: opsflow.Due{Days: 1}}}}
}

func investigation(actor opsflow.Actor) opsflow.InvestigationInput {
	return opsflow.InvestigationInput{Actor: actor, Investigation: opsflow.Investigation{
		Problem: opsflow.Problem{What: "cracks", Where: "line 2", When: "week 47", HowMany: 3},
		Method:  "5_whys", Whys: []opsflow.Why{{Question: "why?", Answer: "overtorque"}},
		RootCauses:  []opsflow.RootCause{{Statement: "tool drift", Category: "machine", Verified: true, Evidence: "cal report"}},
		EscapePoint: "final inspection", ExtentReview: "lines 1-4: none",
	}}
}

func plan(actor opsflow.Actor) opsflow.PlanInput {
	return opsflow.PlanInput{Actor: actor,
		Actions:       []opsflow.ActionInput{{Kind: "corrective", Description: "calibrate", Owner: "dave", Due: opsflow.Due{Days: 5}}},
		Effectiveness: opsflow.EffectivenessPlan{Metric: "crack rate", Criterion: "0 in 3 lots", WindowDays: 10}}
}

var yes, no = true, false

func TestCAPAWorkflowLifecycleWithEscalationAndWindow(t *testing.T) {
	s, st := newScript(t)
	h := time.Minute
	// reported: triage by the owner
	s.at(1*h, "triage", opsflow.CAPAStep.Triage.Name, opsflow.TriageInput{Actor: wfAlice, Severity: 4, Occurrence: 3, Detection: 4})
	// the owner may not decide on their own CAPA
	s.at(2*h, "decide-by-owner", opsflow.CAPAStep.Decide.Name, opsflow.DecideInput{Actor: wfAlice, Required: &yes, Rationale: "x"})
	s.at(3*h, "decide", opsflow.CAPAStep.Decide.Name, opsflow.DecideInput{Actor: wfBob, Required: &yes, Rationale: "customer impact"})
	// the containment action (due in 1 day) is done late, after escalation
	s.at(3*day, "containment-done", opsflow.UpdateMoveTask, opsflow.TaskMove{Actor: wfDave, TaskID: "containment-1", State: opsflow.TaskDone})
	s.at(3*day+h, "verify-containment-by-doer", opsflow.CAPAStep.VerifyContainment.Name, opsflow.VerifyContainmentInput{Actor: wfDave, Comment: "x"})
	s.at(3*day+2*h, "verify-containment", opsflow.CAPAStep.VerifyContainment.Name, opsflow.VerifyContainmentInput{Actor: wfAlice, Comment: "no cracked units left"})
	s.at(4*day, "investigate-wrong-state", opsflow.CAPAStep.ProposePlan.Name, plan(wfAlice))
	s.at(4*day+h, "investigate", opsflow.CAPAStep.RecordInvestigation.Name, investigation(wfAlice))
	s.at(5*day, "propose", opsflow.CAPAStep.ProposePlan.Name, plan(wfAlice))
	s.at(5*day+h, "approve-by-owner", opsflow.CAPAStep.ApprovePlan.Name, opsflow.ApprovePlanInput{Actor: wfAlice, Approved: &yes})
	s.at(5*day+2*h, "approve", opsflow.CAPAStep.ApprovePlan.Name, opsflow.ApprovePlanInput{Actor: wfBob, Approved: &yes})
	s.at(6*day, "complete", opsflow.CAPAStep.CompleteAction.Name, opsflow.CompleteActionInput{Actor: wfDave, ActionID: "c1-action-7", Evidence: opsflow.Evidence{Text: "calibrated", Refs: []string{"CAL-9"}}})
	s.at(6*day+h, "verify-by-implementer", opsflow.CAPAStep.VerifyImplementation.Name, opsflow.VerifyImplementationInput{Actor: wfDave, ImplementedAsPlanned: &yes, NoAdverseEffect: &yes, AdverseEffectAssessment: "x"})
	s.at(6*day+2*h, "verify", opsflow.CAPAStep.VerifyImplementation.Name, opsflow.VerifyImplementationInput{Actor: wfBob, ImplementedAsPlanned: &yes, NoAdverseEffect: &yes, AdverseEffectAssessment: "no side effects in 2 lots"})
	// the window is 10 days from ~6 days: a review at day 10 is too early
	s.at(10*day, "review-too-early", opsflow.CAPAStep.RecordEffectiveness.Name, opsflow.EffectivenessInput{Actor: wfBob, Outcome: "effective", Evidence: opsflow.Evidence{Text: "x"}})
	s.at(17*day, "review-inconclusive", opsflow.CAPAStep.RecordEffectiveness.Name, opsflow.EffectivenessInput{Actor: wfBob, Outcome: "inconclusive", Evidence: opsflow.Evidence{Text: "1 lot only"}, Reason: "too few lots"})
	s.at(28*day, "review", opsflow.CAPAStep.RecordEffectiveness.Name, opsflow.EffectivenessInput{Actor: wfBob, Outcome: "effective", Evidence: opsflow.Evidence{Text: "0 cracks in 4 lots"}})
	s.at(28*day+h, "sign", opsflow.CAPAStep.SignClosure.Name, opsflow.SignInput{Actor: wfBob, PrintedName: "Bob Chen", Meaning: "approved for closure"})
	s.env.ExecuteWorkflow(CAPA, CAPAInput{Actor: wfAlice, Request: capaRequest(), Day: day})
	if err := s.env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	wantErr := map[string]string{
		"decide-by-owner": opsflow.EFORBIDDEN, "verify-containment-by-doer": opsflow.EFORBIDDEN,
		"investigate-wrong-state": opsflow.ECONFLICT, "approve-by-owner": opsflow.EFORBIDDEN,
		"verify-by-implementer": opsflow.EFORBIDDEN, "review-too-early": opsflow.ECONFLICT,
	}
	for name, r := range s.results {
		code := wantErr[name]
		if code == "" {
			if r.err != nil {
				t.Errorf("%s: %v", name, r.err)
			}
			continue
		}
		if e, ok := OpsError(r.err); !ok || e.Code != code {
			t.Errorf("%s: got %v, want %s", name, r.err, code)
		}
	}
	if e, _ := OpsError(s.results["investigate-wrong-state"].err); e == nil || e.State != "investigation" {
		t.Errorf("wrong-state error does not name the state: %+v", e)
	}
	last := st.snaps[len(st.snaps)-1]
	if last.Process.State != "closed" || last.Process.ClosedAt == nil || last.Process.Search["risk_level"] != "high" {
		t.Fatalf("final row: %+v", last.Process)
	}
	acts := st.actions()
	for _, want := range []string{"capa.reported", "capa.risk_scored", "task.reminded", "task.escalated", "capa.containment_verified",
		"capa.plan_approved", "capa.action_completed", "capa.verification_started", "capa.effectiveness_extended", opsflow.ActionSigned, opsflow.ActionSealed} {
		if !slices.Contains(acts, want) {
			t.Errorf("no %s in the audit trail %v", want, acts)
		}
	}
	// The containment task, due after one day and done on day three, was
	// escalated to the owner and then to the approver tier (day 1 + 0, + 3
	// days is day 4: only the first tier fired).
	var escalations []string
	for _, e := range st.events {
		if e.Action == "task.escalated" && strings.HasPrefix(e.Field, "tasks.containment-1") {
			escalations = append(escalations, e.New)
		}
	}
	if len(escalations) != 1 {
		t.Errorf("containment escalations: %v", escalations)
	}
	if v := opsflow.VerifyChain(chain(st.events, last.Process.ID)); v != nil {
		t.Errorf("chain: %+v", v)
	}
}

// chain hashes the recorded events the way the store does.
func chain(events []opsflow.AuditEvent, stream string) []opsflow.AuditEvent {
	out := make([]opsflow.AuditEvent, len(events))
	prev := ""
	for i, e := range events {
		e.Stream, e.PrevHash = stream, prev
		e.Hash = e.ComputeHash()
		prev, out[i] = e.Hash, e
	}
	return out
}

func TestCAPAWorkflowReopensAfterIneffective(t *testing.T) {
	s, st := newScript(t)
	h := time.Minute
	s.at(h, "triage", opsflow.CAPAStep.Triage.Name, opsflow.TriageInput{Actor: wfAlice, Severity: 2, Occurrence: 2, Detection: 2})
	s.at(2*h, "decide", opsflow.CAPAStep.Decide.Name, opsflow.DecideInput{Actor: wfBob, Required: &yes, Rationale: "recurring"})
	s.at(3*h, "contain", opsflow.UpdateMoveTask, opsflow.TaskMove{Actor: wfDave, TaskID: "containment-1", State: opsflow.TaskDone})
	s.at(4*h, "verify-containment", opsflow.CAPAStep.VerifyContainment.Name, opsflow.VerifyContainmentInput{Actor: wfAlice, Comment: "ok"})
	s.at(5*h, "investigate", opsflow.CAPAStep.RecordInvestigation.Name, investigation(wfAlice))
	s.at(6*h, "propose", opsflow.CAPAStep.ProposePlan.Name, plan(wfAlice))
	s.at(7*h, "approve", opsflow.CAPAStep.ApprovePlan.Name, opsflow.ApprovePlanInput{Actor: wfBob, Approved: &yes})
	// completed through the shared task move, with evidence references
	s.at(8*h, "complete", opsflow.UpdateMoveTask, opsflow.TaskMove{Actor: wfDave, TaskID: "c1-action-7", State: opsflow.TaskDone, Evidence: []string{"CAL-9"}})
	s.at(9*h, "verify", opsflow.CAPAStep.VerifyImplementation.Name, opsflow.VerifyImplementationInput{Actor: wfBob, ImplementedAsPlanned: &yes, NoAdverseEffect: &yes, AdverseEffectAssessment: "none"})
	s.at(11*day, "review-by-owner", opsflow.CAPAStep.RecordEffectiveness.Name, opsflow.EffectivenessInput{Actor: wfAlice, Outcome: "effective", Evidence: opsflow.Evidence{Text: "x"}})
	s.at(11*day+h, "ineffective", opsflow.CAPAStep.RecordEffectiveness.Name, opsflow.EffectivenessInput{Actor: wfErin, Outcome: "ineffective", Evidence: opsflow.Evidence{Text: "2 cracks"}, Reason: "cracks recur"})
	s.at(11*day+2*h, "investigate-2", opsflow.CAPAStep.RecordInvestigation.Name, investigation(wfAlice))
	s.at(11*day+3*h, "cancel-no-reason", opsflow.CAPAStep.Cancel.Name, opsflow.CancelInput{Actor: wfAlice})
	s.at(11*day+4*h, "cancel", opsflow.CAPAStep.Cancel.Name, opsflow.CancelInput{Actor: wfAlice, Reason: "superseded by CAPA-9"})
	s.env.ExecuteWorkflow(CAPA, CAPAInput{Actor: wfAlice, Request: capaRequest(), Day: day})
	if err := s.env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	for name, r := range s.results {
		switch name {
		case "review-by-owner":
			if e, ok := OpsError(r.err); !ok || e.Code != opsflow.EFORBIDDEN {
				t.Errorf("%s: %v, want forbidden", name, r.err)
			}
		case "cancel-no-reason":
			if e, ok := OpsError(r.err); !ok || e.Field != "reason" {
				t.Errorf("%s: %v, want invalid reason", name, r.err)
			}
		default:
			if r.err != nil {
				t.Errorf("%s: %v", name, r.err)
			}
		}
	}
	reopened := s.results["investigate-2"].ack
	if reopened.State != "action_plan" {
		t.Errorf("after reinvestigation: %s", reopened.State)
	}
	last := st.snaps[len(st.snaps)-1].Process
	if last.State != "cancelled" {
		t.Fatalf("final state %s", last.State)
	}
	for _, want := range []string{"capa.cycle_started", "capa.reopened", "capa.cancelled", opsflow.ActionSealed} {
		if !slices.Contains(st.actions(), want) {
			t.Errorf("no %s in %v", want, st.actions())
		}
	}
	if !strings.Contains(string(last.Record), `"cycle":2`) || !strings.Contains(string(last.Record), `"cycles":[{"cycle":1`) {
		t.Errorf("cycle history lost: %s", last.Record)
	}
}

func TestCAPAWorkflowExtensionAndNoCAPA(t *testing.T) {
	s, st := newScript(t)
	h := time.Minute
	later := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s.at(h, "extend", opsflow.CAPAStep.RequestExtension.Name, opsflow.ExtensionInput{Actor: wfAlice, TaskID: "triage-2", NewDue: later, Reason: "waiting for lab data"})
	s.at(2*h, "self-approve", opsflow.CAPAStep.DecideExtension.Name, opsflow.DecideExtensionInput{Actor: wfAlice, Approved: &yes})
	s.at(3*h, "approve-ext", opsflow.CAPAStep.DecideExtension.Name, opsflow.DecideExtensionInput{Actor: wfBob, Approved: &yes, Comment: "ok"})
	s.at(4*h, "triage", opsflow.CAPAStep.Triage.Name, opsflow.TriageInput{Actor: wfAlice, Severity: 1, Occurrence: 1, Detection: 1})
	s.at(5*h, "decide-no", opsflow.CAPAStep.Decide.Name, opsflow.DecideInput{Actor: wfBob, Required: &no, Rationale: "cosmetic, one-off"})
	s.env.ExecuteWorkflow(CAPA, CAPAInput{Actor: wfAlice, Request: capaRequest(), Day: day})
	if err := s.env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if e, ok := OpsError(s.results["self-approve"].err); !ok || e.Code != opsflow.EFORBIDDEN {
		t.Errorf("self-approved extension: %v", s.results["self-approve"].err)
	}
	for _, n := range []string{"extend", "approve-ext", "triage", "decide-no"} {
		if err := s.results[n].err; err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if got := st.snaps[len(st.snaps)-1].Process.State; got != "closed_no_capa" {
		t.Errorf("state %s", got)
	}
	if !slices.Contains(st.actions(), "task.due_changed") {
		t.Errorf("due change not audited: %v", st.actions())
	}
}

// An untouched CAPA: the triage task is reminded before its due date, then
// escalates owner → approver → admin, each tier recorded and notified; the
// record shows the escalation level; a cancel then stops the timers.
func TestCAPAWorkflowEscalatesUntouchedTriage(t *testing.T) {
	s, st := newScript(t)
	req := capaRequest()
	req.Containment = nil
	s.at(20*day, "cancel", opsflow.CAPAStep.Cancel.Name, opsflow.CancelInput{Actor: wfBob, Reason: "duplicate"})
	s.env.ExecuteWorkflow(CAPA, CAPAInput{Actor: wfAlice, Request: req, Day: day})
	if err := s.env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if r := s.results["cancel"]; r.err != nil {
		t.Fatalf("cancel: %v", r.err)
	}
	var got, to []string
	for _, e := range st.events {
		if strings.HasPrefix(e.Action, "task.reminded") || strings.HasPrefix(e.Action, "task.escalated") {
			got = append(got, e.Action+" "+e.New)
		}
	}
	want := []string{"task.reminded reminder: due 1970-01-03T00:00:00Z", "task.escalated 1", "task.escalated 2", "task.escalated 3"}
	if len(got) != len(want) || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] || !strings.HasPrefix(got[0], "task.reminded") {
		t.Errorf("timers: %v", got)
	}
	for _, sn := range st.snaps {
		for _, n := range sn.Notify {
			to = append(to, n.To+":"+n.Kind)
		}
	}
	if !equal(to, []string{"alice:assigned", "alice:reminder", "alice:overdue", "approver:escalated", "admin:escalated", "alice:process_closed"}) {
		t.Errorf("notified %v", to)
	}
	var escalated bool
	for _, sn := range st.snaps {
		escalated = escalated || strings.Contains(string(sn.Process.Record), `"escalation_level":3`)
	}
	if !escalated {
		t.Errorf("the record never showed escalation level 3")
	}
}

// The CAPA's owner hands the triage task to someone else: recorded, the
// new assignee is told; a bystander may not, nor may a finished task move.
func TestCAPAWorkflowReassignsATask(t *testing.T) {
	const h = time.Hour
	s, st := newScript(t)
	req := capaRequest()
	req.Containment = nil
	s.at(h, "by-bystander", opsflow.UpdateReassignTask, opsflow.TaskReassign{Actor: wfDave, TaskID: "triage-1", Assignee: "dave"})
	s.at(2*h, "by-owner", opsflow.UpdateReassignTask, opsflow.TaskReassign{Actor: wfAlice, TaskID: "triage-1", Assignee: "dave", Reason: "on leave"})
	s.at(3*h, "again", opsflow.UpdateReassignTask, opsflow.TaskReassign{Actor: wfAlice, TaskID: "triage-1", Assignee: "dave"})
	s.at(4*h, "cancel", opsflow.CAPAStep.Cancel.Name, opsflow.CancelInput{Actor: wfBob, Reason: "duplicate"})
	s.env.ExecuteWorkflow(CAPA, CAPAInput{Actor: wfAlice, Request: req, Day: day})
	if err := s.env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if e, ok := OpsError(s.results["by-bystander"].err); !ok || e.Code != opsflow.EFORBIDDEN {
		t.Errorf("a bystander's reassignment: %v", s.results["by-bystander"].err)
	}
	if err := s.results["by-owner"].err; err != nil {
		t.Fatalf("the owner's reassignment: %v", err)
	}
	if e, ok := OpsError(s.results["again"].err); !ok || e.Code != opsflow.EINVALID {
		t.Errorf("reassigning to the same person: %v", s.results["again"].err)
	}
	var found bool
	for _, e := range st.events {
		if e.Action == "task.reassigned" {
			found = e.Field == "tasks.triage-1.assignee" && e.Old == "alice" && e.New == "dave" && e.Reason == "on leave" && e.ActorID == "alice"
		}
	}
	if !found {
		t.Errorf("no task.reassigned event alice → dave in the trail")
	}
	var told bool
	for _, sn := range st.snaps {
		for _, n := range sn.Notify {
			told = told || (n.To == "dave" && n.Kind == opsflow.NotifyAssigned && n.TaskID == "triage-1")
		}
	}
	if !told {
		t.Errorf("dave was not told of the task")
	}
}
