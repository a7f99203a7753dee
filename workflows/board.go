package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/opsflow/opsflow"
)

// Board is the human-task board a process carries: its tasks and the
// reminder and escalation policy that timers apply to them. It is part of
// the process's durable state.
type Board struct {
	Tasks  []opsflow.Task     `json:"tasks"`
	Policy opsflow.TaskPolicy `json:"policy"`
}

// Find returns the task with the given ID.
func (b *Board) Find(id string) (*opsflow.Task, error) {
	for i := range b.Tasks {
		if b.Tasks[i].ID == id {
			return &b.Tasks[i], nil
		}
	}
	return nil, &opsflow.Error{Code: opsflow.ENOTFOUND, Field: "task_id", Message: fmt.Sprintf("no task %q in this process", id)}
}

// Add appends a task; its ID must be new.
func (b *Board) Add(t opsflow.Task) error {
	if _, err := b.Find(t.ID); err == nil {
		return opsflow.Invalid("task_id", "task %q already exists", t.ID)
	}
	b.Tasks = append(b.Tasks, t)
	return nil
}

// depsDone reports whether every task t depends on is done (or skipped:
// a step judged not applicable must not hold the rest back).
func (b *Board) depsDone(t opsflow.Task) bool {
	for _, id := range t.DependsOn {
		d, err := b.Find(id)
		if err != nil {
			continue
		}
		if d.State != opsflow.TaskDone && d.State != opsflow.TaskSkipped {
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
			if t.State == opsflow.TaskScheduled && !b.depsDone(t) {
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
		if t.State.Active() || t.State == opsflow.TaskScheduled {
			return true
		}
	}
	return false
}

// resolver names who a tier's relation ("owner", "approver", "manager", …)
// is for a task; an empty answer falls back to the relation itself, a role.
type resolver func(relation string, t opsflow.Task) string

// tick fires every task deadline due at now, recording each reminder,
// escalation and opening in the audit trail and queuing its notification.
func (b *Board) tick(ctx workflow.Context, e *engine, now time.Time, who resolver) {
	for i := range b.Tasks {
		t := &b.Tasks[i]
		for _, te := range t.Tick(now, b.Policy, b.depsDone(*t)) {
			c := change{Actor: opsflow.SystemActor, Action: string(te.Kind), Field: "tasks." + t.ID}
			to := te.Notify
			switch te.Kind {
			case opsflow.TaskOpened:
				c.Old, c.New = opsflow.TaskScheduled, opsflow.TaskOpen
				to = t.Assignee
			case opsflow.TaskReminded:
				c.New = fmt.Sprintf("reminder: due %s", t.DueAt.UTC().Format(time.RFC3339))
			case opsflow.TaskEscalated:
				if who != nil {
					if r := who(te.Notify, *t); r != "" {
						to = r
					}
				}
				t.EscalatedTo = to
				c.Field = "tasks." + t.ID + ".escalation_level"
				c.Old, c.New = te.Level-1, te.Level
				c.Reason = fmt.Sprintf("overdue since %s; escalated to %s", t.DueAt.UTC().Format(time.RFC3339), to)
			}
			ev := e.record(ctx, c)
			e.notifyFor(ev, to, t.ID, fmt.Sprintf("%s: %s", te.Kind, t.Title))
		}
	}
}

// TaskMove is the input of a person's task update: move task TaskID to
// State, with a reason (blocked, skipped, cancelled) and evidence (done).
type TaskMove struct {
	Actor    opsflow.Actor     `json:"actor"`
	TaskID   string            `json:"task_id"`
	State    opsflow.TaskState `json:"state"`
	Reason   string            `json:"reason,omitempty"`
	Evidence []string          `json:"evidence,omitempty"`
}

// UpdateMoveTask is the update name of a task move, shared by every process.
const UpdateMoveTask = "move-task"

// checkMove validates m against the board: the task exists, the actor may
// work it and the transition is allowed.
func (b *Board) checkMove(m TaskMove) error {
	t, err := b.Find(m.TaskID)
	if err != nil {
		return err
	}
	if !t.CanWork(m.Actor) {
		return opsflow.Forbidden("task %s is assigned to %s", t.ID, t.Assignee+string(t.Role))
	}
	return t.CheckMove(m.State, m.Reason)
}

// move applies a checked move and records it.
func (b *Board) move(ctx workflow.Context, e *engine, m TaskMove) *opsflow.Task {
	t, _ := b.Find(m.TaskID)
	old := t.State
	t.Move(m.State, m.Reason, m.Evidence, m.Actor, e.now(ctx))
	e.record(ctx, change{
		Actor: m.Actor, Role: t.Role, Action: "task." + string(m.State),
		Field: "tasks." + t.ID + ".state", Old: old, New: m.State, Reason: m.Reason,
	})
	if len(m.Evidence) > 0 {
		e.record(ctx, change{Actor: m.Actor, Role: t.Role, Action: "task.evidence_added", Field: "tasks." + t.ID + ".evidence", New: m.Evidence})
	}
	return t
}
