package postgres

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/opsflow/opsflow"
)

// queueNotifications adds notifications to the outbox; an ID already there
// is left as it is, so a retried snapshot queues nothing twice.
func queueNotifications(ctx context.Context, tx *sqlx.Tx, ns []opsflow.Notification) error {
	for _, n := range ns {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO notifications (id, process_id, task_id, recipient, subject, at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (id) DO NOTHING`,
			n.ID, n.ProcessID, n.TaskID, n.To, n.Subject, n.At.UTC()); err != nil {
			return wrap("queue notification", err)
		}
	}
	return nil
}

// Notifications lists the outbox entries for recipient (all when empty),
// oldest first, at most limit.
func (db *DB) Notifications(ctx context.Context, recipient string, limit int) ([]opsflow.Notification, error) {
	rows, err := db.db.QueryxContext(ctx, `
		SELECT id, process_id, task_id, recipient, subject, at FROM notifications
		WHERE $1 = '' OR recipient = $1 ORDER BY at, id LIMIT $2`, recipient, limit)
	if err != nil {
		return nil, wrap("list notifications", err)
	}
	defer rows.Close()
	var out []opsflow.Notification
	for rows.Next() {
		var n opsflow.Notification
		var at time.Time
		if err := rows.Scan(&n.ID, &n.ProcessID, &n.TaskID, &n.To, &n.Subject, &at); err != nil {
			return nil, wrap("scan notification", err)
		}
		n.At = at.UTC()
		out = append(out, n)
	}
	return out, wrap("list notifications", rows.Err())
}
