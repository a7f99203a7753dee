package worker

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/workflows"
)

// ReconcileStore is what the reconciler writes.
type ReconcileStore interface {
	CloseOrphan(ctx context.Context, o opsflow.Orphan) error
	ForgetIdempotencyKeys(ctx context.Context, cutoff time.Time) (int64, error)
}

// Reconciler closes the read-model rows of processes whose workflows were
// ended outside opsflow — terminated from Temporal's UI or CLI, timed out,
// or failed — which no workflow code is left to do: without it such a
// process stays open in every list forever. (A workflow cancelled from
// outside closes its own row; see the engine.) It also forgets old
// idempotency keys.
//
// Every worker may run one: each step is idempotent.
type Reconciler struct {
	Temporal client.Client
	Store    ReconcileStore
	Log      *slog.Logger
	// Every is the pause between passes; one minute if zero.
	Every time.Duration
	// KeepKeys is how long an Idempotency-Key is remembered; 7 days if
	// zero.
	KeepKeys time.Duration
}

// Run reconciles until ctx ends. The first pass looks back a day (a
// worker restarted after an outage catches up), later ones from the last.
func (r *Reconciler) Run(ctx context.Context) {
	every, keep := r.Every, r.KeepKeys
	if every <= 0 {
		every = time.Minute
	}
	if keep <= 0 {
		keep = 7 * 24 * time.Hour
	}
	since := time.Now().Add(-24 * time.Hour)
	var lastForget time.Time
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		next, err := r.Once(ctx, since)
		if err != nil {
			r.log().WarnContext(ctx, "reconcile pass failed; next pass retries", "err", err)
		} else {
			since = next
		}
		if time.Since(lastForget) > time.Hour {
			if n, err := r.Store.ForgetIdempotencyKeys(ctx, time.Now().Add(-keep)); err == nil {
				lastForget = time.Now()
				if n > 0 {
					r.log().InfoContext(ctx, "forgot old idempotency keys", "count", n)
				}
			}
		}
		t.Reset(every)
	}
}

// Once closes the rows of processes whose workflows ended outside opsflow
// since the given time and returns where the next pass should start.
func (r *Reconciler) Once(ctx context.Context, since time.Time) (time.Time, error) {
	query := fmt.Sprintf("WorkflowType IN ('%s', '%s', '%s') AND ExecutionStatus IN ('Terminated', 'Canceled', 'TimedOut', 'Failed') AND CloseTime >= '%s'",
		workflows.WorkflowCAPA, workflows.WorkflowKaizen, workflows.WorkflowOnboarding, since.UTC().Format(time.RFC3339Nano))
	next := since
	var token []byte
	for {
		res, err := r.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: 200, NextPageToken: token})
		if err != nil {
			return since, fmt.Errorf("list closed workflows: %w", err)
		}
		for _, ex := range res.GetExecutions() {
			closed := ex.GetCloseTime().AsTime()
			o := opsflow.Orphan{
				ID:     ex.GetExecution().GetWorkflowId(),
				Status: strings.ToLower(strings.TrimPrefix(ex.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_")),
				Reason: r.reason(ctx, ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId()),
				At:     closed,
			}
			if err := r.Store.CloseOrphan(ctx, o); err != nil {
				return since, fmt.Errorf("close %s: %w", o.ID, err)
			}
			r.log().InfoContext(ctx, "closed the row of a workflow ended outside opsflow", "process", o.ID, "status", o.Status)
			if closed.After(next) {
				next = closed
			}
		}
		if token = res.GetNextPageToken(); len(token) == 0 {
			// Look back a little: visibility is written after the close.
			return next.Add(-time.Minute), nil
		}
	}
}

// reason reads why the workflow ended from its close event, best effort.
func (r *Reconciler) reason(ctx context.Context, id, run string) string {
	it := r.Temporal.GetWorkflowHistory(ctx, id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	if !it.HasNext() {
		return ""
	}
	ev, err := it.Next()
	if err != nil {
		return ""
	}
	switch {
	case ev.GetWorkflowExecutionTerminatedEventAttributes() != nil:
		a := ev.GetWorkflowExecutionTerminatedEventAttributes()
		if a.GetIdentity() != "" {
			return fmt.Sprintf("%s (by %s)", a.GetReason(), a.GetIdentity())
		}
		return a.GetReason()
	case ev.GetWorkflowExecutionFailedEventAttributes() != nil:
		return ev.GetWorkflowExecutionFailedEventAttributes().GetFailure().GetMessage()
	case ev.GetWorkflowExecutionTimedOutEventAttributes() != nil:
		return "the workflow's run timed out"
	}
	return ""
}

func (r *Reconciler) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}
