// Package activities holds opsflow's side effects. Each is idempotent: it is
// keyed by something the workflow derived deterministically (a snapshot's
// version, an audit event's ID, a provisioning step's ID), so a retry after a
// crash changes nothing.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"go.temporal.io/sdk/temporal"

	"github.com/opsflow/opsflow"
)

// Store is the part of the PostgreSQL store activities write to.
type Store interface {
	SaveSnapshot(ctx context.Context, s opsflow.Snapshot) error
	MarkStalled(ctx context.Context, st opsflow.Stall) error
	Abandon(ctx context.Context, a opsflow.Abandonment) error
	kaizenStore
	onboardingStore
	kpiStore
}

// Activities carries the dependencies of every activity. The worker
// registers its methods; their names are the workflows.Activity* constants.
type Activities struct {
	Store  Store
	Logger *slog.Logger
	// HTTP makes the webhook calls (onboarding provisioning). Build it
	// with internal/outbound from the administrator's allowlist; when nil,
	// no call goes out at all.
	HTTP *http.Client
}

// SaveSnapshot projects a process to the read model and appends its audit
// events and notifications, in one transaction. The store ignores a snapshot
// whose version it already has, and events and notifications whose IDs it
// already has, so a retried call changes nothing.
//
// Only a transient failure (the database unreachable, restarting, a
// serialisation conflict, a timeout) is returned as retryable. Anything
// else — text the database cannot hold, a conflicting audit event, a bug —
// would fail the same way forever, so it is returned non-retryable and
// the workflow stalls the process for an administrator instead.
func (a *Activities) SaveSnapshot(ctx context.Context, s opsflow.Snapshot) error {
	if err := a.Store.SaveSnapshot(ctx, s); err != nil {
		return classify(fmt.Errorf("save snapshot %s v%d: %w", s.Process.ID, s.Process.Version, err))
	}
	for _, n := range s.Notify {
		// Delivery (mail, chat) drains the outbox; the log line is for operators.
		a.logger().InfoContext(ctx, "notification queued", "process", n.ProcessID, "task", n.TaskID, "to", n.To, "subject", n.Subject)
	}
	return nil
}

func (a *Activities) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.Default()
	}
	return a.Logger
}

// MarkStalled records a stalled process in the read model and tells the
// administrators (see postgres.DB.MarkStalled).
func (a *Activities) MarkStalled(ctx context.Context, st opsflow.Stall) error {
	if err := a.Store.MarkStalled(ctx, st); err != nil {
		return classify(fmt.Errorf("mark %s stalled: %w", st.ID, err))
	}
	a.logger().ErrorContext(ctx, "process stalled", "process", st.ID, "kind", st.Kind, "version", st.Version, "attempts", st.Attempts, "error", st.Error)
	return nil
}

// AbandonProcess closes a stalled process an administrator abandoned.
func (a *Activities) AbandonProcess(ctx context.Context, ab opsflow.Abandonment) error {
	if err := a.Store.Abandon(ctx, ab); err != nil {
		return classify(fmt.Errorf("abandon %s: %w", ab.ID, err))
	}
	a.logger().WarnContext(ctx, "process abandoned", "process", ab.ID, "by", ab.Actor.ID, "reason", ab.Reason, "dropped", ab.Dropped)
	return nil
}

// Transient reports whether a store error may go away by itself: the
// database is unreachable or busy, or the call ran out of time.
func Transient(err error) bool {
	return opsflow.ErrorCode(err) == opsflow.EUNAVAILABLE ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// classify returns err as Temporal should see it: retryable when
// transient, non-retryable (typed with the opsflow error code) otherwise.
func classify(err error) error {
	if err == nil || Transient(err) {
		return err
	}
	var d *opsflow.AuditDiverged
	if errors.As(err, &d) {
		// The workflow repairs this itself (see the engine): it needs the
		// details, not a stall.
		return temporal.NewApplicationErrorWithOptions(err.Error(), ErrAuditDiverged, temporal.ApplicationErrorOptions{
			NonRetryable: true, Cause: err, Details: []any{*d},
		})
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), "store."+opsflow.ErrorCode(err), err)
}

// ErrAuditDiverged is the Temporal error type of an *opsflow.AuditDiverged
// from the store.
const ErrAuditDiverged = "audit.diverged"
