package opsflow_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

var (
	alice = opsflow.Actor{ID: "alice", Name: "Alice", Roles: []opsflow.Role{opsflow.RoleOwner, opsflow.RoleRequester}}
	dave  = opsflow.Actor{ID: "dave", Name: "Dave", Roles: []opsflow.Role{opsflow.RoleOwner}}
	bob   = opsflow.Actor{ID: "bob", Name: "Bob", Roles: []opsflow.Role{opsflow.RoleApprover}}
	erin  = opsflow.Actor{ID: "erin", Name: "Erin", Roles: []opsflow.Role{opsflow.RoleApprover, opsflow.RoleOwner}}
	carol = opsflow.Actor{ID: "carol", Name: "Carol", Roles: []opsflow.Role{opsflow.RoleAuditor}}
	hana  = opsflow.Actor{ID: "hana", Name: "Hana", Roles: []opsflow.Role{opsflow.RoleHR}}
	maya  = opsflow.Actor{ID: "maya", Name: "Maya", Roles: []opsflow.Role{opsflow.RoleManager}}
	ivan  = opsflow.Actor{ID: "ivan", Name: "Ivan", Roles: []opsflow.Role{opsflow.RoleIT}}
	root  = opsflow.Actor{ID: "root", Name: "Root", Roles: []opsflow.Role{opsflow.RoleAdmin}}
)

// code is the error code of err, "" for nil.
func code(err error) string { return opsflow.ErrorCode(err) }

func TestCAPAGates(t *testing.T) {
	at := func(s opsflow.CAPAState) opsflow.CAPA {
		return opsflow.CAPA{ID: "capa-1", State: s, Owner: "alice", Cycle: 1}
	}
	s := opsflow.CAPAStep
	for _, c := range []struct {
		name  string
		capa  opsflow.CAPA
		step  string
		actor opsflow.Actor
		want  string
	}{
		{"owner triages", at(opsflow.CAPAReported), s.Triage.Name, alice, ""},
		{"an approver triages", at(opsflow.CAPAReported), s.Triage.Name, bob, ""},
		{"another owner does not", at(opsflow.CAPAReported), s.Triage.Name, dave, opsflow.EFORBIDDEN},
		{"an auditor does not", at(opsflow.CAPAReported), s.Triage.Name, carol, opsflow.EFORBIDDEN},
		{"not twice", at(opsflow.CAPATriage), s.Triage.Name, alice, opsflow.ECONFLICT},
		{"an approver decides", at(opsflow.CAPATriage), s.Decide.Name, bob, ""},
		{"the owner does not decide", at(opsflow.CAPATriage), s.Decide.Name, alice, opsflow.EFORBIDDEN},
		{"nor an owner who approves", func() opsflow.CAPA { c := at(opsflow.CAPATriage); c.Owner = "erin"; return c }(), s.Decide.Name, erin, opsflow.EFORBIDDEN},
		{"containment by the owner", at(opsflow.CAPAContainment), s.AddContainment.Name, alice, ""},
		{"containment by an admin", at(opsflow.CAPAContainment), s.AddContainment.Name, root, ""},
		{"not by an approver", at(opsflow.CAPAContainment), s.AddContainment.Name, bob, opsflow.EFORBIDDEN},
		{"verify needs a done action", at(opsflow.CAPAContainment), s.VerifyContainment.Name, alice, opsflow.ECONFLICT},
		{"plan when none proposed", at(opsflow.CAPAActionPlan), s.ProposePlan.Name, alice, ""},
		{"approve when none proposed", at(opsflow.CAPAActionPlan), s.ApprovePlan.Name, bob, opsflow.ECONFLICT},
		{"sign needs an effective result", at(opsflow.CAPAAwaitingSig), s.SignClosure.Name, bob, opsflow.ECONFLICT},
		{"cancel by an auditor", at(opsflow.CAPAInvestigation), s.Cancel.Name, carol, opsflow.EFORBIDDEN},
		{"closed takes nothing", at(opsflow.CAPAClosed), s.Cancel.Name, alice, opsflow.ECONFLICT},
		{"no pending extension", at(opsflow.CAPAInvestigation), s.DecideExtension.Name, bob, opsflow.ECONFLICT},
		{"unknown step", at(opsflow.CAPAReported), "fly", alice, opsflow.EINVALID},
	} {
		if got := code(c.capa.CanTake(c.step, c.actor)); got != c.want {
			t.Errorf("%s: %s by %s in %s = %q, want %q (%v)", c.name, c.step, c.actor.ID, c.capa.State, got, c.want, c.capa.CanTake(c.step, c.actor))
		}
	}
}

func TestCAPAItemGates(t *testing.T) {
	due := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	c := opsflow.CAPA{ID: "capa-1", State: opsflow.CAPAImplementation, Owner: "alice", Cycle: 1,
		Actions: []opsflow.Action{{ID: "c1-action-5", Owner: "dave"}, {ID: "c1-action-6", Owner: "alice", ImplementedBy: "alice"}},
		Tasks: []opsflow.Task{
			{ID: "plan-4", Kind: opsflow.CAPATaskPhase, Assignee: "alice", State: opsflow.TaskDone},
			{ID: "c1-action-5", Kind: opsflow.CAPATaskAction, Assignee: "dave", State: opsflow.TaskOpen, DueAt: &due},
			{ID: "c1-action-6", Kind: opsflow.CAPATaskAction, Assignee: "alice", State: opsflow.TaskDone},
			{ID: "verification-7", Kind: opsflow.CAPATaskPhase, Role: opsflow.RoleApprover, State: opsflow.TaskOpen},
		}}
	for _, x := range []struct {
		name string
		err  error
		want string
	}{
		{"dave completes his action", c.CanCompleteAction("c1-action-5", dave), ""},
		{"alice does not complete dave's", c.CanCompleteAction("c1-action-5", alice), opsflow.EFORBIDDEN},
		{"a done action is done", c.CanCompleteAction("c1-action-6", alice), opsflow.ECONFLICT},
		{"no such action", c.CanCompleteAction("c1-action-9", alice), opsflow.EINVALID},
		{"dave asks to extend his action", c.CanRequestExtension("c1-action-5", dave), ""},
		{"the owner may ask for anyone's", c.CanRequestExtension("c1-action-5", alice), ""},
		{"bob may not", c.CanRequestExtension("c1-action-5", bob), opsflow.EFORBIDDEN},
		{"a done task needs none", c.CanRequestExtension("c1-action-6", alice), opsflow.ECONFLICT},
		{"a phase task finishes with its step", c.CanMoveTask("verification-7", opsflow.TaskDone, bob), opsflow.ECONFLICT},
		{"but may be started", c.CanMoveTask("verification-7", opsflow.TaskInProgress, bob), ""},
		{"an action is never cancelled", c.CanMoveTask("c1-action-5", opsflow.TaskCancelled, dave), opsflow.ECONFLICT},
		{"an action is done by its owner", c.CanMoveTask("c1-action-5", opsflow.TaskDone, dave), ""},
		{"not by someone else", c.CanMoveTask("c1-action-5", opsflow.TaskDone, erin), opsflow.EFORBIDDEN},
		{"an implementer does not verify", func() error {
			v := c
			v.State = opsflow.CAPAVerification
			return v.CanTake(opsflow.CAPAStep.VerifyImplementation.Name, alice)
		}(), opsflow.EFORBIDDEN},
	} {
		if got := code(x.err); got != x.want {
			t.Errorf("%s: %q, want %q (%v)", x.name, got, x.want, x.err)
		}
	}
}

func TestKaizenGates(t *testing.T) {
	k := opsflow.Kaizen{ID: "kzn-1", Phase: opsflow.KaizenTriage, Owner: "alice", Sponsor: "bob",
		Tasks: []opsflow.Task{{ID: "triage-1", Kind: opsflow.KaizenTaskTriage, Assignee: "bob", State: opsflow.TaskOpen}}}
	s := opsflow.KaizenStep
	check := func(name string, err error, want string) {
		t.Helper()
		if got := code(err); got != want {
			t.Errorf("%s: %q, want %q (%v)", name, got, want, err)
		}
	}
	check("the sponsor triages", k.CanTake(s.Triage.Name, bob), "")
	check("the owner does not", k.CanTake(s.Triage.Name, alice), opsflow.EFORBIDDEN)
	check("another approver does not", k.CanTake(s.Triage.Name, erin), opsflow.EFORBIDDEN)
	check("no plan in triage", k.CanTake(s.SubmitPlan.Name, alice), opsflow.ECONFLICT)
	check("decision tasks are not moved", k.CanMoveTask("triage-1", opsflow.TaskDone, bob), opsflow.ECONFLICT)
	k.Phase = opsflow.KaizenAct
	check("act needs observations", k.CanTake(s.Act.Name, alice), opsflow.ECONFLICT)
	k.Observations = []opsflow.Observation{{Text: "flash gone"}}
	check("then the owner acts", k.CanTake(s.Act.Name, alice), "")
	check("the sponsor does not", k.CanTake(s.Act.Name, bob), opsflow.EFORBIDDEN)
	check("the sponsor records impact", k.CanTake(s.RecordImpact.Name, bob), "")
	check("no regression pending", k.CanTake(s.DecideRegression.Name, bob), opsflow.ECONFLICT)
	k.Phase = opsflow.KaizenClosed
	check("closed: impact locked", k.CanTake(s.RecordImpact.Name, alice), opsflow.ECONFLICT)
}

func TestOnboardingGates(t *testing.T) {
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	o := opsflow.Onboarding{ID: "onb-1", State: opsflow.OnboardingPreboarding,
		Placement: opsflow.Placement{ManagerID: "maya", StartAt: start},
		Plan:      []opsflow.TaskTemplate{{ID: "contract", OwnerType: "hr"}, {ID: "lunch", OwnerType: "mentor", Optional: true}, {ID: "laptop", OwnerType: "it"}},
		Board: opsflow.Board{Tasks: []opsflow.Task{
			{ID: "contract", Role: opsflow.RoleHR, State: opsflow.TaskOpen},
			{ID: "lunch", Assignee: "maya", Role: opsflow.RoleManager, State: opsflow.TaskOpen},
			{ID: "laptop", Role: opsflow.RoleIT, Kind: "provisioning", State: opsflow.TaskOpen},
			{ID: "checkin-30", Kind: opsflow.OnboardingTaskCheckin, Assignee: "maya", Role: opsflow.RoleManager, State: opsflow.TaskScheduled, OpenAt: &start},
		}},
		Provisioning: []opsflow.ProvisionStatus{{TaskID: "laptop", Status: opsflow.ProvisionRunning}},
	}
	s := opsflow.OnboardingStep
	check := func(name string, err error, want string) {
		t.Helper()
		if got := code(err); got != want {
			t.Errorf("%s: %q, want %q (%v)", name, got, want, err)
		}
	}
	check("HR completes an HR task", o.CanMoveTask("contract", opsflow.TaskDone, hana), "")
	check("IT does not", o.CanMoveTask("contract", opsflow.TaskDone, ivan), opsflow.EFORBIDDEN)
	check("a required task is not skipped", o.CanMoveTask("contract", opsflow.TaskSkipped, hana), opsflow.EINVALID)
	check("an optional one is", o.CanMoveTask("lunch", opsflow.TaskSkipped, maya), "")
	check("a webhook at work is waited for", o.CanMoveTask("laptop", opsflow.TaskDone, ivan), opsflow.ECONFLICT)
	check("a check-in is not a task move", o.CanMoveTask("checkin-30", opsflow.TaskSkipped, maya), opsflow.EINVALID)
	check("the check-in is not due yet", o.CanCheckIn(30, maya), opsflow.ECONFLICT)
	check("no day 45", o.CanCheckIn(45, maya), opsflow.EINVALID)
	check("IT holds no check-in", o.CanTake(s.CheckIn.Name, ivan), opsflow.EFORBIDDEN)
	check("HR moves the start", o.CanTake(s.MoveStart.Name, hana), "")
	check("the manager too", o.CanTake(s.MoveStart.Name, maya), "")
	check("IT does not", o.CanTake(s.MoveStart.Name, ivan), opsflow.EFORBIDDEN)
	check("retry needs a failed webhook", o.CanRetry("laptop", ivan), opsflow.ECONFLICT)
	o.State = opsflow.OnboardingInProgress
	o.Tasks[3].State = opsflow.TaskOpen
	check("the day has come", o.CanCheckIn(30, maya), "")
	check("a started hire keeps the start", o.CanTake(s.MoveStart.Name, hana), opsflow.ECONFLICT)
	o.State = opsflow.OnboardingCompleted
	check("completed takes nothing", o.CanTake(s.Cancel.Name, hana), opsflow.ECONFLICT)
}

// Every step of every step table is known to its kind's gate, so a step
// added to a table without a gate fails here, not on a page.
func TestGatesKnowEveryStep(t *testing.T) {
	for _, ki := range opsflow.Kinds() {
		rec, err := json.Marshal(map[string]any{"id": "x", "state": "reported", "phase": "triage"})
		if err != nil {
			t.Fatal(err)
		}
		g, err := opsflow.GateOf(ki.Kind, rec)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range ki.Steps {
			if err := g.CanTake(st.Name, root); code(err) == opsflow.EINVALID {
				t.Errorf("%s: the gate does not know step %s: %v", ki.Kind, st.Name, err)
			}
		}
	}
	if _, err := opsflow.GateOf("boat", []byte(`{}`)); err == nil {
		t.Error("a gate of an unknown kind")
	}
}
