package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/kpichart"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/workflows"
)

// kpiStore is what the KPI loop's activities (the watch, the built-in
// KPIs, the report) need from the store.
type kpiStore interface {
	GetKPIDefinition(ctx context.Context, key string) (opsflow.KPIDefinition, error)
	AllKPIDefinitions(ctx context.Context) ([]opsflow.KPIDefinition, error)
	AllMeasurements(ctx context.Context, key string, to time.Time) ([]opsflow.Measurement, error)
	Evaluate(ctx context.Context, key string, n int64) (postgres.Evaluation, error)
	SignalRecord(ctx context.Context, key, rule, pointID string) (string, string, bool, error)
	SignalHandled(ctx context.Context, key string, b opsflow.KPIBreach, action, processID string, kind opsflow.Kind, note string, at time.Time) (string, string, error)
	KPILinks(ctx context.Context, key string) ([]opsflow.KPILink, error)
	RaiseKPITask(ctx context.Context, key string, t opsflow.Task, at time.Time) (bool, error)
	CloseKPITasks(ctx context.Context, key, kind, id string, actor opsflow.Actor, reason string, at time.Time) (int, error)
	AddSystemMeasurements(ctx context.Context, ms []opsflow.Measurement) (int, error)
	ProcessesActiveIn(ctx context.Context, kind opsflow.Kind, from, to time.Time) ([]opsflow.Process, error)
	TasksDueBefore(ctx context.Context, to time.Time) ([]opsflow.Task, error)
	Commentaries(ctx context.Context, period string) (map[string]postgres.Commentary, error)
	SaveReport(ctx context.Context, r postgres.StoredReport) (postgres.StoredReport, bool, error)
	ReportByPeriod(ctx context.Context, period string) (postgres.StoredReport, error)
	ReportSettings(ctx context.Context) (opsflow.ReportSettings, bool, error)
}

// now is the activities' clock: real time, reported to the workflows that
// stamp their changes with it.
func now() time.Time { return time.Now().UTC() }

// EvaluateKPI judges the measurements of a KPI that no evaluation has
// judged yet (claimed for evaluation r.Evaluation, so a retry judges the
// same ones): it puts every measurement on the XmR chart and returns the
// unfavourable violations on the new ones, the processes the KPI's
// signals opened that are still open, and the missing-measurement
// deadline. A new measurement closes an open missing-measurement task.
func (a *Activities) EvaluateKPI(ctx context.Context, r workflows.EvaluateRequest) (workflows.KPIEvaluation, error) {
	out := workflows.KPIEvaluation{At: now()}
	ev, err := a.Store.Evaluate(ctx, r.KPI, r.Evaluation)
	if err != nil {
		return out, classify(fmt.Errorf("evaluate kpi %s: %w", r.KPI, err))
	}
	d := ev.Definition
	out.KPI, out.Open, out.New = d, ev.Open, len(ev.New)
	c, err := kpichart.Build(d, ev.Measurements)
	if err != nil {
		return out, temporal.NewNonRetryableApplicationError(err.Error(), "kpi.chart", err)
	}
	isNew := map[string]bool{}
	for _, id := range ev.New {
		isNew[id] = true
	}
	out.Breaches = kpichart.Breaches(d, c, func(id string) bool { return isNew[id] })
	if d.Spec.Missing.Enabled {
		last := d.CreatedAt
		if n := len(ev.Measurements); n > 0 {
			last = ev.Measurements[n-1].At
		}
		dl := d.Spec.Missing.Deadline(d.Spec.Frequency, last).UTC()
		out.Deadline = &dl
	}
	if len(ev.New) > 0 {
		if _, err := a.Store.CloseKPITasks(ctx, d.Key, postgres.KPITaskMissing, "", opsflow.SystemActor, "a measurement arrived", out.At); err != nil {
			return out, classify(fmt.Errorf("close missing-measurement tasks of %s: %w", d.Key, err))
		}
	}
	a.logger().InfoContext(ctx, "kpi evaluated", "kpi", d.Key, "evaluation", r.Evaluation, "new", len(ev.New), "breaches", len(out.Breaches), "open", len(out.Open))
	return out, nil
}

// handled answers a breach already acted on the way it was acted on, so a
// retried activity never acts twice (never opens a second process for a
// signal already added to one that has since closed, say).
func (a *Activities) handled(ctx context.Context, r workflows.SignalRequest) (workflows.SignalOutcome, bool, error) {
	action, pid, found, err := a.Store.SignalRecord(ctx, r.KPI.Key, r.Breach.Rule, r.Breach.PointID)
	if err != nil || !found {
		return workflows.SignalOutcome{}, false, classify(err)
	}
	kind := opsflow.Kind("")
	switch {
	case strings.HasPrefix(pid, opsflow.KindCAPA.IDPrefix()):
		kind = opsflow.KindCAPA
	case strings.HasPrefix(pid, opsflow.KindKaizen.IDPrefix()):
		kind = opsflow.KindKaizen
	}
	return workflows.SignalOutcome{Action: action, ProcessID: pid, Kind: kind, At: now()}, true, nil
}

// RecordKPISignal records a breach of a KPI whose policy opens nothing.
func (a *Activities) RecordKPISignal(ctx context.Context, r workflows.SignalRequest) (workflows.SignalOutcome, error) {
	if out, ok, err := a.handled(ctx, r); ok || err != nil {
		return out, err
	}
	at := now()
	action, pid, err := a.Store.SignalHandled(ctx, r.KPI.Key, r.Breach, workflows.SignalRecorded, "", "", "", at)
	if err != nil {
		return workflows.SignalOutcome{}, classify(err)
	}
	return workflows.SignalOutcome{Action: action, ProcessID: pid, At: at}, nil
}

// NoteKPISignal adds a breach to the process already open for its KPI and
// rule (the kpi-signal update, one per signal by its update ID). If that
// process has finished, it answers closed and the watch opens a new one.
func (a *Activities) NoteKPISignal(ctx context.Context, r workflows.SignalRequest) (workflows.SignalOutcome, error) {
	if out, ok, err := a.handled(ctx, r); ok || err != nil {
		return out, err
	}
	if r.Link == nil {
		return workflows.SignalOutcome{}, temporal.NewNonRetryableApplicationError("no process to add the signal to", "kpi.no_link", nil)
	}
	note := opsflow.NoteOf(r.KPI.Key, r.Breach)
	note.Actor.At = now()
	h, err := activity.GetClient(ctx).UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: r.Link.ProcessID, UpdateID: workflows.KPISignalUpdateID(note), UpdateName: workflows.UpdateKPISignal,
		Args: []any{note}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var ack opsflow.Ack
	if err == nil {
		err = h.Get(ctx, &ack)
	}
	var nf *serviceerror.NotFound
	if oe, ok := workflows.OpsError(err); errors.As(err, &nf) || (ok && oe.Code == opsflow.ECONFLICT) {
		return workflows.SignalOutcome{Action: workflows.SignalClosed, ProcessID: r.Link.ProcessID, Kind: r.Link.Kind, At: note.Actor.At}, nil
	}
	if err != nil {
		return workflows.SignalOutcome{}, fmt.Errorf("add signal %s to %s: %w", note.Key(), r.Link.ProcessID, err)
	}
	action, pid, err := a.Store.SignalHandled(ctx, r.KPI.Key, r.Breach, workflows.SignalNoted, r.Link.ProcessID, r.Link.Kind, "", note.Actor.At)
	if err != nil {
		return workflows.SignalOutcome{}, classify(err)
	}
	return workflows.SignalOutcome{Action: action, ProcessID: pid, Kind: r.Link.Kind, At: note.Actor.At}, nil
}

// signalProcessID derives the workflow ID of the process a breach opens:
// the same KPI, rule and point always name the same process, so a retry
// (of this activity, or of the whole watch) joins it instead of opening
// another.
func signalProcessID(kind opsflow.Kind, key string, b opsflow.KPIBreach) string {
	h := sha256.New()
	for _, p := range []string{"kpi-signal", key, b.Rule, b.PointID} {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return kind.IDPrefix() + hex.EncodeToString(h.Sum(nil))[:20]
}

// OpenKPIProcess opens the CAPA or Kaizen the KPI's policy names for a
// breach, the way the API opens one (Update-with-Start, conflict policy
// use-existing, answering once the record is in the read model), linked
// both ways: the process carries the KPI signal (a CAPA's source is
// kpi_signal), the KPI lists the process.
func (a *Activities) OpenKPIProcess(ctx context.Context, r workflows.SignalRequest) (workflows.SignalOutcome, error) {
	if out, ok, err := a.handled(ctx, r); ok || err != nil {
		return out, err
	}
	d, b, at := r.KPI, r.Breach, now()
	link := opsflow.LinkOf(d, b)
	owner := d.PolicyOwner()
	actor := opsflow.SystemActor
	actor.At = at
	var (
		kind         opsflow.Kind
		workflowType string
		input        any
	)
	switch d.Spec.Policy.Action {
	case opsflow.RespondCAPA:
		kind, workflowType = opsflow.KindCAPA, workflows.WorkflowCAPA
		req := opsflow.CAPARequest{
			Title: cut("KPI signal: "+d.Name, 200), Type: d.Spec.Policy.CAPAType,
			Source: opsflow.CAPASource{Type: "kpi_signal", Refs: []string{"kpi:" + d.Key, "rule:" + b.Rule, "point:" + b.PointID, "chart:" + link.Chart}},
			Problem: opsflow.Problem{What: b.Describe(d.KPI), When: b.At.Format(time.DateOnly), How: "XmR chart rule " + b.Rule + " (opsflow KPI watch)",
				DetectedAt: &at},
			Owner: owner,
		}
		if err := req.Validate(); err != nil {
			return a.cannotOpen(ctx, r, kind, err)
		}
		input = workflows.CAPAInput{Actor: actor, Request: req, Day: r.Day, Signal: link}
	case opsflow.RespondKaizen:
		kind, workflowType = opsflow.KindKaizen, workflows.WorkflowKaizen
		cl := opsflow.Round4(b.CL)
		req := opsflow.KaizenRequest{
			Title: cut("Bring "+d.Name+" back under control", 200), ProblemStatement: b.Describe(d.KPI),
			KPI: d.Key, Sponsor: d.Spec.Policy.Sponsor, Owner: owner,
			Baseline: &opsflow.Baseline{Value: &cl, Method: opsflow.BaselineMeasured, Count: b.BaselineN,
				Source: fmt.Sprintf("XmR centre line of kpi %s, %d values from %s to %s", d.Key, b.BaselineN,
					b.BaselineFrom.Format(time.DateOnly), b.BaselineTo.Format(time.DateOnly))},
		}
		if err := req.Validate(d.KPI, owner, at); err != nil {
			return a.cannotOpen(ctx, r, kind, err)
		}
		input = workflows.KaizenInput{Request: req, KPI: d.KPI, Actor: actor, Day: r.Day, Signal: link}
	default:
		return workflows.SignalOutcome{}, temporal.NewNonRetryableApplicationError("the policy opens nothing", "kpi.policy", nil)
	}
	id := signalProcessID(kind, d.Key, b)
	c := activity.GetClient(ctx)
	start := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID: id, TaskQueue: activity.GetInfo(ctx).TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowTaskTimeout:      5 * time.Second,
	}, workflowType, input)
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{UpdateName: workflows.UpdateOpen, UpdateID: workflows.UpdateOpen,
			WaitForStage: client.WorkflowUpdateStageCompleted},
	})
	var ack opsflow.Ack
	if err == nil {
		err = h.Get(ctx, &ack)
	}
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	var nf *serviceerror.NotFound
	switch {
	case err == nil, errors.As(err, &started), errors.As(err, &nf):
		// Opened now, or earlier (and already finished): either way it is
		// this signal's process.
	default:
		if oe, ok := workflows.OpsError(err); ok {
			return a.cannotOpen(ctx, r, kind, oe)
		}
		return workflows.SignalOutcome{}, fmt.Errorf("open %s %s for kpi %s: %w", kind, id, d.Key, err)
	}
	action, pid, err := a.Store.SignalHandled(ctx, d.Key, b, workflows.SignalOpened, id, kind, "", at)
	if err != nil {
		return workflows.SignalOutcome{}, classify(err)
	}
	a.logger().InfoContext(ctx, "kpi signal opened a process", "kpi", d.Key, "rule", b.Rule, "point", b.PointID, "process", pid)
	return workflows.SignalOutcome{Action: action, ProcessID: pid, Kind: kind, At: at}, nil
}

// cannotOpen records a breach the policy could not act on (its Kaizen's
// sponsor is now its owner, say) on the KPI's trail, with why, instead of
// failing: the watch goes on, and whoever reads the KPI sees it.
func (a *Activities) cannotOpen(ctx context.Context, r workflows.SignalRequest, kind opsflow.Kind, cause error) (workflows.SignalOutcome, error) {
	at := now()
	note := fmt.Sprintf("the policy could not open a %s (%s)", kind, opsflow.ErrorMessage(cause))
	a.logger().WarnContext(ctx, "kpi signal not acted on", "kpi", r.KPI.Key, "signal", r.Breach.SignalKey(), "error", cause)
	action, pid, err := a.Store.SignalHandled(ctx, r.KPI.Key, r.Breach, workflows.SignalRecorded, "", "", note, at)
	if err != nil {
		return workflows.SignalOutcome{}, classify(err)
	}
	return workflows.SignalOutcome{Action: action, ProcessID: pid, At: at}, nil
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// RaiseMissingMeasurement raises a task for a KPI's owner when no
// measurement arrived by the deadline. If one has arrived since (the watch
// has not evaluated it yet), it answers the new deadline instead.
func (a *Activities) RaiseMissingMeasurement(ctx context.Context, r workflows.MissingRequest) (workflows.MissingOutcome, error) {
	d, err := a.Store.GetKPIDefinition(ctx, r.KPI)
	if err != nil {
		return workflows.MissingOutcome{}, classify(err)
	}
	if !d.Spec.Missing.Enabled {
		return workflows.MissingOutcome{}, nil
	}
	ms, err := a.Store.AllMeasurements(ctx, r.KPI, time.Time{})
	if err != nil {
		return workflows.MissingOutcome{}, classify(err)
	}
	last, lastText := d.CreatedAt, "it was defined"
	if n := len(ms); n > 0 {
		last, lastText = ms[n-1].At, "the last one, dated "+ms[n-1].At.Format(time.DateOnly)
	}
	t := now()
	if dl := d.Spec.Missing.Deadline(d.Spec.Frequency, last); dl.After(t) {
		return workflows.MissingOutcome{Next: &dl}, nil
	}
	due := t.AddDate(0, 0, 2)
	assignee, role := d.TaskAssignee()
	task := opsflow.Task{ID: "missing-" + r.Deadline.UTC().Format("20060102T1504"), Kind: postgres.KPITaskMissing,
		Title:       cut(fmt.Sprintf("Record %s: no %s measurement since %s", d.Name, d.Spec.Frequency, lastText), 200),
		Description: fmt.Sprintf("The KPI expects a %s value; none arrived within %d days of grace. Post it to /v1/kpis/%s/measurements.", d.Spec.Frequency, d.Spec.Missing.GraceDays, d.Key),
		OwnerType:   "owner", Assignee: assignee, Role: role, State: opsflow.TaskOpen, DueAt: &due, Weight: 1}
	raised, err := a.Store.RaiseKPITask(ctx, d.Key, task, t)
	if err != nil {
		return workflows.MissingOutcome{}, classify(err)
	}
	a.logger().InfoContext(ctx, "kpi measurement missing", "kpi", d.Key, "deadline", r.Deadline, "task", task.ID, "raised", raised)
	return workflows.MissingOutcome{Raised: raised, TaskID: task.ID}, nil
}
