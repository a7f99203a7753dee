package opsflow

import (
	"slices"
	"time"
)

// TaskState is the state of a human (or provisioning) task. Overdue is not a
// state: it is derived from the due date (Task.Overdue).
type TaskState string

const (
	TaskScheduled  TaskState = "scheduled"   // not yet visible: opens at OpenAt
	TaskOpen       TaskState = "open"        // waiting for its assignee
	TaskInProgress TaskState = "in_progress" // started
	TaskBlocked    TaskState = "blocked"     // cannot proceed; Reason says why
	TaskDone       TaskState = "done"
	TaskSkipped    TaskState = "skipped" // not applicable; Reason says why; never counts as done
	TaskCancelled  TaskState = "cancelled"
)

// TaskStates lists every task state.
var TaskStates = []TaskState{TaskScheduled, TaskOpen, TaskInProgress, TaskBlocked, TaskDone, TaskSkipped, TaskCancelled}

// Active reports whether the task still waits for someone.
func (s TaskState) Active() bool {
	return s == TaskOpen || s == TaskInProgress || s == TaskBlocked
}

// Final reports whether the task is finished, one way or another.
func (s TaskState) Final() bool {
	return s == TaskDone || s == TaskSkipped || s == TaskCancelled
}

// Task is the shared human-task model used by every process. A process owns
// its tasks; the read model copies them into one inbox (GET /v1/tasks).
type Task struct {
	ID          string     `json:"id"` // unique within its process
	Kind        string     `json:"kind,omitempty"`
	Title       string     `json:"title"`
	Description string     `json:"description,omitempty"`
	OwnerType   string     `json:"owner_type,omitempty"` // hr, it, manager, hire, mentor, quality, sponsor, owner, …
	Assignee    string     `json:"assignee,omitempty"`   // a user ID, or empty for a role queue
	Role        Role       `json:"role,omitempty"`       // the role that may work the task when no assignee is set
	State       TaskState  `json:"state"`
	Reason      string     `json:"reason,omitempty"` // why blocked, skipped or cancelled
	OpenAt      *time.Time `json:"open_at,omitempty"`
	DueAt       *time.Time `json:"due_at,omitempty"`
	Weight      int        `json:"weight"`
	DependsOn   []string   `json:"depends_on,omitempty"`
	Required    bool       `json:"required,omitempty"` // e.g. required for day one
	Evidence    []string   `json:"evidence,omitempty"`
	CompletedBy string     `json:"completed_by,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	RemindedAt  *time.Time `json:"reminded_at,omitempty"`
	// EscalationLevel counts the escalation tiers reached after the due date
	// (0 = none); EscalatedTo names who the last tier notified.
	EscalationLevel int        `json:"escalation_level"`
	EscalatedTo     string     `json:"escalated_to,omitempty"`
	EscalatedAt     *time.Time `json:"escalated_at,omitempty"`
}

// Overdue reports whether an active task is past its due date at now.
func (t Task) Overdue(now time.Time) bool {
	return t.State.Active() && t.DueAt != nil && now.After(*t.DueAt)
}

// EscalationTier is one step of an escalation policy: After the due date,
// notify Notify (a role or relation such as "owner", "approver", "manager").
type EscalationTier struct {
	After  Duration `json:"after"`
	Notify string   `json:"notify"`
}

// TaskPolicy says when a task's assignee is reminded and who is told, and
// when, once it is overdue. Durations are configurable so tests run the same
// rules in seconds that production runs in days.
type TaskPolicy struct {
	RemindBefore Duration         `json:"remind_before"`
	Escalation   []EscalationTier `json:"escalation"`
}

// TaskEventKind names what a timer did to a task.
type TaskEventKind string

const (
	TaskOpened    TaskEventKind = "task.opened"
	TaskReminded  TaskEventKind = "task.reminded"
	TaskEscalated TaskEventKind = "task.escalated"
)

// TaskEvent is a change a timer made to a task, for the audit trail and
// notifications.
type TaskEvent struct {
	Kind   TaskEventKind
	TaskID string
	Level  int    // escalation level, for TaskEscalated
	Notify string // who is told
}

// NextDeadline returns the next moment at which a timer must look at the
// task under policy p: its opening, its reminder, or its next escalation.
func (t Task) NextDeadline(p TaskPolicy) (time.Time, bool) {
	switch {
	case t.State == TaskScheduled && t.OpenAt != nil:
		return *t.OpenAt, true
	case !t.State.Active() || t.DueAt == nil:
		return time.Time{}, false
	case t.RemindedAt == nil && p.RemindBefore > 0 && t.EscalationLevel == 0:
		return t.DueAt.Add(-p.RemindBefore.D()), true
	case t.EscalationLevel < len(p.Escalation):
		return t.DueAt.Add(p.Escalation[t.EscalationLevel].After.D()), true
	}
	return time.Time{}, false
}

// Tick applies every deadline of the task that is due at now and returns
// what happened. A task whose dependencies are not done stays scheduled.
func (t *Task) Tick(now time.Time, p TaskPolicy, depsDone bool) []TaskEvent {
	var out []TaskEvent
	if t.State == TaskScheduled && t.OpenAt != nil && !now.Before(*t.OpenAt) && depsDone {
		t.State = TaskOpen
		out = append(out, TaskEvent{Kind: TaskOpened, TaskID: t.ID})
	}
	if !t.State.Active() || t.DueAt == nil {
		return out
	}
	if t.RemindedAt == nil && p.RemindBefore > 0 && t.EscalationLevel == 0 &&
		!now.Before(t.DueAt.Add(-p.RemindBefore.D())) {
		at := now
		t.RemindedAt = &at
		if now.Before(*t.DueAt) { // a reminder for a task already past due is not sent: escalation takes over
			out = append(out, TaskEvent{Kind: TaskReminded, TaskID: t.ID, Notify: t.who()})
		}
	}
	for t.EscalationLevel < len(p.Escalation) && !now.Before(t.DueAt.Add(p.Escalation[t.EscalationLevel].After.D())) {
		tier := p.Escalation[t.EscalationLevel]
		t.EscalationLevel++
		at := now
		t.EscalatedAt, t.EscalatedTo = &at, tier.Notify
		if t.RemindedAt == nil { // a reminder that was never due is not owed any more
			t.RemindedAt = &at
		}
		out = append(out, TaskEvent{Kind: TaskEscalated, TaskID: t.ID, Level: t.EscalationLevel, Notify: tier.Notify})
	}
	return out
}

func (t Task) who() string {
	if t.Assignee != "" {
		return t.Assignee
	}
	return string(t.Role)
}

// CanWork reports whether actor may work the task: its assignee, anyone
// holding its role when it has no assignee, or an admin.
func (t Task) CanWork(a Actor) bool {
	if a.Has(RoleAdmin) {
		return true
	}
	if t.Assignee != "" {
		return a.ID == t.Assignee
	}
	return t.Role != "" && a.Has(t.Role)
}

// taskMoves lists the transitions people may make.
var taskMoves = map[TaskState][]TaskState{
	TaskOpen:       {TaskInProgress, TaskBlocked, TaskDone, TaskSkipped, TaskCancelled},
	TaskInProgress: {TaskBlocked, TaskDone, TaskSkipped, TaskCancelled, TaskOpen},
	TaskBlocked:    {TaskOpen, TaskInProgress, TaskDone, TaskSkipped, TaskCancelled},
	TaskScheduled:  {TaskSkipped, TaskCancelled},
}

// CheckMove validates a person's transition of the task to state to. A
// reason is required for blocked, skipped and cancelled.
func (t Task) CheckMove(to TaskState, reason string) error {
	if err := t.CanMove(to); err != nil {
		return err
	}
	return checkMoveReason(to, reason)
}

// CanMove reports whether the task's state allows a move to state to:
// the part of CheckMove that needs no input, so a page can offer only the
// moves that may succeed.
func (t Task) CanMove(to TaskState) error {
	if !slices.Contains([]TaskState{TaskOpen, TaskInProgress, TaskBlocked, TaskDone, TaskSkipped, TaskCancelled}, to) {
		return Invalid("state", "unknown task state %q", to)
	}
	if !slices.Contains(taskMoves[t.State], to) {
		return Conflict(string(t.State), "task %s is %s and cannot become %s", t.ID, t.State, to)
	}
	return nil
}

// checkMoveReason requires a reason for blocked, skipped and cancelled.
func checkMoveReason(to TaskState, reason string) error {
	if (to == TaskBlocked || to == TaskSkipped || to == TaskCancelled) && reason == "" {
		return Invalid("reason", "a reason is required to mark a task %s", to)
	}
	return nil
}

// Move applies a checked transition made by actor at now.
func (t *Task) Move(to TaskState, reason string, evidence []string, actor Actor, now time.Time) {
	t.State, t.Reason = to, reason
	if to == TaskOpen || to == TaskInProgress || to == TaskDone {
		t.Reason = ""
	}
	t.Evidence = append(t.Evidence, evidence...)
	if to == TaskDone {
		at := now
		t.CompletedBy, t.CompletedAt = actor.ID, &at
	}
}

// Progress returns the weighted share (0–100) of tasks done. Skipped and
// cancelled tasks count neither as done nor in the total: skipped is "not
// applicable", never "done".
func Progress(tasks []Task) float64 {
	var done, total int
	for _, t := range tasks {
		if t.State == TaskSkipped || t.State == TaskCancelled {
			continue
		}
		w := max(t.Weight, 1)
		total += w
		if t.State == TaskDone {
			done += w
		}
	}
	if total == 0 {
		return 0
	}
	return float64(done*10000/total) / 100
}
