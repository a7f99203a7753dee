package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/opsflow/opsflow"
)

// The KPI watch: one long-running workflow per KPI (ID "kpiwatch-<key>"),
// told by a signal whenever measurements arrive or the definition changes.
// Each time it evaluates the KPI (an activity reads the definition and the
// measurements no evaluation has judged yet and puts them on the XmR
// chart), and for every unfavourable violation on a new point it follows
// the KPI's response policy:
//
//   - none: the signal is recorded on the KPI's trail;
//   - kaizen or capa: while a process its signals opened for that rule is
//     still open, the signal is added to it (the kpi-signal update);
//     otherwise a new one is opened with Update-with-Start, its workflow
//     ID derived from the KPI, the rule and the point, so it is opened
//     once however often the activity is retried.
//
// In-limit noise, warnings and favourable signals open nothing. The watch
// also keeps a timer on the KPI's missing-measurement deadline and raises
// a task for the owner when it passes without a measurement.
//
// The decisions are the workflow's (durable, replayed, tested with time
// skipping); the reads and writes are activities, each idempotent. The
// watch is not a process with a record of its own: what it does shows on
// the KPI (its open processes, its audit stream), so it needs no engine
// and stamps nothing with workflow time (its activities report times).

// WorkflowKPIWatch is the KPI watch's workflow type.
const WorkflowKPIWatch = "KPIWatch"

// SignalKPIChanged tells a KPI's watch to evaluate: measurements arrived,
// or the definition changed.
const SignalKPIChanged = "kpi-changed"

// KPIWatchID is the workflow ID of a KPI's watch.
func KPIWatchID(key string) string { return "kpiwatch-" + key }

// Activities of the KPI watch.
const (
	ActivityEvaluateKPI             = "EvaluateKPI"
	ActivityOpenKPIProcess          = "OpenKPIProcess"
	ActivityNoteKPISignal           = "NoteKPISignal"
	ActivityRecordKPISignal         = "RecordKPISignal"
	ActivityRaiseMissingMeasurement = "RaiseMissingMeasurement"
)

// KPIChange is the payload of SignalKPIChanged.
type KPIChange struct {
	Reason string `json:"reason"` // measurements, definition
	Count  int    `json:"count,omitempty"`
}

// KPIWatchInput starts a KPI's watch, or continues it as new.
type KPIWatchInput struct {
	KPI string `json:"kpi"`
	// Day is the length of a process day for the processes it opens.
	Day   time.Duration `json:"day"`
	State KPIWatchState `json:"state"`
}

// KPIWatchState is what the watch carries across continue-as-new.
type KPIWatchState struct {
	// Evaluations numbers the evaluations done (the activity's claim key).
	Evaluations int64 `json:"evaluations"`
	// Open are the processes the KPI's signals opened that were open at
	// the last evaluation, one per rule at most.
	Open []opsflow.KPILink `json:"open,omitempty"`
	// Deadline is when a measurement will be missing (none: no rule, or a
	// task was raised and the next measurement resets it).
	Deadline *time.Time `json:"deadline,omitempty"`
	// Pending counts changes signalled and not yet evaluated.
	Pending int `json:"pending,omitempty"`
}

// EvaluateRequest asks for evaluation number Evaluation of a KPI.
type EvaluateRequest struct {
	KPI        string `json:"kpi"`
	Evaluation int64  `json:"evaluation"`
}

// KPIEvaluation is an evaluation's answer.
type KPIEvaluation struct {
	KPI opsflow.KPIDefinition `json:"kpi"`
	// New counts the measurements judged for the first time; Breaches are
	// the unfavourable violations on them, in point order.
	New      int                 `json:"new"`
	Breaches []opsflow.KPIBreach `json:"breaches,omitempty"`
	// Open are the processes the KPI's signals opened that are open now.
	Open []opsflow.KPILink `json:"open,omitempty"`
	// Deadline is when a measurement will be missing (nil: no rule).
	Deadline *time.Time `json:"deadline,omitempty"`
	At       time.Time  `json:"at"`
}

// SignalRequest asks to act on one breach: open a process (OpenKPIProcess),
// add it to Link (NoteKPISignal), or record it (RecordKPISignal).
type SignalRequest struct {
	KPI    opsflow.KPIDefinition `json:"kpi"`
	Breach opsflow.KPIBreach     `json:"breach"`
	Link   *opsflow.KPILink      `json:"link,omitempty"`
	Day    time.Duration         `json:"day"`
}

// Signal outcomes.
const (
	SignalOpened   = "opened"
	SignalNoted    = "noted"
	SignalRecorded = "recorded"
	// SignalClosed: the linked process had finished; open a new one.
	SignalClosed = "closed"
)

// SignalOutcome says what was done about a breach.
type SignalOutcome struct {
	Action    string       `json:"action"`
	ProcessID string       `json:"process_id,omitempty"`
	Kind      opsflow.Kind `json:"kind,omitempty"`
	At        time.Time    `json:"at"`
}

// MissingRequest asks to raise the missing-measurement task of a deadline.
type MissingRequest struct {
	KPI      string    `json:"kpi"`
	Deadline time.Time `json:"deadline"`
}

// MissingOutcome says whether a task was raised and when to look again.
type MissingOutcome struct {
	Raised bool       `json:"raised"`
	TaskID string     `json:"task_id,omitempty"`
	Next   *time.Time `json:"next,omitempty"`
}

// watchOptions: the watch's activities read and write PostgreSQL and
// start processes through Temporal; each is idempotent, so they retry
// until the outage is over. Opening a process waits for its first
// projection, hence the longer attempt.
var watchOptions = workflow.ActivityOptions{
	StartToCloseTimeout: time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
	},
}

// watchEvaluationsPerRun bounds a run's history: the watch continues as
// new after this many evaluations (or when Temporal suggests it).
const watchEvaluationsPerRun = 200

// KPIWatch is the durable watch of one KPI (see the comment above).
func KPIWatch(ctx workflow.Context, in KPIWatchInput) error {
	w := &watch{in: in, st: in.State}
	ch := workflow.GetSignalChannel(ctx, SignalKPIChanged)
	actx := workflow.WithActivityOptions(ctx, watchOptions)
	evaluated := 0
	for {
		// Take every change signalled so far: one evaluation judges them all.
		var c KPIChange
		for ch.ReceiveAsync(&c) {
			w.st.Pending++
		}
		if w.st.Pending > 0 {
			w.st.Pending = 0
			if err := w.evaluate(actx); err != nil {
				return err
			}
			evaluated++
		}
		if evaluated >= watchEvaluationsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			for ch.ReceiveAsync(&c) {
				w.st.Pending++
			}
			return workflow.NewContinueAsNewError(ctx, WorkflowKPIWatch, KPIWatchInput{KPI: in.KPI, Day: in.Day, State: w.st})
		}

		// Wait for the next change, or the missing-measurement deadline.
		tctx, cancel := workflow.WithCancel(ctx)
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(ch, func(rc workflow.ReceiveChannel, _ bool) {
			rc.Receive(ctx, &c)
			w.st.Pending++
		})
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		fired := false
		if d := w.st.Deadline; d != nil {
			// workflow.Now only sizes the timer: nothing is stamped with it.
			wait := d.Sub(workflow.Now(ctx))
			if wait < 0 {
				wait = 0
			}
			sel.AddFuture(workflow.NewTimer(tctx, wait), func(f workflow.Future) {
				fired = f.Get(ctx, nil) == nil
			})
		}
		sel.Select(ctx)
		cancel()
		if fired && w.st.Pending == 0 {
			if err := w.missing(actx); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

type watch struct {
	in KPIWatchInput
	st KPIWatchState
}

func (w *watch) evaluate(ctx workflow.Context) error {
	n := w.st.Evaluations + 1
	var ev KPIEvaluation
	err := workflow.ExecuteActivity(ctx, ActivityEvaluateKPI, EvaluateRequest{KPI: w.in.KPI, Evaluation: n}).Get(ctx, &ev)
	w.st.Evaluations = n
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.NonRetryable() {
		// Retrying cannot help (the KPI is gone, its data cannot be
		// charted): the watch goes on and the next change tries again.
		workflow.GetLogger(ctx).Error("kpi not evaluated", "kpi", w.in.KPI, "evaluation", n, "error", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("evaluate kpi %s: %w", w.in.KPI, err)
	}
	w.st.Open, w.st.Deadline = ev.Open, ev.Deadline
	for _, b := range ev.Breaches {
		if err := w.respond(ctx, ev.KPI, b); err != nil {
			return err
		}
	}
	return nil
}

// respond follows the policy for one breach: record it, add it to the
// process open for its rule, or open one.
func (w *watch) respond(ctx workflow.Context, d opsflow.KPIDefinition, b opsflow.KPIBreach) error {
	req := SignalRequest{KPI: d, Breach: b, Day: w.in.Day}
	var out SignalOutcome
	if d.Spec.Policy.Action == opsflow.RespondNone || d.Spec.Policy.Action == "" {
		return w.run(ctx, ActivityRecordKPISignal, req, &out)
	}
	if i := w.openFor(b.Rule); i >= 0 {
		link := w.st.Open[i]
		req.Link = &link
		if err := w.run(ctx, ActivityNoteKPISignal, req, &out); err != nil {
			return err
		}
		if out.Action != SignalClosed {
			w.st.Open[i].Signals++
			return nil
		}
		// It finished since the evaluation: this signal opens a new one.
		w.st.Open = append(w.st.Open[:i], w.st.Open[i+1:]...)
		req.Link = nil
	}
	if err := w.run(ctx, ActivityOpenKPIProcess, req, &out); err != nil {
		return err
	}
	if out.Action == SignalOpened || out.Action == SignalNoted {
		w.st.Open = append(w.st.Open, opsflow.KPILink{ProcessID: out.ProcessID, Kind: out.Kind, Rule: b.Rule, PointID: b.PointID,
			OpenedAt: out.At, Signals: 1, State: "open"})
	}
	return nil
}

func (w *watch) openFor(rule string) int {
	for i, l := range w.st.Open {
		if l.Rule == rule {
			return i
		}
	}
	return -1
}

func (w *watch) run(ctx workflow.Context, activity string, req SignalRequest, out *SignalOutcome) error {
	if err := workflow.ExecuteActivity(ctx, activity, req).Get(ctx, out); err != nil {
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.NonRetryable() {
			// A breach that can never be acted on (a policy naming a
			// sponsor the Kaizen refuses, say) must not stop the watch:
			// the activity has logged it; the next signals go on.
			workflow.GetLogger(ctx).Error("kpi signal not acted on", "kpi", w.in.KPI, "signal", req.Breach.SignalKey(), "error", err)
			return nil
		}
		return fmt.Errorf("%s for kpi %s: %w", activity, w.in.KPI, err)
	}
	return nil
}

func (w *watch) missing(ctx workflow.Context) error {
	var out MissingOutcome
	if err := workflow.ExecuteActivity(ctx, ActivityRaiseMissingMeasurement, MissingRequest{KPI: w.in.KPI, Deadline: *w.st.Deadline}).Get(ctx, &out); err != nil {
		return fmt.Errorf("missing measurement of kpi %s: %w", w.in.KPI, err)
	}
	w.st.Deadline = out.Next
	return nil
}
