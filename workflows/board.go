package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/opsflow/opsflow"
)

// The task board's moves inside a workflow: timers and people's task
// steps, each recorded in the audit trail. The board itself, and its pure
// rules, are the domain's (opsflow.Board).

// resolver names who a tier's relation ("owner", "approver", "manager", …)
// is for a task; an empty answer falls back to the relation itself, a role.
type resolver func(relation string, t opsflow.Task) string

// tick fires every task deadline of b due at now, recording each reminder,
// escalation and opening in the audit trail and queuing its notification.
func tick(ctx workflow.Context, e *engine, b *opsflow.Board, now time.Time, who resolver) {
	for i := range b.Tasks {
		t := &b.Tasks[i]
		for _, te := range t.Tick(now, b.Policy, b.DepsDone(*t)) {
			c := change{Actor: opsflow.SystemActor, Action: string(te.Kind), Field: "tasks." + t.ID}
			to := te.Notify
			switch te.Kind {
			case opsflow.TaskOpened:
				c.Old, c.New = opsflow.TaskScheduled, opsflow.TaskOpen
				to = t.Assignee
				if to == "" { // a role's queue: everyone holding the role
					to = string(t.Role)
				}
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
			kind := opsflow.NotifyAssigned
			switch te.Kind {
			case opsflow.TaskReminded:
				kind = opsflow.NotifyReminder
			case opsflow.TaskEscalated:
				kind = opsflow.NotifyEscalated
				if to == t.Assignee || to == string(t.Role) {
					kind = opsflow.NotifyOverdue // the first tier tells the task's own holder
				}
			}
			e.notifyWith(ev, opsflow.Notification{Kind: kind, To: to, TaskID: t.ID, Subject: fmt.Sprintf("%s: %s", te.Kind, t.Title), Level: te.Level})
		}
	}
}

// moveTask applies a checked move on b and records it.
func moveTask(ctx workflow.Context, e *engine, b *opsflow.Board, m opsflow.TaskMove) *opsflow.Task {
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

// reassignTask applies a checked reassignment on b, records it and tells
// the new assignee.
func reassignTask(ctx workflow.Context, e *engine, b *opsflow.Board, r opsflow.TaskReassign) {
	old, t := b.Reassign(r)
	ev := e.record(ctx, change{Actor: r.Actor, Action: "task.reassigned", Field: "tasks." + t.ID + ".assignee", Old: old, New: r.Assignee, Reason: r.Reason})
	e.notifyWith(ev, opsflow.Notification{Kind: opsflow.NotifyAssigned, To: r.Assignee, TaskID: t.ID, Subject: "assigned: " + t.Title, Reason: r.Reason})
}
