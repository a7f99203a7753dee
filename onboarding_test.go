package opsflow

import (
	"testing"
	"time"
)

func validTemplate() OnboardingTemplate {
	return OnboardingTemplate{Role: "office", Title: "Office", Tasks: []TaskTemplate{
		{ID: "contract", Title: "Contract", OwnerType: OwnerHR, BeginOffsetDays: -14, DueOffsetDays: -7, RequiredForDay1: true},
		{ID: "account", Title: "Account", OwnerType: OwnerIT, BeginOffsetDays: -7, DueOffsetDays: -1, DependsOn: []string{"contract"},
			Provision: &Provisioning{URL: "https://idp.example/users"}},
		{ID: "lunch", Title: "Lunch", OwnerType: OwnerMentor, BeginOffsetDays: 0, DueOffsetDays: 1, Optional: true},
	}}
}

func TestTemplateValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*OnboardingTemplate)
		field string
	}{
		{"valid", func(*OnboardingTemplate) {}, ""},
		{"bad role", func(t *OnboardingTemplate) { t.Role = "Office Staff" }, "role"},
		{"no title", func(t *OnboardingTemplate) { t.Title = " " }, "title"},
		{"no tasks", func(t *OnboardingTemplate) { t.Tasks = nil }, "tasks"},
		{"duplicate id", func(t *OnboardingTemplate) { t.Tasks[2].ID = "contract" }, "tasks[2].id"},
		{"reserved id", func(t *OnboardingTemplate) { t.Tasks[2].ID = "checkin-30" }, "tasks[2].id"},
		{"owner type", func(t *OnboardingTemplate) { t.Tasks[1].OwnerType = "quality" }, "tasks[1].owner_type"},
		{"begin after due", func(t *OnboardingTemplate) { t.Tasks[0].BeginOffsetDays = -6 }, "tasks[0].begin_offset_days"},
		{"unknown dependency", func(t *OnboardingTemplate) { t.Tasks[1].DependsOn = []string{"nope"} }, "tasks[1].depends_on[0]"},
		{"self dependency", func(t *OnboardingTemplate) { t.Tasks[1].DependsOn = []string{"account"} }, "tasks[1].depends_on[0]"},
		{"cycle", func(t *OnboardingTemplate) {
			t.Tasks[0].DependsOn = []string{"lunch"}
			t.Tasks[2].DependsOn = []string{"account"}
		}, "tasks[0].depends_on"},
		{"webhook scheme", func(t *OnboardingTemplate) { t.Tasks[1].Provision.URL = "ftp://x/y" }, "tasks[1].provision.url"},
		{"webhook relative", func(t *OnboardingTemplate) { t.Tasks[1].Provision.URL = "/users" }, "tasks[1].provision.url"},
		{"day1 optional", func(t *OnboardingTemplate) { t.Tasks[0].Optional = true }, "tasks[0].optional"},
		{"day1 due after start", func(t *OnboardingTemplate) { t.Tasks[0].DueOffsetDays = 2 }, "tasks[0].due_offset_days"},
		{"weight", func(t *OnboardingTemplate) { t.Tasks[0].Weight = -1 }, "tasks[0].weight"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl := validTemplate()
			tc.edit(&tpl)
			err := tpl.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok || e.Code != EINVALID || e.Field != tc.field {
				t.Fatalf("got %v, want invalid field %s", err, tc.field)
			}
		})
	}
}

func TestStartMomentAndOffsets(t *testing.T) {
	start, err := StartMoment("2026-12-01", "Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC); !start.Equal(want) {
		t.Fatalf("start %s, want %s", start.UTC(), want)
	}
	for _, tc := range []struct{ date, tz, field string }{
		{"2026-13-01", "UTC", "start_date"}, {"2026-12-01", "Mars/Olympus", "timezone"}, {"2026-12-01", "", "timezone"},
	} {
		if _, err := StartMoment(tc.date, tc.tz); err == nil || err.(*Error).Field != tc.field {
			t.Errorf("StartMoment(%q, %q) = %v, want invalid %s", tc.date, tc.tz, err, tc.field)
		}
	}
	p := Placement{StartAt: start, ManagerID: "maya", MentorID: "erin"}
	tpl := validTemplate()
	for _, tc := range []struct {
		i          int
		day        time.Duration
		open, due  time.Time
		assignee   string
		role       Role
		kind       string
		required   bool
		dependsLen int
	}{
		{0, 24 * time.Hour, start.AddDate(0, 0, -14), start.AddDate(0, 0, -7), "", RoleHR, "onboarding", true, 0},
		{1, 24 * time.Hour, start.AddDate(0, 0, -7), start.AddDate(0, 0, -1), "", RoleIT, "provisioning", false, 1},
		{2, time.Second, start, start.Add(time.Second), "erin", "", "onboarding", false, 0},
	} {
		task := PlanTask(tpl.Tasks[tc.i], p, tc.day)
		if !task.OpenAt.Equal(tc.open) || !task.DueAt.Equal(tc.due) {
			t.Errorf("task %d: open %s due %s, want %s %s", tc.i, task.OpenAt, task.DueAt, tc.open, tc.due)
		}
		if task.Assignee != tc.assignee || task.Role != tc.role || task.Kind != tc.kind || task.Required != tc.required ||
			len(task.DependsOn) != tc.dependsLen || task.State != TaskScheduled || task.Weight != 1 {
			t.Errorf("task %d: %+v", tc.i, task)
		}
	}
}

func TestAssign(t *testing.T) {
	for _, tc := range []struct {
		owner, mentor, assignee string
		role                    Role
	}{
		{OwnerHR, "", "", RoleHR}, {OwnerHire, "", "", RoleHR}, {OwnerIT, "", "", RoleIT},
		{OwnerManager, "", "maya", RoleManager}, {OwnerMentor, "erin", "erin", ""},
		{OwnerMentor, "", "maya", RoleManager}, {OwnerFacilities, "", "", RoleAdmin},
	} {
		a, r := Assign(tc.owner, "maya", tc.mentor)
		if a != tc.assignee || r != tc.role {
			t.Errorf("Assign(%s, mentor %q) = %q/%q, want %q/%q", tc.owner, tc.mentor, a, r, tc.assignee, tc.role)
		}
	}
}

func TestReplan(t *testing.T) {
	day := 24 * time.Hour
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	p := Placement{StartAt: start}
	tt := TaskTemplate{ID: "a", BeginOffsetDays: -3, DueOffsetDays: 2}
	open := PlanTask(tt, p, day)
	open.State = TaskOpen
	now := start
	open.RemindedAt, open.EscalatedAt, open.EscalationLevel, open.EscalatedTo = &now, &now, 2, "maya"
	done := PlanTask(tt, p, day)
	done.State = TaskDone

	p.StartAt = start.AddDate(0, 0, 7)
	if !Replan(&open, tt, p, day) {
		t.Fatal("open task not re-planned")
	}
	if !open.OpenAt.Equal(start.AddDate(0, 0, 4)) || !open.DueAt.Equal(start.AddDate(0, 0, 9)) {
		t.Errorf("re-planned dates %s %s", open.OpenAt, open.DueAt)
	}
	if open.RemindedAt != nil || open.EscalationLevel != 0 || open.EscalatedTo != "" || open.State != TaskOpen {
		t.Errorf("re-planned task keeps old reminders: %+v", open)
	}
	oldDue := *done.DueAt
	if Replan(&done, tt, p, day) || !done.DueAt.Equal(oldDue) {
		t.Error("a done task was re-planned")
	}
}

func TestPhaseAt(t *testing.T) {
	day := time.Hour
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	pre := start.Add(-14 * day)
	for _, tc := range []struct {
		at   time.Time
		want OnboardingState
	}{
		{pre.Add(-time.Minute), OnboardingPending}, {pre, OnboardingPreboarding}, {start, OnboardingDayOne},
		{start.Add(day), OnboardingInProgress}, {start.Add(30 * day), OnboardingCheckin30},
		{start.Add(60 * day), OnboardingCheckin60}, {start.Add(91 * day), OnboardingCheckin90},
	} {
		if got := PhaseAt(tc.at, pre, start, day); got != tc.want {
			t.Errorf("PhaseAt(%s) = %s, want %s", tc.at, got, tc.want)
		}
	}
	if !OnboardingDayOne.Later(OnboardingPreboarding) || OnboardingPending.Later(OnboardingPreboarding) {
		t.Error("Later")
	}
}

func TestOnboardingProgress(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	tasks := []Task{
		{ID: "a", State: TaskDone, Weight: 3, Required: true},
		{ID: "b", State: TaskSkipped, Weight: 5},
		{ID: "c", State: TaskOpen, Weight: 1, DueAt: &past},
		{ID: "d", State: TaskBlocked, Weight: 1, DueAt: &future, EscalationLevel: 1},
		{ID: "e", State: TaskScheduled, Weight: 1, DueAt: &past},
	}
	if got := Progress(tasks); got != 50 {
		t.Errorf("progress %v, want 50 (3 of 6; skipped counts neither way)", got)
	}
	if !Day1Ready(tasks) {
		t.Error("day-1 ready: the only required task is done")
	}
	tasks[2].Required = true
	if Day1Ready(tasks) {
		t.Error("day-1 ready with a required task open")
	}
	tasks[1].Required = true
	tasks[2].Required = false
	if Day1Ready(tasks) {
		t.Error("a skipped required task must not make day 1 ready")
	}
	if got := OverdueCount(tasks, now); got != 2 {
		t.Errorf("overdue %d, want 2", got)
	}
}

func TestValidateCheckIn(t *testing.T) {
	for _, tc := range []struct {
		c     CheckIn
		field string
	}{
		{CheckIn{Day: 30, Notes: "ok", Sentiment: 4}, ""},
		{CheckIn{Day: 45, Notes: "ok", Sentiment: 4}, "day"},
		{CheckIn{Day: 60, Notes: "", Sentiment: 4}, "notes"},
		{CheckIn{Day: 90, Notes: "ok", Sentiment: 6}, "sentiment"},
		{CheckIn{Day: 90, Notes: "ok", Sentiment: 0}, "sentiment"},
		{CheckIn{Day: 90, Notes: "ok", Sentiment: 3, Risks: []string{"x", " "}}, "risks[1]"},
	} {
		err := ValidateCheckIn(tc.c)
		if tc.field == "" && err != nil || tc.field != "" && (err == nil || err.(*Error).Field != tc.field) {
			t.Errorf("%+v: got %v, want field %q", tc.c, err, tc.field)
		}
	}
}
