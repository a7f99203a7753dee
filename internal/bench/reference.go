package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// ReferenceWorkflow is the registered name of the reference workflow.
const ReferenceWorkflow = "opsflow.bench.Reference"

// Write says what the reference workflow does before answering an update:
// nothing (R0), a regular activity writing PostgreSQL (R1) or a local
// activity writing PostgreSQL (R2). R1 and R2 are not targets; they show
// where a write path's time goes.
type Write string

const (
	WriteNone     Write = ""
	WriteActivity Write = "activity"
	WriteLocal    Write = "local"
)

// ReferenceInput starts a reference workflow.
type ReferenceInput struct {
	Write Write `json:"write,omitempty"`
}

// Reference answers an "open" update (sent with Update-with-Start) and any
// number of "step" updates; it never ends by itself.
func Reference(ctx workflow.Context, in ReferenceInput) error {
	n := 0
	answer := func(ctx workflow.Context) (int, error) {
		n++
		id := workflow.GetInfo(ctx).WorkflowExecution.ID
		switch in.Write {
		case WriteActivity:
			actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
			if err := workflow.ExecuteActivity(actx, ActivityBenchWrite, id, n).Get(ctx, nil); err != nil {
				return 0, err
			}
		case WriteLocal:
			lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
			if err := workflow.ExecuteLocalActivity(lctx, ActivityBenchWrite, id, n).Get(ctx, nil); err != nil {
				return 0, err
			}
		}
		return n, nil
	}
	if err := workflow.SetUpdateHandler(ctx, "open", func(ctx workflow.Context) (int, error) { return answer(ctx) }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandler(ctx, "step", func(ctx workflow.Context, _ map[string]any) (int, error) { return answer(ctx) }); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return false })
}

// ActivityBenchWrite is the name of the reference write activity.
const ActivityBenchWrite = "opsflow.bench.Write"

// Writer is the reference write: one upsert of a small row, in a
// transaction of its own, like a lean projection.
type Writer struct{ DB *sqlx.DB }

// EnsureTable creates the reference table.
func (w Writer) EnsureTable(ctx context.Context) error {
	_, err := w.DB.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS bench_writes (id text PRIMARY KEY, n int NOT NULL, at timestamptz NOT NULL DEFAULT now())`)
	return err
}

// Write upserts the row of workflow id.
func (w Writer) Write(ctx context.Context, id string, n int) error {
	_, err := w.DB.ExecContext(ctx, `INSERT INTO bench_writes (id, n) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET n = excluded.n, at = now() WHERE bench_writes.n < excluded.n`, id, n)
	return err
}

// ReferencePair drives the reference workflow the way opsflow's API drives
// a CAPA: Update-with-Start with the "open" update, waiting for its
// completion, then one "step" update.
func ReferencePair(tc client.Client, queue, run string, write Write) Pair {
	return func(ctx context.Context, i int64) (time.Duration, time.Duration, error) {
		id := fmt.Sprintf("bench-%s-%d", run, i)
		t0 := time.Now()
		start := tc.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID: id, TaskQueue: queue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		}, ReferenceWorkflow, ReferenceInput{Write: write})
		h, err := tc.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: start,
			UpdateOptions:          client.UpdateWorkflowOptions{UpdateName: "open", UpdateID: "open", WaitForStage: client.WorkflowUpdateStageCompleted},
		})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("reference create: %w", err)
		}
		t1 := time.Now()
		h, err = tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: id, UpdateName: "step", Args: []any{map[string]any{"severity": 3}},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("reference step: %w", err)
		}
		return t1.Sub(t0), time.Since(t1), nil
	}
}

// Terminate ends the reference workflows of a run, best effort, so the
// server does not keep thousands of idle workflows in its cache.
func Terminate(ctx context.Context, tc client.Client, run string, n int64) {
	for i := int64(1); i <= n; i++ {
		_ = tc.TerminateWorkflow(ctx, fmt.Sprintf("bench-%s-%d", run, i), "", "benchmark over")
	}
}

// NonRetryable wraps err so Temporal does not retry it: the benchmark's
// write never fails for reasons a retry would fix.
func NonRetryable(err error) error {
	if err == nil {
		return nil
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), "bench", err)
}
