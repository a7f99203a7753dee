package opsflow

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Board is the human-task board a process carries: its tasks and the
// reminder and escalation policy that timers apply to them. It is part of
// the process's durable state; the workflows move it.
type Board struct {
	Tasks  []Task     `json:"tasks,omitempty"`
	Policy TaskPolicy `json:"policy"`
}

// Find returns the task with the given ID.
func (b *Board) Find(id string) (*Task, error) {
	for i := range b.Tasks {
		if b.Tasks[i].ID == id {
			return &b.Tasks[i], nil
		}
	}
	return nil, &Error{Code: ENOTFOUND, Field: "task_id", Message: fmt.Sprintf("no task %q in this process", id)}
}

// Add appends a task; its ID must be new.
func (b *Board) Add(t Task) error {
	if _, err := b.Find(t.ID); err == nil {
		return Invalid("task_id", "task %q already exists", t.ID)
	}
	b.Tasks = append(b.Tasks, t)
	return nil
}

// DepsDone reports whether every task t depends on is done (or skipped:
// a step judged not applicable must not hold the rest back).
func (b *Board) DepsDone(t Task) bool {
	for _, id := range t.DependsOn {
		d, err := b.Find(id)
		if err != nil {
			continue
		}
		if d.State != TaskDone && d.State != TaskSkipped {
			return false
		}
	}
	return true
}

// Deadline is the earliest moment a timer must act on any task.
func (b *Board) Deadline() (time.Time, bool) {
	var next time.Time
	found := false
	for _, t := range b.Tasks {
		if at, ok := t.NextDeadline(b.Policy); ok && (!found || at.Before(next)) {
			if t.State == TaskScheduled && !b.DepsDone(t) {
				continue // it opens when its dependencies are done, which is a change, not a timer
			}
			next, found = at, true
		}
	}
	return next, found
}

// Active reports whether any task is still open, in progress or blocked.
func (b *Board) Active() bool {
	for _, t := range b.Tasks {
		if t.State.Active() || t.State == TaskScheduled {
			return true
		}
	}
	return false
}

// TaskMove is the input of a person's task step: move task TaskID to
// State, with a reason (blocked, skipped, cancelled) and evidence (done).
type TaskMove struct {
	Actor    Actor     `json:"actor,omitzero"`
	TaskID   string    `json:"task_id"`
	State    TaskState `json:"state"`
	Reason   string    `json:"reason,omitempty"`
	Evidence []string  `json:"evidence,omitempty"`
}

// TaskReassign is the input of a task's reassignment: Actor hands task
// TaskID to Assignee.
type TaskReassign struct {
	Actor    Actor  `json:"actor,omitzero"`
	TaskID   string `json:"task_id"`
	Assignee string `json:"assignee"`
	Reason   string `json:"reason,omitempty"`
}

// Validate checks the input alone.
func (r TaskReassign) Validate() error {
	if strings.TrimSpace(r.Assignee) == "" {
		return Invalid("assignee", "name the user the task goes to")
	}
	return nil
}

// CheckReassign validates r against the board: the task exists and is
// still to do, the actor is one of owners (the process's owners: its
// owner, for an onboarding its manager) or an administrator, and the task
// goes to someone new.
func (b *Board) CheckReassign(r TaskReassign, owners ...string) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if err := b.CanReassign(r.TaskID, r.Actor, owners...); err != nil {
		return err
	}
	if t, _ := b.Find(r.TaskID); t.Assignee == r.Assignee {
		return Invalid("assignee", "task %s is already assigned to %s", t.ID, r.Assignee)
	}
	return nil
}

// CanReassign is CheckReassign without the input: the task exists and is
// still to do, and a may hand it over.
func (b *Board) CanReassign(taskID string, a Actor, owners ...string) error {
	t, err := b.Find(taskID)
	if err != nil {
		return err
	}
	if err := MayReassign(a, owners...); err != nil {
		return err
	}
	if t.State.Final() {
		return Conflict(string(t.State), "task %s is %s: there is nothing left to hand over", t.ID, t.State)
	}
	return nil
}

// MayReassign: a process's tasks are handed over by one of its owners
// (its owner, for an onboarding its manager and HR) or an administrator.
func MayReassign(a Actor, owners ...string) error {
	if !a.Has(RoleAdmin) && !slices.Contains(owners, a.ID) {
		return Forbidden("only the process's owner or an administrator reassigns its tasks")
	}
	return nil
}

// Reassign hands a checked task to its new assignee. Its due date,
// reminder and escalations stay as they were: handing work over does not
// reset how late it is.
func (b *Board) Reassign(r TaskReassign) (old string, t *Task) {
	t, _ = b.Find(r.TaskID)
	old = t.Assignee
	if old == "" {
		old = string(t.Role)
	}
	t.Assignee = r.Assignee
	return old, t
}

// CheckMove validates m against the board: the task exists, the actor may
// work it and the transition is allowed.
func (b *Board) CheckMove(m TaskMove) error {
	if err := b.CanMove(m.TaskID, m.State, m.Actor); err != nil {
		return err
	}
	return checkMoveReason(m.State, m.Reason)
}

// CanMove is CheckMove without the input: the task exists, a may work it
// and its state allows the move to state to.
func (b *Board) CanMove(taskID string, to TaskState, a Actor) error {
	t, err := b.Find(taskID)
	if err != nil {
		return err
	}
	if !t.CanWork(a) {
		return Forbidden("task %s is assigned to %s", t.ID, t.Assignee+string(t.Role))
	}
	return t.CanMove(to)
}
