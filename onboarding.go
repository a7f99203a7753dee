package opsflow

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// OnboardingState is the state of one new hire's onboarding.
//
// The main line follows the calendar: pending (offer accepted) →
// preboarding (the first pre-boarding task opens) → day_one (the start
// moment) → in_progress (day 1 is over) → checkin_30/60/90 (the day of each
// check-in has come) → completed (every required task done and the three
// check-ins held). Side states: cancelled (offer withdrawn or no-show,
// before the start moment) and terminated_early (cancelled after the hire
// started). on_hold is not used: moving the start date re-plans in one
// step, so there is no window in which the onboarding waits for new dates.
type OnboardingState string

const (
	OnboardingPending         OnboardingState = "pending"
	OnboardingPreboarding     OnboardingState = "preboarding"
	OnboardingDayOne          OnboardingState = "day_one"
	OnboardingInProgress      OnboardingState = "in_progress"
	OnboardingCheckin30       OnboardingState = "checkin_30"
	OnboardingCheckin60       OnboardingState = "checkin_60"
	OnboardingCheckin90       OnboardingState = "checkin_90"
	OnboardingCompleted       OnboardingState = "completed"
	OnboardingCancelled       OnboardingState = "cancelled"
	OnboardingTerminatedEarly OnboardingState = "terminated_early"
)

// OnboardingStates lists every state, main line first.
var OnboardingStates = []OnboardingState{
	OnboardingPending, OnboardingPreboarding, OnboardingDayOne, OnboardingInProgress,
	OnboardingCheckin30, OnboardingCheckin60, OnboardingCheckin90, OnboardingCompleted,
	OnboardingCancelled, OnboardingTerminatedEarly,
}

// Final reports whether the onboarding takes no more changes.
func (s OnboardingState) Final() bool {
	return s == OnboardingCompleted || s == OnboardingCancelled || s == OnboardingTerminatedEarly
}

// Started reports whether the hire's start moment has passed.
func (s OnboardingState) Started() bool {
	switch s {
	case OnboardingPending, OnboardingPreboarding, OnboardingCancelled:
		return false
	}
	return true
}

// Owner types of onboarding tasks: who does the work.
const (
	OwnerHR         = "hr"
	OwnerIT         = "it"
	OwnerManager    = "manager"
	OwnerHire       = "hire"
	OwnerMentor     = "mentor"
	OwnerFacilities = "facilities"
)

// OwnerTypes lists the owner types a task template may use.
var OwnerTypes = []string{OwnerHR, OwnerIT, OwnerManager, OwnerHire, OwnerMentor, OwnerFacilities}

// CheckinDays are the days after the start date on which the manager holds
// a check-in.
var CheckinDays = []int{30, 60, 90}

// CheckinWindowDays is how long after its day a check-in may be held before
// it is overdue (and escalates like any task).
const CheckinWindowDays = 5

// Provisioning is a task's automatic action: a webhook POST of Body to URL.
// The receiver's answer may name the external record it created
// ({"id": …} or {"external_id": …}), which the task keeps.
type Provisioning struct {
	System string         `json:"system,omitempty"` // e.g. "directory", "laptop-shop"
	URL    string         `json:"url"`
	Body   map[string]any `json:"body,omitempty"`
}

// TaskTemplate is one task of an onboarding template. Offsets are whole
// days from the start date; negative offsets fall before it (pre-boarding).
type TaskTemplate struct {
	ID              string   `json:"id"`
	Title           string   `json:"title"`
	Description     string   `json:"description,omitempty"`
	OwnerType       string   `json:"owner_type"`
	BeginOffsetDays int      `json:"begin_offset_days"`
	DueOffsetDays   int      `json:"due_offset_days"`
	DependsOn       []string `json:"depends_on,omitempty"`
	Weight          int      `json:"weight,omitempty"` // 0 means 1
	RequiredForDay1 bool     `json:"required_for_day1,omitempty"`
	// Optional tasks may be skipped and do not hold back completion.
	Optional  bool          `json:"optional,omitempty"`
	Provision *Provisioning `json:"provision,omitempty"`
}

// OnboardingTemplate is one version of the onboarding plan for a role.
// Versions are immutable: a change is a new version, and a running
// onboarding keeps the version it started with.
type OnboardingTemplate struct {
	Role        string         `json:"role"`
	Version     int            `json:"version"`
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	Tasks       []TaskTemplate `json:"tasks"`
	CreatedBy   string         `json:"created_by,omitempty"`
	CreatedAt   time.Time      `json:"created_at"`
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// reservedTaskPrefix is kept for the check-in tasks the process adds.
const reservedTaskPrefix = "checkin-"

// CheckinTaskID is the ID of the task that stands for the day-N check-in.
func CheckinTaskID(day int) string { return fmt.Sprintf("%s%d", reservedTaskPrefix, day) }

// Validate checks a template before it is stored: a role slug, a title, and
// tasks with unique IDs, known owner types, begin ≤ due, known dependencies
// without cycles, and http(s) webhook URLs. Field names are JSON paths.
func (t OnboardingTemplate) Validate() error {
	if !slugRE.MatchString(t.Role) {
		return Invalid("role", "role must be a lowercase slug (a-z, 0-9, - and _), e.g. office")
	}
	if strings.TrimSpace(t.Title) == "" {
		return Invalid("title", "title is required")
	}
	if len(t.Tasks) == 0 {
		return Invalid("tasks", "a template needs at least one task")
	}
	if len(t.Tasks) > 200 {
		return Invalid("tasks", "a template may have at most 200 tasks")
	}
	index := make(map[string]int, len(t.Tasks))
	for i, tt := range t.Tasks {
		f := fmt.Sprintf("tasks[%d]", i)
		switch {
		case !slugRE.MatchString(tt.ID):
			return Invalid(f+".id", "task id must be a lowercase slug (a-z, 0-9, - and _)")
		case strings.HasPrefix(tt.ID, reservedTaskPrefix):
			return Invalid(f+".id", "task ids starting with %q are reserved for check-ins", reservedTaskPrefix)
		case strings.TrimSpace(tt.Title) == "":
			return Invalid(f+".title", "title is required")
		case !slices.Contains(OwnerTypes, tt.OwnerType):
			return Invalid(f+".owner_type", "owner_type must be one of %s", strings.Join(OwnerTypes, ", "))
		case tt.BeginOffsetDays > tt.DueOffsetDays:
			return Invalid(f+".begin_offset_days", "begin_offset_days (%d) is after due_offset_days (%d)", tt.BeginOffsetDays, tt.DueOffsetDays)
		case tt.BeginOffsetDays < -365 || tt.DueOffsetDays > 365:
			return Invalid(f+".due_offset_days", "offsets must lie within a year of the start date")
		case tt.Weight < 0 || tt.Weight > 100:
			return Invalid(f+".weight", "weight must be from 0 to 100")
		case tt.RequiredForDay1 && tt.Optional:
			return Invalid(f+".optional", "a task required for day 1 cannot be optional")
		case tt.RequiredForDay1 && tt.DueOffsetDays > 0:
			return Invalid(f+".due_offset_days", "a task required for day 1 must be due by the start date (offset ≤ 0)")
		}
		if _, dup := index[tt.ID]; dup {
			return Invalid(f+".id", "task id %q is used twice", tt.ID)
		}
		index[tt.ID] = i
		if p := tt.Provision; p != nil {
			u, err := url.Parse(p.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return Invalid(f+".provision.url", "provision.url must be an absolute http(s) URL")
			}
		}
	}
	for i, tt := range t.Tasks {
		for j, d := range tt.DependsOn {
			f := fmt.Sprintf("tasks[%d].depends_on[%d]", i, j)
			if d == tt.ID {
				return Invalid(f, "task %q depends on itself", tt.ID)
			}
			if _, ok := index[d]; !ok {
				return Invalid(f, "task %q depends on unknown task %q", tt.ID, d)
			}
		}
	}
	if cycle := findCycle(t.Tasks, index); cycle != nil {
		return Invalid(fmt.Sprintf("tasks[%d].depends_on", index[cycle[0]]), "dependency cycle: %s", strings.Join(cycle, " → "))
	}
	return nil
}

// findCycle returns a dependency cycle (first task repeated at the end), or
// nil. Depth-first search in template order, so the answer is stable.
func findCycle(tasks []TaskTemplate, index map[string]int) []string {
	const (
		unseen = iota
		onPath
		finished
	)
	mark := make([]int, len(tasks))
	var path []string
	var visit func(i int) []string
	visit = func(i int) []string {
		mark[i] = onPath
		path = append(path, tasks[i].ID)
		for _, d := range tasks[i].DependsOn {
			j := index[d]
			switch mark[j] {
			case onPath:
				start := slices.Index(path, d)
				return append(slices.Clone(path[start:]), d)
			case unseen:
				if c := visit(j); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		mark[i] = finished
		return nil
	}
	for i := range tasks {
		if mark[i] == unseen {
			if c := visit(i); c != nil {
				return c
			}
		}
	}
	return nil
}

// Hire is the person being onboarded. The hire has no account in opsflow.
type Hire struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Placement is where and when the hire starts. StartAt is the start moment
// every offset counts from; StartDate is its calendar date in Timezone.
type Placement struct {
	Role       string    `json:"role"`
	Department string    `json:"department,omitempty"`
	Location   string    `json:"location,omitempty"`
	Timezone   string    `json:"timezone"`
	ManagerID  string    `json:"manager_id"`
	MentorID   string    `json:"mentor_id,omitempty"`
	StartDate  string    `json:"start_date"` // YYYY-MM-DD
	StartAt    time.Time `json:"start_at"`
}

// StartHour is the hour of the start date at which day one begins, in the
// hire's timezone, when the client gives a date and not a moment.
const StartHour = 9

// StartMoment returns the start moment of a start date: 09:00 in the
// hire's timezone. An unknown timezone is an invalid "timezone", a bad date
// an invalid "start_date".
func StartMoment(date, timezone string) (time.Time, error) {
	loc, err := time.LoadLocation(timezone)
	if err != nil || timezone == "" || strings.EqualFold(timezone, "local") {
		return time.Time{}, Invalid("timezone", "timezone must be an IANA name such as Europe/Paris")
	}
	d, err := time.ParseInLocation(time.DateOnly, date, loc)
	if err != nil {
		return time.Time{}, Invalid("start_date", "start_date must be a date like 2026-12-01")
	}
	return d.Add(StartHour * time.Hour), nil
}

// Offset returns start + days × day: the moment of a day offset. day is one
// day's length (24h in production, shorter in tests).
func Offset(start time.Time, days int, day time.Duration) time.Time {
	return start.Add(time.Duration(days) * day)
}

// OnboardingTaskPolicy is the reminder and escalation policy of onboarding
// tasks, in units of day: a reminder one day before due; once overdue, the
// assignee is told at once, the hire's manager after one day and HR after
// three.
func OnboardingTaskPolicy(day time.Duration) TaskPolicy {
	return TaskPolicy{
		RemindBefore: Duration(day),
		Escalation: []EscalationTier{
			{After: 0, Notify: "assignee"},
			{After: Duration(day), Notify: "manager"},
			{After: Duration(3 * day), Notify: "hr"},
		},
	}
}

// Assign returns the assignee (a user ID) or role queue of a task of owner
// type ownerType. The hire has no account, so hire tasks (paperwork,
// policy acknowledgements) go to HR, who confirms them with the hire;
// facilities work goes to admins, as opsflow has no facilities role; a
// mentor task without a mentor falls to the manager.
func Assign(ownerType, managerID, mentorID string) (string, Role) {
	switch ownerType {
	case OwnerHR, OwnerHire:
		return "", RoleHR
	case OwnerIT:
		return "", RoleIT
	case OwnerManager:
		return managerID, RoleManager
	case OwnerMentor:
		if mentorID != "" {
			return mentorID, ""
		}
		return managerID, RoleManager
	case OwnerFacilities:
		return "", RoleAdmin
	}
	return "", RoleHR
}

// PlanTask returns a template task as a task of an onboarding that starts
// at start: scheduled to open at its begin offset, due at its due offset.
func PlanTask(tt TaskTemplate, p Placement, day time.Duration) Task {
	open, due := Offset(p.StartAt, tt.BeginOffsetDays, day), Offset(p.StartAt, tt.DueOffsetDays, day)
	assignee, role := Assign(tt.OwnerType, p.ManagerID, p.MentorID)
	kind := "onboarding"
	if tt.Provision != nil {
		kind = "provisioning"
	}
	return Task{
		ID: tt.ID, Kind: kind, Title: tt.Title, Description: tt.Description, OwnerType: tt.OwnerType,
		Assignee: assignee, Role: role, State: TaskScheduled, OpenAt: &open, DueAt: &due,
		Weight: max(tt.Weight, 1), DependsOn: slices.Clone(tt.DependsOn), Required: tt.RequiredForDay1,
	}
}

// PlanCheckin returns the task for the day-N check-in, held by the manager
// from day N within CheckinWindowDays.
func PlanCheckin(n int, p Placement, day time.Duration) Task {
	open, due := Offset(p.StartAt, n, day), Offset(p.StartAt, n+CheckinWindowDays, day)
	return Task{
		ID: CheckinTaskID(n), Kind: "checkin", Title: fmt.Sprintf("Day-%d check-in", n),
		Description: "Record notes, the hire's sentiment (1–5) and risks via POST /v1/onboardings/{id}/check-ins.",
		OwnerType:   OwnerManager, Assignee: p.ManagerID, Role: RoleManager, State: TaskScheduled,
		OpenAt: &open, DueAt: &due, Weight: 1,
	}
}

// Replan moves an unfinished task to a new start moment: its dates shift
// by the same offsets, and the reminder and escalations restart, since the
// old ones were about dates that no longer hold. Finished tasks keep their
// history. It reports whether the task changed.
func Replan(t *Task, tt TaskTemplate, p Placement, day time.Duration) bool {
	if t.State.Final() {
		return false
	}
	open, due := Offset(p.StartAt, tt.BeginOffsetDays, day), Offset(p.StartAt, tt.DueOffsetDays, day)
	t.OpenAt, t.DueAt = &open, &due
	t.RemindedAt, t.EscalatedAt, t.EscalatedTo, t.EscalationLevel = nil, nil, "", 0
	return true
}

// PhaseAt returns the calendar phase of an onboarding starting at start at
// moment now, given when pre-boarding begins. It never returns a final
// state: completion depends on the work, not on the calendar.
func PhaseAt(now, preboardAt, start time.Time, day time.Duration) OnboardingState {
	switch {
	case !now.Before(Offset(start, 90, day)):
		return OnboardingCheckin90
	case !now.Before(Offset(start, 60, day)):
		return OnboardingCheckin60
	case !now.Before(Offset(start, 30, day)):
		return OnboardingCheckin30
	case !now.Before(Offset(start, 1, day)):
		return OnboardingInProgress
	case !now.Before(start):
		return OnboardingDayOne
	case !now.Before(preboardAt):
		return OnboardingPreboarding
	}
	return OnboardingPending
}

// phaseRank orders the main-line states, so the calendar only moves an
// onboarding forward (a later start date does not undo pre-boarding).
func phaseRank(s OnboardingState) int { return slices.Index(OnboardingStates, s) }

// Later reports whether s comes after o on the main line.
func (s OnboardingState) Later(o OnboardingState) bool { return phaseRank(s) > phaseRank(o) }

// CheckIn is a manager's check-in with the hire on day 30, 60 or 90.
type CheckIn struct {
	Day       int       `json:"day"`
	Notes     string    `json:"notes"`
	Sentiment int       `json:"sentiment"` // 1 (struggling) – 5 (thriving)
	Risks     []string  `json:"risks,omitempty"`
	HeldBy    string    `json:"held_by"`
	HeldAt    time.Time `json:"held_at"`
}

// ValidateCheckIn checks a check-in's own fields.
func ValidateCheckIn(c CheckIn) error {
	switch {
	case !slices.Contains(CheckinDays, c.Day):
		return Invalid("day", "day must be 30, 60 or 90")
	case strings.TrimSpace(c.Notes) == "":
		return Invalid("notes", "notes are required")
	case c.Sentiment < 1 || c.Sentiment > 5:
		return Invalid("sentiment", "sentiment must be from 1 to 5")
	case len(c.Risks) > 50:
		return Invalid("risks", "at most 50 risks")
	}
	for i, r := range c.Risks {
		if strings.TrimSpace(r) == "" {
			return Invalid(fmt.Sprintf("risks[%d]", i), "a risk must not be empty")
		}
	}
	return nil
}

// Day1Ready reports whether every task required for day one is done.
// Skipped does not count: a skipped day-1 task means the hire is not ready.
func Day1Ready(tasks []Task) bool {
	for _, t := range tasks {
		if t.Required && t.State != TaskDone {
			return false
		}
	}
	return true
}

// OverdueCount counts active tasks past due at now. A task whose first
// escalation tier (at the due moment) has fired counts even if now equals
// the due moment exactly.
func OverdueCount(tasks []Task, now time.Time) int {
	n := 0
	for _, t := range tasks {
		if t.State.Active() && (t.Overdue(now) || t.EscalationLevel > 0) {
			n++
		}
	}
	return n
}

// ProvisionRequest is the input of the Provision activity.
type ProvisionRequest struct {
	URL string `json:"url"`
	// IdempotencyKey is derived from the workflow and task IDs, so the
	// receiver can recognise a retry (by Temporal or by a person) of a call
	// it has already served.
	IdempotencyKey string         `json:"idempotency_key"`
	Body           map[string]any `json:"body"`
}

// ProvisionResult is what a webhook answered.
type ProvisionResult struct {
	ExternalID string `json:"external_id"`
	Status     int    `json:"status"`
	// At is when the webhook answered; the workflow stamps the outcome
	// with it (a time in history, the same on every replay).
	At time.Time `json:"at,omitzero"`
}

// TemplateRef names the template version an onboarding follows.
type TemplateRef struct {
	Role    string `json:"role"`
	Version int    `json:"version"`
	Title   string `json:"title"`
}

// Provisioning statuses of a task's webhook.
const (
	ProvisionPending          = "pending"
	ProvisionRunning          = "running"
	ProvisionSucceeded        = "succeeded"
	ProvisionFailed           = "failed"
	ProvisionResolvedByPerson = "resolved_by_person"
)

// ProvisionStatus is the automatic side of a provisioning task.
type ProvisionStatus struct {
	TaskID      string    `json:"task_id"`
	System      string    `json:"system,omitempty"`
	Status      string    `json:"status"` // pending, running, succeeded, failed, resolved_by_person
	Rounds      int       `json:"rounds"` // times the webhook was run (each with its own retries)
	ExternalID  string    `json:"external_id,omitempty"`
	Error       string    `json:"error,omitempty"`
	RequestedAt time.Time `json:"requested_at,omitzero"`
}

// Onboarding is one new hire's onboarding: the record the API serves and
// the state its workflow keeps. Progress, Day1Ready and OverdueCount are
// derived at each projection.
type Onboarding struct {
	ID        string          `json:"id"`
	State     OnboardingState `json:"state"`
	Hire      Hire            `json:"hire"`
	Placement Placement       `json:"placement"`
	Template  TemplateRef     `json:"template"`
	// Plan is the template's tasks as of the version started with: what
	// re-planning and provisioning read.
	Plan []TaskTemplate `json:"plan"`
	Board
	Provisioning []ProvisionStatus `json:"provisioning"`
	CheckIns     []CheckIn         `json:"check_ins"`
	Progress     float64           `json:"progress"`
	Day1Ready    bool              `json:"day1_ready"`
	OverdueCount int               `json:"overdue_count"`
	PreboardAt   time.Time         `json:"preboard_at"`
	// Day is how long a day of this onboarding's offsets lasts: 24 hours,
	// or less in a demo.
	Day      Duration   `json:"day"`
	OpenedBy string     `json:"opened_by"`
	OpenedAt time.Time  `json:"opened_at"`
	ClosedAt *time.Time `json:"closed_at,omitempty"`
	Reason   string     `json:"reason,omitempty"`
	// Redacted says the hire's personal data (e-mail, check-ins) was left
	// out: the reader has a task in the onboarding, no more (see Redact).
	Redacted bool `json:"redacted,omitempty"`
	Outside
}

// CheckInInput records a manager's check-in.
type CheckInInput struct {
	Actor     Actor    `json:"actor,omitzero"`
	Day       int      `json:"day"`
	Notes     string   `json:"notes"`
	Sentiment int      `json:"sentiment"`
	Risks     []string `json:"risks"`
}

// Validate checks the check-in on its own.
func (in CheckInInput) Validate() error {
	return ValidateCheckIn(CheckIn{Day: in.Day, Notes: in.Notes, Sentiment: in.Sentiment, Risks: in.Risks})
}

// MoveStartInput moves the start date; StartAt is the new start moment
// (resolved by the API from the date and the hire's time zone).
type MoveStartInput struct {
	Actor     Actor     `json:"actor,omitzero"`
	StartDate string    `json:"start_date"`
	StartAt   time.Time `json:"start_at"`
	Reason    string    `json:"reason"`
}

// Validate checks the move on its own.
func (in MoveStartInput) Validate() error {
	if in.StartAt.IsZero() {
		return Invalid("start_date", "start_date is required")
	}
	if strings.TrimSpace(in.Reason) == "" {
		return Invalid("reason", "a reason is required to move the start date")
	}
	return nil
}

// CancelOnboardingInput cancels an onboarding (offer withdrawn, no-show, …).
type CancelOnboardingInput struct {
	Actor  Actor  `json:"actor,omitzero"`
	Reason string `json:"reason"`
}

// Validate checks the cancellation on its own.
func (in CancelOnboardingInput) Validate() error {
	if strings.TrimSpace(in.Reason) == "" {
		return Invalid("reason", "a reason is required (offer withdrawn, no-show, …)")
	}
	return nil
}

// RetryProvisioningInput asks for another round of a failed provisioning
// task.
type RetryProvisioningInput struct {
	Actor  Actor  `json:"actor,omitzero"`
	TaskID string `json:"task_id"`
}
