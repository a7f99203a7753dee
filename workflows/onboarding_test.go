package workflows

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/opsflow/opsflow"
)

// webhooks is a fake Provision activity: "flaky" fails twice and then
// succeeds, "dead" always fails.
type webhooks struct {
	mu    sync.Mutex
	calls map[string]int
	keys  map[string]string
}

func (w *webhooks) Provision(_ context.Context, r opsflow.ProvisionRequest) (opsflow.ProvisionResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls[r.URL]++
	w.keys[r.URL] = r.IdempotencyKey
	if strings.Contains(r.URL, "dead") || (strings.Contains(r.URL, "flaky") && w.calls[r.URL] <= 2) {
		return opsflow.ProvisionResult{}, temporal.NewApplicationError("webhook answered 503: down", "provision.failed")
	}
	return opsflow.ProvisionResult{ExternalID: "ext-" + r.Body["task_id"].(string), Status: 201}, nil
}

func TestOnboardingNinetyDays(t *testing.T) {
	env, st := newEnv(t)
	hooks := &webhooks{calls: map[string]int{}, keys: map[string]string{}}
	env.RegisterActivityWithOptions(hooks.Provision, activity.RegisterOptions{Name: ActivityProvision})
	day := 24 * time.Hour
	t0 := env.Now()
	start := t0.Add(10 * day)
	tpl := opsflow.OnboardingTemplate{Role: "office", Version: 3, Title: "Office", Tasks: []opsflow.TaskTemplate{
		{ID: "contract", Title: "Contract", OwnerType: opsflow.OwnerHR, BeginOffsetDays: -5, DueOffsetDays: -3, RequiredForDay1: true},
		{ID: "account", Title: "Account", OwnerType: opsflow.OwnerIT, BeginOffsetDays: -4, DueOffsetDays: -1, DependsOn: []string{"contract"},
			RequiredForDay1: true, Provision: &opsflow.Provisioning{System: "idp", URL: "https://flaky.example/users"}},
		{ID: "laptop", Title: "Laptop", OwnerType: opsflow.OwnerIT, BeginOffsetDays: -4, DueOffsetDays: -1,
			Provision: &opsflow.Provisioning{System: "shop", URL: "https://dead.example/orders"}},
		{ID: "goals", Title: "Goals", OwnerType: opsflow.OwnerManager, BeginOffsetDays: 1, DueOffsetDays: 5},
		{ID: "lunch", Title: "Lunch", OwnerType: opsflow.OwnerMentor, BeginOffsetDays: 0, DueOffsetDays: 2, Optional: true},
	}}
	hana := opsflow.Actor{ID: "hana", Name: "Hana", Roles: []opsflow.Role{opsflow.RoleHR}}
	ivan := opsflow.Actor{ID: "ivan", Name: "Ivan", Roles: []opsflow.Role{opsflow.RoleIT}}
	maya := opsflow.Actor{ID: "maya", Name: "Maya", Roles: []opsflow.Role{opsflow.RoleManager}}
	erin := opsflow.Actor{ID: "erin", Name: "Erin"}
	in := OnboardingInput{Actor: hana, Hire: opsflow.Hire{Name: "Noor", Email: "noor@example.com"}, Day: day, Template: tpl,
		Placement: opsflow.Placement{Role: "office", Timezone: "UTC", ManagerID: "maya", MentorID: "erin", StartDate: "d10", StartAt: start}}

	var results []*updateResult
	at := func(d time.Duration, name string, arg any) *updateResult {
		u := &updateResult{}
		results = append(results, u)
		env.RegisterDelayedCallback(func() { env.UpdateWorkflow(name, "", u, arg) }, d)
		return u
	}
	// Day 1 (T-9): the start moves one week later; every unfinished task moves with it.
	newStart := start.Add(7 * day)
	moved := at(1*day, opsflow.OnboardingStep.MoveStart.Name, opsflow.MoveStartInput{Actor: hana, StartDate: "d17", StartAt: newStart, Reason: "notice period"})
	early := at(1*day+time.Hour, opsflow.OnboardingStep.CheckIn.Name, opsflow.CheckInInput{Actor: maya, Day: 30, Notes: "x", Sentiment: 3})
	// The contract is late: due T-3 = day 14; HR completes it on day 16, after escalations.
	skipRequired := at(15*day, opsflow.UpdateMoveTask, opsflow.TaskMove{Actor: hana, TaskID: "contract", State: opsflow.TaskSkipped, Reason: "n/a"})
	contract := at(16*day, opsflow.UpdateMoveTask, opsflow.TaskMove{Actor: hana, TaskID: "contract", State: opsflow.TaskDone})
	// The laptop shop is dead: IT orders it by hand.
	laptop := at(16*day+2*time.Hour, opsflow.UpdateMoveTask, opsflow.TaskMove{Actor: ivan, TaskID: "laptop", State: opsflow.TaskDone, Evidence: []string{"PO-7"}})
	lunch := at(17*day+time.Hour, opsflow.UpdateMoveTask, opsflow.TaskMove{Actor: erin, TaskID: "lunch", State: opsflow.TaskSkipped, Reason: "mentor away"})
	goals := at(19*day, opsflow.UpdateMoveTask, opsflow.TaskMove{Actor: maya, TaskID: "goals", State: opsflow.TaskDone})
	var checkins []*updateResult
	for _, n := range opsflow.CheckinDays {
		checkins = append(checkins, at(17*day+time.Duration(n)*day+time.Hour, opsflow.OnboardingStep.CheckIn.Name,
			opsflow.CheckInInput{Actor: maya, Day: n, Notes: "settling in", Sentiment: 4, Risks: []string{"commute"}}))
	}
	env.ExecuteWorkflow(Onboarding, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	for i, u := range []*updateResult{moved, contract, laptop, lunch, goals, checkins[0], checkins[1], checkins[2]} {
		if u.err != nil {
			t.Errorf("update %d: %v", i, u.err)
		}
	}
	if e, ok := OpsError(early.err); !ok || e.Code != opsflow.ECONFLICT {
		t.Errorf("early check-in: %v, want conflict", early.err)
	}
	if e, ok := OpsError(skipRequired.err); !ok || e.Field != "state" {
		t.Errorf("skipping a required task: %v, want invalid state", skipRequired.err)
	}

	last := st.snaps[len(st.snaps)-1]
	if last.Process.State != string(opsflow.OnboardingCompleted) || last.Process.ClosedAt == nil {
		t.Fatalf("final state %s", last.Process.State)
	}
	tasks := map[string]opsflow.Task{}
	for _, task := range last.Tasks {
		tasks[task.ID] = task
	}
	if a := tasks["account"]; a.State != opsflow.TaskDone || a.CompletedBy != "system" || len(a.Evidence) != 1 || a.Evidence[0] != "external_id:ext-account" {
		t.Errorf("account: %+v", a)
	}
	if a := tasks["account"]; !a.DueAt.Equal(newStart.Add(-day)) {
		t.Errorf("account due %s, want re-planned %s", a.DueAt, newStart.Add(-day))
	}
	if hooks.calls["https://flaky.example/users"] != 3 || hooks.calls["https://dead.example/orders"] != ProvisionAttempts {
		t.Errorf("webhook calls %v", hooks.calls)
	}
	if k := hooks.keys["https://flaky.example/users"]; !strings.HasSuffix(k, "/account") {
		t.Errorf("idempotency key %q", k)
	}
	acts := strings.Join(st.actions(), " ")
	for _, want := range []string{"onboarding.opened", "onboarding.start_date_moved", "task.replanned", "onboarding.preboarding",
		"task.reminded", "task.escalated", "provision.failed", "task.blocked", "provision.succeeded", "provision.resolved",
		"onboarding.day_one", "onboarding.in_progress", "onboarding.checkin_30", "onboarding.checkin_held",
		"onboarding.checkin_90", "onboarding.completed"} {
		if !strings.Contains(acts, want) {
			t.Errorf("audit trail lacks %s:\n%s", want, acts)
		}
	}
	// The contract escalated to the assignee (HR queue), then the manager.
	var escalatedTo []string
	for _, s := range st.snaps {
		for _, n := range s.Notify {
			if n.TaskID == "contract" && strings.Contains(n.Subject, "escalated") {
				escalatedTo = append(escalatedTo, n.To)
			}
		}
	}
	if !equal(escalatedTo, []string{"hr", "maya"}) {
		t.Errorf("contract escalations went to %v", escalatedTo)
	}
	// Preboarding began at the re-planned moment, not the original one.
	for _, ev := range st.events {
		if ev.Action == "onboarding.preboarding" && ev.At.Before(newStart.Add(-5*day).Truncate(time.Millisecond)) {
			t.Errorf("pre-boarding began at %s, before the re-planned %s", ev.At, newStart.Add(-5*day))
		}
	}
}

func TestOnboardingCancelAndRetry(t *testing.T) {
	env, st := newEnv(t)
	hooks := &webhooks{calls: map[string]int{}, keys: map[string]string{}}
	env.RegisterActivityWithOptions(hooks.Provision, activity.RegisterOptions{Name: ActivityProvision})
	day := time.Hour
	tpl := opsflow.OnboardingTemplate{Role: "x", Version: 1, Title: "X", Tasks: []opsflow.TaskTemplate{
		{ID: "laptop", Title: "Laptop", OwnerType: opsflow.OwnerIT, BeginOffsetDays: -2, DueOffsetDays: -1,
			Provision: &opsflow.Provisioning{URL: "https://dead.example/orders"}},
	}}
	hana := opsflow.Actor{ID: "hana", Roles: []opsflow.Role{opsflow.RoleHR}}
	ivan := opsflow.Actor{ID: "ivan", Roles: []opsflow.Role{opsflow.RoleIT}}
	bob := opsflow.Actor{ID: "bob", Roles: []opsflow.Role{opsflow.RoleApprover}}
	in := OnboardingInput{Actor: hana, Day: day, Template: tpl,
		Placement: opsflow.Placement{ManagerID: "maya", StartDate: "d", StartAt: env.Now().Add(5 * day)}}
	var retry, again, forbidden, noReason, cancel updateResult
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.OnboardingStep.Retry.Name, "", &retry, opsflow.RetryProvisioningInput{Actor: ivan, TaskID: "laptop"})
	}, 4*day)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.OnboardingStep.Retry.Name, "", &again, opsflow.RetryProvisioningInput{Actor: ivan, TaskID: "laptop"})
	}, 4*day+time.Second)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.OnboardingStep.Cancel.Name, "", &forbidden, opsflow.CancelOnboardingInput{Actor: bob, Reason: "x"})
		env.UpdateWorkflow(opsflow.OnboardingStep.Cancel.Name, "", &noReason, opsflow.CancelOnboardingInput{Actor: hana})
		env.UpdateWorkflow(opsflow.OnboardingStep.Cancel.Name, "", &cancel, opsflow.CancelOnboardingInput{Actor: hana, Reason: "offer withdrawn"})
	}, 4*day+time.Minute)
	env.ExecuteWorkflow(Onboarding, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if retry.err != nil || cancel.err != nil {
		t.Fatalf("retry %v cancel %v", retry.err, cancel.err)
	}
	if e, ok := OpsError(again.err); !ok || e.Code != opsflow.ECONFLICT {
		t.Errorf("retry while running: %v", again.err)
	}
	if e, ok := OpsError(forbidden.err); !ok || e.Code != opsflow.EFORBIDDEN {
		t.Errorf("cancel by approver: %v", forbidden.err)
	}
	if e, ok := OpsError(noReason.err); !ok || e.Field != "reason" {
		t.Errorf("cancel without reason: %v", noReason.err)
	}
	if hooks.calls["https://dead.example/orders"] != 2*ProvisionAttempts {
		t.Errorf("calls %v, want two rounds", hooks.calls)
	}
	last := st.snaps[len(st.snaps)-1]
	if last.Process.State != string(opsflow.OnboardingCancelled) || last.Tasks[0].State != opsflow.TaskCancelled {
		t.Errorf("after cancel: %s %+v", last.Process.State, last.Tasks[0])
	}
}
