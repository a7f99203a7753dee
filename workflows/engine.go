package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
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

// Resume is a process's whole durable state, carried across
// continue-as-new: the engine's counters, the record and the task board
// (TaskSeq numbers a CAPA's tasks). An onboarding's record holds its board
// and it resumes from (Resume, Engine) of OnboardingInput: that shape is in
// histories already, so it stays.
type Resume[R any] struct {
	Engine  EngineState   `json:"engine"`
	Record  R             `json:"record"`
	Board   opsflow.Board `json:"board"`
	TaskSeq int           `json:"task_seq,omitempty"`
}

// process is what a workflow exposes to the engine.
type process interface {
	// row returns the read-model row (without ID, kind and version, which
	// the engine fills) and the process's tasks. The record must not embed
	// the tasks: the store adds them, so they travel once.
	row() (opsflow.Process, []opsflow.Task)
	// deadline is the next moment a timer must act, if any.
	deadline() (time.Time, bool)
	// fire acts on every deadline due at now.
	fire(ctx workflow.Context, now time.Time) error
	// done reports whether the process has reached a final state.
	done() bool
	// halt ends the process because an operator cancelled its workflow
	// from Temporal's own tools: it records why and closes open tasks.
	halt(ctx workflow.Context, reason string)
	// steps binds each of the process's steps to its check and apply.
	steps() []handler
}

// handler is one step of a process, bound to the workflow's check (the
// update's validator, which changes nothing) and apply (which makes and
// records the change).
type handler struct {
	name     string
	register func(ctx workflow.Context, e *engine, p process) error
}

// on binds a step of the domain's step table to its check and apply: the
// step's name is the update's, and its input type is theirs, so a step
// cannot be served with one input and handled with another.
func on[B, In any](d opsflow.StepDef[B, In], check func(In) error, apply func(workflow.Context, In) error) handler {
	return handler{name: d.Name, register: func(ctx workflow.Context, e *engine, p process) error {
		return onUpdate(ctx, e, p, d.Name, check, apply)
	}}
}

// onTask binds the task steps every process shares (one update,
// opsflow.UpdateMoveTask, whatever the target state).
func onTask(check func(opsflow.TaskMove) error, apply func(workflow.Context, opsflow.TaskMove) error) handler {
	return handler{name: opsflow.UpdateMoveTask, register: func(ctx workflow.Context, e *engine, p process) error {
		return onUpdate(ctx, e, p, opsflow.UpdateMoveTask, check, apply)
	}}
}

// onReassign binds the task reassignment every process shares.
func onReassign(check func(opsflow.TaskReassign) error, apply func(workflow.Context, opsflow.TaskReassign) error) handler {
	return handler{name: opsflow.UpdateReassignTask, register: func(ctx workflow.Context, e *engine, p process) error {
		return onUpdate(ctx, e, p, opsflow.UpdateReassignTask, check, apply)
	}}
}

// Engine versions, chosen once per workflow run by workflow.GetVersion so
// that histories recorded by the first engine keep replaying:
//
//   - engineV1 projected with a regular activity, waited with
//     AwaitWithTimeout (whose timers are never cancelled), ran webhooks and
//     KPI reads inside the main loop and answered steps with the whole row.
//   - engineV2 projects with a local activity in the same workflow task (a
//     change costs no extra round trip through Temporal's matching), keeps
//     one cancellable timer for the next deadline, runs side effects beside
//     the loop, answers steps with an opsflow.Ack, and puts a process whose
//     changes the store refuses for good in a visible stall instead of
//     retrying forever.
const (
	engineChangeID = "opsflow-engine"
	engineV1       = workflow.DefaultVersion
	engineV2       = workflow.Version(1)
)

// engine is the part every process workflow shares: it numbers audit events,
// and a single writer — the workflow's main loop — projects the process to
// the read model after every change, in order. Update handlers only mutate
// state and then wait until their change is written, so the API answers
// with state that is already in PostgreSQL (read-your-writes).
type engine struct {
	EngineState
	v2      bool
	pending []opsflow.AuditEvent
	notify  []opsflow.Notification
	changes int64 // mutations made in this run
	written int64 // mutations covered by the last completed projection

	// stall is set while the store refuses this process's changes;
	// lastStall is the one an administrator last retried.
	stall, lastStall *opsflow.Stall
	// abandon is set by an administrator's abandon update, abandoned once
	// the store has closed the process.
	abandon   *opsflow.Abandonment
	abandoned bool
	// effects counts side effects running beside the main loop; they run
	// in a context cancelEffects ends once the process is done.
	effects       int
	effectsCtx    workflow.Context
	cancelEffects workflow.CancelFunc
	// clock is the time of the change being made (see now).
	clock time.Time
	// resyncs counts trail repairs in a row (see resync).
	resyncs int
	// timer is the one pending timer of the main loop, for timerAt.
	timer       workflow.Future
	timerAt     time.Time
	cancelTimer workflow.CancelFunc
}

// newEngine returns the engine of a process. It must be called first in a
// workflow run, before anything that adds commands: its version marker is
// the run's first command.
func newEngine(ctx workflow.Context, s EngineState) *engine {
	v := workflow.GetVersion(ctx, engineChangeID, engineV1, engineV2)
	e := &engine{EngineState: s, v2: v >= engineV2}
	e.clock = workflow.GetInfo(ctx).WorkflowStartTime
	return e
}

// now is the time of the change being made, which stamps its audit events
// and whatever it derives from "now" (due dates, windows). In engine v2 it
// is the same on every attempt of a workflow task — the moment the person
// acted (opsflow.Actor.At, stamped by the API), the deadline a timer fired
// for, the time an activity reported, the run's start — so a task retried
// after its projection committed makes byte-identical changes, which the
// store recognises as a retry. workflow.Now is not: it is the time the
// task attempt started. Engine v1 used it.
func (e *engine) now(ctx workflow.Context) time.Time {
	if e.v2 && !e.clock.IsZero() {
		return e.clock
	}
	return workflow.Now(ctx)
}

// at sets the time of the change about to be made (engine v2); the zero
// time falls back to the workflow task's time.
func (e *engine) at(ctx workflow.Context, t time.Time) {
	if t.IsZero() {
		t = workflow.Now(ctx)
	}
	e.clock = t.UTC()
}

// actedAt is the time the actor of an update's input acted: the Actor
// field every person's input carries.
func actedAt(in any) time.Time {
	v := reflect.ValueOf(in)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return time.Time{}
	}
	if f := v.FieldByName("Actor"); f.IsValid() {
		if a, ok := f.Interface().(opsflow.Actor); ok {
			return a.At
		}
	}
	return time.Time{}
}

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
//
// Workflow time differs between attempts of one workflow task, so an event
// re-sent after a task that failed behind a committed projection carries
// another time than the stored one: the store recognises it by ID and
// content and keeps the first (see postgres.AppendAudit).
func (e *engine) record(ctx workflow.Context, c change) opsflow.AuditEvent {
	e.Seq++
	ev := opsflow.AuditEvent{
		ID:        opsflow.EventID(e.ID, e.Seq),
		Stream:    e.ID,
		Seq:       e.Seq,
		At:        opsflow.AuditTime(e.now(ctx)),
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

// notifyFor queues a notification of kind caused by audit event ev. Its ID
// derives from the event's, so a retried projection cannot send it twice.
func (e *engine) notifyFor(ev opsflow.AuditEvent, kind, to, taskID, subject string) {
	e.notifyWith(ev, opsflow.Notification{Kind: kind, To: to, TaskID: taskID, Subject: subject})
}

// notifyWith queues n (its ID, process and time filled from ev).
func (e *engine) notifyWith(ev opsflow.AuditEvent, n opsflow.Notification) {
	if n.To == "" {
		return
	}
	n.ID, n.ProcessID, n.At = ev.ID+":"+n.To, e.ID, ev.At
	e.notify = append(e.notify, n)
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

// row builds the read-model row of p at the given version.
func (e *engine) row(p process, version int64) (opsflow.Process, []opsflow.Task) {
	r, tasks := p.row()
	r.ID, r.Kind, r.Version = e.ID, e.Kind, version
	return r, tasks
}

// ack is a step's answer: where its change is.
func (e *engine) ack(p process) opsflow.Ack {
	r, _ := p.row()
	return opsflow.Ack{ID: e.ID, Version: e.Version, State: r.State}
}

// saveOptions (engine v1): the projection as a regular activity, retried
// until PostgreSQL is back.
var saveOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
	},
}

// projectOptions (engine v2): the projection as a local activity. An
// attempt is bounded well under the workflow task timeout, so a hung
// database costs seconds per attempt, not the request's whole deadline;
// transient failures (PostgreSQL restarting) are retried without limit, and
// the activity marks permanent ones non-retryable.
var projectOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout: 4 * time.Second,
	// Without it the SDK gives up after the first StartToCloseTimeout; a
	// projection must outlast any database outage (its retries beyond a
	// workflow task continue after a timer, in the next one).
	ScheduleToCloseTimeout: 10 * 365 * 24 * time.Hour,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    200 * time.Millisecond,
		BackoffCoefficient: 2,
		MaximumInterval:    10 * time.Second,
	},
}

// flush writes the pending changes, if any, as one snapshot. Update
// handlers may run while the write is in flight; what they change is left
// pending for the next flush.
func (e *engine) flush(ctx workflow.Context, p process) error {
	if e.changes == e.written || e.stall != nil {
		return nil
	}
	upto := e.changes
	version := e.Version + 1
	proc, tasks := e.row(p, version)
	snap := opsflow.Snapshot{Process: proc, Tasks: tasks, Events: e.pending, Notify: e.notify}
	e.pending, e.notify = nil, nil
	if !e.v2 {
		e.Version = version
		actx := workflow.WithActivityOptions(ctx, saveOptions)
		if err := workflow.ExecuteActivity(actx, ActivitySaveSnapshot, snap).Get(ctx, nil); err != nil {
			return fmt.Errorf("project %s v%d: %w", e.ID, version, err)
		}
		e.written = upto
		return nil
	}
	lctx := workflow.WithLocalActivityOptions(ctx, projectOptions)
	err := workflow.ExecuteLocalActivity(lctx, ActivitySaveSnapshot, snap).Get(ctx, nil)
	if err == nil {
		e.Version, e.written, e.resyncs = version, upto, 0
		return nil
	}
	// Not written: keep the changes for the next attempt, ahead of any
	// made meanwhile.
	e.pending = append(snap.Events, e.pending...)
	e.notify = append(snap.Notify, e.notify...)
	if !permanent(err) {
		if ctx.Err() != nil {
			return fmt.Errorf("project %s v%d: %w", e.ID, version, err) // cancelled
		}
		// Not expected (the retry policy has no end), but never a reason
		// to fail the process: wait and try again.
		workflow.GetLogger(ctx).Warn("projection gave up; trying again shortly", "process", e.ID, "version", version, "error", err)
		if serr := workflow.Sleep(ctx, 10*time.Second); serr != nil {
			return serr
		}
		return e.flush(ctx, p)
	}
	if d, ok := diverged(err); ok && e.resyncs < 3 {
		e.resyncs++
		e.resync(ctx, d)
		return e.flush(ctx, p)
	}
	return e.stallOn(ctx, version, err)
}

// errAuditDiverged is the activity error type of an *opsflow.AuditDiverged
// (activities.ErrAuditDiverged; not imported, workflows import no I/O).
const errAuditDiverged = "audit.diverged"

func diverged(err error) (opsflow.AuditDiverged, bool) {
	var app *temporal.ApplicationError
	var d opsflow.AuditDiverged
	if errors.As(err, &app) && app.Type() == errAuditDiverged && app.HasDetails() && app.Details(&d) == nil {
		return d, true
	}
	return d, false
}

// resync repairs a trail whose stored events from d.At on describe
// changes that did not take effect: a workflow task committed its
// projection, was retried, and the retry changed something else (a timer
// fired in between, say). The trail is evidence and append-only, so
// nothing stored is touched: the pending events that are already stored
// unchanged are dropped, a note says which stored events were superseded,
// and the rest follow it, renumbered (with their notifications).
func (e *engine) resync(ctx workflow.Context, d opsflow.AuditDiverged) {
	var keep []opsflow.AuditEvent
	for _, ev := range e.pending {
		if ev.Seq >= d.At {
			keep = append(keep, ev)
		}
	}
	first := d.At
	if len(keep) > 0 {
		first = keep[0].Seq
	}
	reason := fmt.Sprintf("events %d to %d of this trail were recorded by a workflow task that was then retried, and the retry made different changes: they did not take effect; the changes that did follow this note", first, d.Head)
	if first > d.Head {
		reason = fmt.Sprintf("events %d to %d are missing from this trail (was the database restored from an older backup?); the changes since follow this note", d.Head+1, first-1)
	}
	workflow.GetLogger(ctx).Warn("audit trail diverged; appending a note and the changes after it", "process", e.ID, "at", d.At, "head", d.Head)
	e.Seq = d.Head + 1
	note := opsflow.AuditEvent{ID: opsflow.EventID(e.ID, e.Seq), Stream: e.ID, Seq: e.Seq, At: opsflow.AuditTime(e.now(ctx)),
		ActorID: opsflow.SystemActor.ID, ActorName: opsflow.SystemActor.Name, ActorRole: opsflow.SystemActor.RoleLabel(""),
		Action: "process.resynchronised", Reason: reason}
	renamed := map[string]string{}
	out := []opsflow.AuditEvent{note}
	for _, ev := range keep {
		e.Seq++
		id := opsflow.EventID(e.ID, e.Seq)
		renamed[ev.ID] = id
		ev.ID, ev.Seq = id, e.Seq
		out = append(out, ev)
	}
	e.pending = out
	var notes []opsflow.Notification
	for _, n := range e.notify {
		if ev, to, ok := strings.Cut(n.ID, ":"); ok {
			if id, moved := renamed[ev]; moved {
				n.ID = id + ":" + to
			} else if ev2 := ev; ev2 != "" {
				if seq := seqOf(ev2); seq >= d.At && seq <= d.Head {
					continue // its event was dropped as already stored
				}
			}
		}
		notes = append(notes, n)
	}
	e.notify = notes
}

// seqOf is the sequence number in an event ID "<stream>/<seq>".
func seqOf(id string) int64 {
	i := strings.LastIndexByte(id, '/')
	if i < 0 {
		return 0
	}
	n, err := strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// permanent reports whether an activity failed for good: it said so
// (a non-retryable application error), so retrying cannot help.
func permanent(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.NonRetryable()
}

// stallOn puts the process in a stall: its changes stay pending, steps are
// refused, the read model shows the stall and administrators are told.
// The stall write carries nothing a person typed, so it goes through where
// the snapshot could not.
func (e *engine) stallOn(ctx workflow.Context, version int64, cause error) error {
	attempts := 1
	if e.lastStall != nil {
		attempts = e.lastStall.Attempts + 1
	}
	e.stall = &opsflow.Stall{ID: e.ID, Kind: e.Kind, Since: e.now(ctx), Error: causeMessage(cause), Version: version, Attempts: attempts}
	workflow.GetLogger(ctx).Error("process stalled: the store refused its changes", "process", e.ID, "version", version, "error", e.stall.Error)
	lctx := workflow.WithLocalActivityOptions(ctx, projectOptions)
	if err := workflow.ExecuteLocalActivity(lctx, ActivityMarkStalled, *e.stall).Get(ctx, nil); err != nil && !permanent(err) {
		return fmt.Errorf("mark %s stalled: %w", e.ID, err)
	}
	return nil
}

// awaitWritten blocks an update handler until every change made so far is
// in the read model, then answers where it is. A stall answers at once.
func (e *engine) awaitWritten(ctx workflow.Context, p process) (opsflow.Ack, error) {
	target := e.changes
	if err := workflow.Await(ctx, func() bool { return e.written >= target || e.stall != nil }); err != nil {
		return opsflow.Ack{}, err
	}
	if e.written < target {
		return opsflow.Ack{}, AppError(e.stalledError())
	}
	return e.ack(p), nil
}

// stalledError is what a step meets on a stalled process.
func (e *engine) stalledError() error {
	return opsflow.Conflict("stalled", "%s %s is stalled: the store refused its changes (%s); they are held, and an administrator must retry or abandon it",
		e.Kind, e.ID, e.stall.Error)
}

// Admin updates every process understands.
const (
	// UpdateRetryStalled asks a stalled process to write its held changes
	// again (after the cause was fixed).
	UpdateRetryStalled = "admin-retry"
	// UpdateAbandon ends a stalled process, dropping its unsaved changes.
	UpdateAbandon = "admin-abandon"
)

// AdminAction is the input of the admin updates.
type AdminAction struct {
	Actor  opsflow.Actor `json:"actor"`
	Reason string        `json:"reason,omitempty"`
}

// register installs the process's step handlers and the handlers every
// process has: the open update used by Update-with-Start, the live-state
// query and, from engine v2, the admin updates for a stalled process.
func (e *engine) register(ctx workflow.Context, p process) error {
	for _, h := range p.steps() {
		if err := h.register(ctx, e, p); err != nil {
			return err
		}
	}
	if err := workflow.SetUpdateHandler(ctx, UpdateOpen, func(ctx workflow.Context) (opsflow.Ack, error) {
		// The open update may run before the workflow body has recorded
		// anything: wait for the first projection (Version > 0, carried
		// across continue-as-new) and for nothing to be pending, so the
		// answer is a record that GET can already read.
		if err := workflow.Await(ctx, func() bool { return (e.Version > 0 && e.written >= e.changes) || e.stall != nil }); err != nil {
			return opsflow.Ack{}, err
		}
		return e.awaitWritten(ctx, p)
	}); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (opsflow.Process, error) {
		r, _ := e.row(p, e.Version)
		return r, nil
	}); err != nil {
		return err
	}
	if !e.v2 {
		return nil
	}
	admin := func(a AdminAction) error {
		if !a.Actor.Has(opsflow.RoleAdmin) {
			return opsflow.Forbidden("only an administrator may retry or abandon a stalled process")
		}
		if e.stall == nil {
			return opsflow.Conflict("running", "%s %s is not stalled", e.Kind, e.ID)
		}
		return nil
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateRetryStalled,
		func(ctx workflow.Context, a AdminAction) (opsflow.Ack, error) {
			if err := admin(a); err != nil {
				return opsflow.Ack{}, AppError(err)
			}
			e.lastStall, e.stall = e.stall, nil
			e.at(ctx, a.Actor.At)
			workflow.GetLogger(ctx).Info("stalled process retried", "process", e.ID, "by", a.Actor.ID)
			return e.awaitWritten(ctx, p)
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, a AdminAction) error { return AppError(admin(a)) }},
	); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateAbandon,
		func(ctx workflow.Context, a AdminAction) (opsflow.Ack, error) {
			if err := admin(a); err != nil {
				return opsflow.Ack{}, AppError(err)
			}
			e.at(ctx, a.Actor.At)
			e.abandon = &opsflow.Abandonment{ID: e.ID, Kind: e.Kind, Actor: a.Actor, Reason: a.Reason, Error: e.stall.Error,
				Dropped: len(e.pending), At: e.now(ctx)}
			if err := workflow.Await(ctx, func() bool { return e.abandoned }); err != nil {
				return opsflow.Ack{}, err
			}
			return opsflow.Ack{ID: e.ID, Version: e.Version, State: opsflow.StateAbandoned}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, a AdminAction) error {
			if err := admin(a); err != nil {
				return AppError(err)
			}
			if a.Reason == "" {
				return AppError(opsflow.Invalid("reason", "say why the process is abandoned"))
			}
			return nil
		}},
	)
}

// run is every process's main loop: project changes, fire due timers, wait
// for the next change or deadline. It returns when the process is done and
// every in-flight update has finished, or with a continue-as-new error built
// by next when Temporal suggests a fresh history.
func (e *engine) run(ctx workflow.Context, p process, next func() error) error {
	err := e.loop(ctx, p, next)
	if e.v2 && temporal.IsCanceledError(err) && ctx.Err() != nil {
		return e.halt(ctx, p, err)
	}
	return err
}

func (e *engine) loop(ctx workflow.Context, p process, next func() error) error {
	var fired time.Time // the deadline fired last, to catch a fire that makes no progress
	for !p.done() {
		if err := e.flush(ctx, p); err != nil {
			return err
		}
		if e.abandon != nil {
			return e.abandonNow(ctx)
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
				if e.v2 {
					// What a timer does is stamped with its deadline, and
					// only what is due by then happens now; anything due
					// later fires in its own turn.
					e.clock, now = at.UTC(), at
				}
				if err := p.fire(ctx, now); err != nil {
					return err
				}
				continue
			}
		}
		if next != nil && e.stall == nil && workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			if err := e.drain(ctx, p); err != nil {
				return err
			}
			return next()
		}
		fired = time.Time{}
		if !e.v2 {
			dirty := func() bool { return e.changes > e.written }
			if timed {
				if _, err := workflow.AwaitWithTimeout(ctx, at.Sub(now), dirty); err != nil {
					return err
				}
			} else if err := workflow.Await(ctx, dirty); err != nil {
				return err
			}
			continue
		}
		if err := e.wait(ctx, now, at, timed); err != nil {
			return err
		}
	}
	e.stopTimer()
	if e.cancelEffects != nil {
		e.cancelEffects() // a webhook still retrying no longer matters
	}
	return e.drain(ctx, p)
}

// wait blocks until there is something to write, an administrator acted,
// or the deadline at (when timed) has come. It keeps one timer for the
// next deadline and starts a new one only when that deadline moves, so an
// update does not leave a stale timer behind (AwaitWithTimeout's timer is
// not cancelled in this SDK version unless a flag is set).
func (e *engine) wait(ctx workflow.Context, now, at time.Time, timed bool) error {
	if e.timer != nil && (!timed || !e.timerAt.Equal(at)) {
		e.stopTimer()
	}
	if timed && e.timer == nil {
		tctx, cancel := workflow.WithCancel(ctx)
		e.timer, e.timerAt, e.cancelTimer = workflow.NewTimer(tctx, at.Sub(now)), at, cancel
	}
	err := workflow.Await(ctx, func() bool {
		return (e.changes > e.written && e.stall == nil) || e.abandon != nil || (e.timer != nil && e.timer.IsReady())
	})
	if e.timer != nil && e.timer.IsReady() {
		terr := e.timer.Get(ctx, nil)
		e.timer, e.cancelTimer = nil, nil
		if err == nil && ctx.Err() != nil {
			err = terr // the workflow was cancelled, and its timer with it
		}
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// stopTimer cancels the pending timer, if any.
func (e *engine) stopTimer() {
	if e.timer != nil {
		e.cancelTimer()
		e.timer, e.cancelTimer = nil, nil
	}
}

// drain lets in-flight update handlers and side effects finish — handlers
// wait on projections only this loop writes, effects report back as
// changes — and writes what they changed. Returning before that would drop
// their work (and continue-as-new would lose them).
func (e *engine) drain(ctx workflow.Context, p process) error {
	for {
		if err := e.flush(ctx, p); err != nil {
			return err
		}
		if e.abandon != nil {
			return e.abandonNow(ctx)
		}
		idle := func() bool { return workflow.AllHandlersFinished(ctx) && e.effects == 0 }
		if idle() && (e.changes == e.written || e.stall != nil) {
			if e.stall != nil {
				// Finishing now would lose the held changes: wait for an
				// administrator instead.
				if err := workflow.Await(ctx, func() bool { return e.stall == nil || e.abandon != nil }); err != nil {
					return err
				}
				continue
			}
			return nil
		}
		if err := workflow.Await(ctx, func() bool {
			return idle() || (e.changes > e.written && e.stall == nil) || e.abandon != nil
		}); err != nil {
			return err
		}
	}
}

// abandonNow closes a stalled process for good: the store marks it
// abandoned and records who did it and why, the held changes are dropped,
// and the workflow ends.
func (e *engine) abandonNow(ctx workflow.Context) error {
	lctx := workflow.WithLocalActivityOptions(ctx, projectOptions)
	if err := workflow.ExecuteLocalActivity(lctx, ActivityAbandon, *e.abandon).Get(ctx, nil); err != nil {
		return fmt.Errorf("abandon %s: %w", e.ID, err)
	}
	e.abandoned = true
	e.pending, e.notify = nil, nil
	e.stopTimer()
	// Let the abandon update answer before the run ends.
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

// halt runs when the workflow was cancelled from outside opsflow: the
// process records that and closes, in a context the cancellation does not
// reach, so the read model does not keep an open row forever.
func (e *engine) halt(ctx workflow.Context, p process, cause error) error {
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	e.stopTimer()
	e.at(ctx, time.Time{})
	if !p.done() {
		p.halt(dctx, "the workflow was cancelled outside opsflow (Temporal UI or CLI)")
	}
	if err := e.flush(dctx, p); err != nil {
		return err
	}
	return cause
}

// beside runs a side effect (a webhook, a KPI read) beside the main loop,
// so a person's step never waits behind it: fn runs its activity and then
// applies the outcome as an ordinary change, which the loop projects.
// Engine v1 ran effects inline; its histories replay that way.
func (e *engine) beside(ctx workflow.Context, fn func(ctx workflow.Context)) {
	if !e.v2 {
		fn(ctx)
		return
	}
	if e.cancelEffects == nil {
		e.effectsCtx, e.cancelEffects = workflow.WithCancel(ctx)
	}
	e.effects++
	workflow.Go(e.effectsCtx, func(ctx workflow.Context) {
		defer func() { e.effects-- }()
		fn(ctx)
	})
}

// onUpdate registers a person's update: check validates the input against
// the current state without changing anything (it is also the Temporal
// validator, so a rejected update leaves no trace in history), apply makes
// and records the change, and the handler answers once the change is
// written.
func onUpdate[In any](ctx workflow.Context, e *engine, p process, name string, check func(In) error, apply func(workflow.Context, In) error) error {
	validate := func(in In) error {
		if e.stall != nil {
			return e.stalledError()
		}
		return check(in)
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, name,
		func(ctx workflow.Context, in In) (opsflow.Ack, error) {
			if err := validate(in); err != nil {
				return opsflow.Ack{}, AppError(err)
			}
			if e.v2 {
				e.at(ctx, actedAt(in))
			}
			if err := apply(ctx, in); err != nil {
				return opsflow.Ack{}, AppError(err)
			}
			return e.awaitWritten(ctx, p)
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in In) error {
			return AppError(validate(in))
		}},
	)
}
