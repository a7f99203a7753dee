package postgres

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/opsflow/opsflow"
)

// queueNotifications adds notifications to the outbox in one statement;
// an ID already there is left as it is, so a retried snapshot queues
// nothing twice.
func queueNotifications(ctx context.Context, tx *sqlx.Tx, ns []opsflow.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	id, proc, task, to, subj, at := notificationColumns(ns)
	_, err := tx.ExecContext(ctx, `
		INSERT INTO notifications (id, process_id, task_id, recipient, subject, at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
		ON CONFLICT (id) DO NOTHING`,
		pq.Array(id), pq.Array(proc), pq.Array(task), pq.Array(to), pq.Array(subj), pq.Array(at))
	return wrap("queue notifications", err)
}

// notificationColumns splits notifications into one array per column.
func notificationColumns(ns []opsflow.Notification) (id, proc, task, to, subj, at []string) {
	for _, n := range ns {
		id, proc, task = append(id, n.ID), append(proc, n.ProcessID), append(task, n.TaskID)
		to, subj, at = append(to, n.To), append(subj, n.Subject), append(at, n.At.UTC().Format(time.RFC3339Nano))
	}
	return
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
