// Package activities holds opsflow's side effects. Each is idempotent: it is
// keyed by something the workflow derived deterministically (a snapshot's
// version, an audit event's ID, a provisioning step's ID), so a retry after a
// crash changes nothing.
package activities

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/opsflow/opsflow"
)

// Store is the part of the PostgreSQL store activities write to.
type Store interface {
	SaveSnapshot(ctx context.Context, s opsflow.Snapshot) error
	kaizenStore
	onboardingStore
}

// Activities carries the dependencies of every activity. The worker
// registers its methods; their names are the workflows.Activity* constants.
type Activities struct {
	Store  Store
	Logger *slog.Logger
	HTTP   *http.Client // webhook calls (onboarding provisioning); a 30 s-timeout client if nil
}

// SaveSnapshot projects a process to the read model and appends its audit
// events and notifications, in one transaction. The store ignores a snapshot
// whose version it already has, and events and notifications whose IDs it
// already has, so a retried call changes nothing.
func (a *Activities) SaveSnapshot(ctx context.Context, s opsflow.Snapshot) error {
	if err := a.Store.SaveSnapshot(ctx, s); err != nil {
		return fmt.Errorf("save snapshot %s v%d: %w", s.Process.ID, s.Process.Version, err)
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
