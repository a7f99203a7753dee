package workflows

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/opsflow/opsflow"
)

// EngineState is the engine's share of a process's durable state. Each
// process carries it across continue-as-new so audit sequence numbers and
// read-model versions keep growing.
type EngineState struct {
	ID      string       `json:"id"`
	Kind    opsflow.Kind `json:"kind"`
	Seq     int64        `json:"seq"`     // last audit sequence number assigned
	Version int64        `json:"version"` // last read-model version written
}

// process is what a workflow exposes to the engine.
type process interface {
	// row returns the read-model row (without ID, kind and version, which
	// the engine fills) and the process's tasks.
	row() (opsflow.Process, []opsflow.Task)
	// deadline is the next moment a timer must act, if any.
	deadline() (time.Time, bool)
	// fire acts on every deadline due at now.
	fire(ctx workflow.Context, now time.Time) error
	// done reports whether the process has reached a final state.
	done() bool
}

// engine is the part every process workflow shares: it numbers audit events,
// and a single writer — the workflow's main loop — projects the process to
// the read model after every change, in order. Update handlers only mutate
// state and then wait until their change is written, so the API answers
// with state that is already in PostgreSQL (read-your-writes).
type engine struct {
	EngineState
	pending []opsflow.AuditEvent
	notify  []opsflow.Notification
	changes int64 // mutations made in this run
	written int64 // mutations covered by the last completed projection
}

func newEngine(s EngineState) *engine { return &engine{EngineState: s} }

// change is one audited change.
type change struct {
	Actor  opsflow.Actor
	Role   opsflow.Role // the role the actor acted in
	Action string       // dotted verb: "capa.triaged", "task.completed"
	Field  string
	Old    any
	New    any
	Reason string
}

// record appends an audit event for c, stamped with workflow time, and marks
// the process dirty.
func (e *engine) record(ctx workflow.Context, c change) opsflow.AuditEvent {
	e.Seq++
	ev := opsflow.AuditEvent{
		ID:        opsflow.EventID(e.ID, e.Seq),
		Stream:    e.ID,
		Seq:       e.Seq,
		At:        opsflow.AuditTime(workflow.Now(ctx)),
		ActorID:   c.Actor.ID,
		ActorName: c.Actor.Name,
		ActorRole: c.Actor.RoleLabel(c.Role),
		Action:    c.Action,
		Field:     c.Field,
		Old:       text(c.Old),
		New:       text(c.New),
		Reason:    c.Reason,
	}
	e.pending = append(e.pending, ev)
	e.changes++
	return ev
}

// notifyFor queues a notification caused by audit event ev. Its ID derives
// from the event's, so a retried projection cannot send it twice.
func (e *engine) notifyFor(ev opsflow.AuditEvent, to, taskID, subject string) {
	if to == "" {
		return
	}
	e.notify = append(e.notify, opsflow.Notification{
		ID: ev.ID + ":" + to, ProcessID: e.ID, TaskID: taskID, To: to, Subject: subject, At: ev.At,
	})
}

// text renders an audited value: strings as they are, anything else as JSON
// (deterministic: struct fields in order, map keys sorted).
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case time.Time: // before fmt.Stringer, which time.Time also is
		return opsflow.AuditTime(v).Format(time.RFC3339Nano)
	case *time.Time:
		if v == nil {
			return ""
		}
		return opsflow.AuditTime(*v).Format(time.RFC3339Nano)
	case fmt.Stringer:
		return v.String()
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.String {
		return rv.String() // named string types (states, roles) read as themselves, not as quoted JSON
	}
	b, err := json.Marshal(v) //workflowcheck:ignore encoding/json sorts map keys: its output is deterministic
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// row builds the read-model row of p at the engine's current version.
func (e *engine) row(p process) (opsflow.Process, []opsflow.Task) {
	r, tasks := p.row()
	r.ID, r.Kind, r.Version = e.ID, e.Kind, e.Version
	return r, tasks
}

// saveOptions: projection retries until PostgreSQL is back — a change is
// never dropped, and handlers waiting on it simply wait longer.
var saveOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
	},
}

// flush writes the pending changes, if any, as one snapshot.
func (e *engine) flush(ctx workflow.Context, p process) error {
	if e.changes == e.written {
		return nil
	}
	upto := e.changes
	e.Version++
	proc, tasks := e.row(p)
	snap := opsflow.Snapshot{Process: proc, Tasks: tasks, Events: e.pending, Notify: e.notify}
	e.pending, e.notify = nil, nil
	actx := workflow.WithActivityOptions(ctx, saveOptions)
	if err := workflow.ExecuteActivity(actx, ActivitySaveSnapshot, snap).Get(ctx, nil); err != nil {
		return fmt.Errorf("project %s v%d: %w", e.ID, e.Version, err)
	}
	e.written = upto
	return nil
}

// awaitWritten blocks an update handler until every change made so far is
// in the read model, then returns the row as written.
func (e *engine) awaitWritten(ctx workflow.Context, p process) (opsflow.Process, error) {
	target := e.changes
	if err := workflow.Await(ctx, func() bool { return e.written >= target }); err != nil {
		return opsflow.Process{}, err
	}
	r, _ := e.row(p)
	return r, nil
}

// register installs the handlers every process has: the open update used by
// Update-with-Start and the live-state query.
func (e *engine) register(ctx workflow.Context, p process) error {
	if err := workflow.SetUpdateHandler(ctx, UpdateOpen, func(ctx workflow.Context) (opsflow.Process, error) {
		// The open update may run before the workflow body has recorded
		// anything: wait for the first projection (Version > 0, carried
		// across continue-as-new) and for nothing to be pending, so the
		// answer is a record that GET can already read.
		if err := workflow.Await(ctx, func() bool { return e.Version > 0 && e.written >= e.changes }); err != nil {
			return opsflow.Process{}, err
		}
		return e.awaitWritten(ctx, p)
	}); err != nil {
		return err
	}
	return workflow.SetQueryHandler(ctx, QueryState, func() (opsflow.Process, error) {
		r, _ := e.row(p)
		return r, nil
	})
}

// run is every process's main loop: project changes, fire due timers, wait
// for the next change or deadline. It returns when the process is done and
// every in-flight update has finished, or with a continue-as-new error built
// by next when Temporal suggests a fresh history.
func (e *engine) run(ctx workflow.Context, p process, next func() error) error {
	var fired time.Time // the deadline fired last, to catch a fire that makes no progress
	for !p.done() {
		if err := e.flush(ctx, p); err != nil {
			return err
		}
		if p.done() {
			break
		}
		now := workflow.Now(ctx)
		at, timed := p.deadline()
		if timed && !at.After(now) {
			if !fired.IsZero() && at.Equal(fired) {
				// fire did not move this deadline: a bug in the process.
				// Waiting for the next change beats spinning forever.
				workflow.GetLogger(ctx).Error("deadline did not advance", "process", e.ID, "deadline", at)
				timed = false
			} else {
				fired = at
				if err := p.fire(ctx, now); err != nil {
					return err
				}
				continue
			}
		}
		if next != nil && workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			if err := e.drain(ctx, p); err != nil {
				return err
			}
			return next()
		}
		fired = time.Time{}
		dirty := func() bool { return e.changes > e.written }
		if timed {
			if _, err := workflow.AwaitWithTimeout(ctx, at.Sub(now), dirty); err != nil {
				return err
			}
		} else if err := workflow.Await(ctx, dirty); err != nil {
			return err
		}
	}
	return e.drain(ctx, p)
}

// drain lets in-flight update handlers finish — they wait on projections
// only this loop writes — and writes what they changed. Returning before
// that would drop their work (and continue-as-new would lose them).
func (e *engine) drain(ctx workflow.Context, p process) error {
	for {
		if err := e.flush(ctx, p); err != nil {
			return err
		}
		if workflow.AllHandlersFinished(ctx) && e.changes == e.written {
			return nil
		}
		if err := workflow.Await(ctx, func() bool {
			return workflow.AllHandlersFinished(ctx) || e.changes > e.written
		}); err != nil {
			return err
		}
	}
}

// onUpdate registers a person's update: check validates the input against
// the current state without changing anything (it is also the Temporal
// validator, so a rejected update leaves no trace in history), apply makes
// and records the change, and the handler answers with the row once the
// change is written.
func onUpdate[In any](ctx workflow.Context, e *engine, p process, name string, check func(In) error, apply func(workflow.Context, In) error) error {
	return workflow.SetUpdateHandlerWithOptions(ctx, name,
		func(ctx workflow.Context, in In) (opsflow.Process, error) {
			if err := check(in); err != nil {
				return opsflow.Process{}, AppError(err)
			}
			if err := apply(ctx, in); err != nil {
				return opsflow.Process{}, AppError(err)
			}
			return e.awaitWritten(ctx, p)
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in In) error {
			return AppError(check(in))
		}},
	)
}
