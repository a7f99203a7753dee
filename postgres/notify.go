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
	c := notificationColumns(ns)
	_, err := tx.ExecContext(ctx, `
		INSERT INTO notifications (id, process_id, task_id, recipient, subject, at, kind, level, reason)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::int[], $9::text[])
		ON CONFLICT (id) DO NOTHING`, c.args()...)
	return wrap("queue notifications", err)
}

// notifColumns holds notifications as one array per column.
type notifColumns struct {
	id, proc, task, to, subj, at, kind, reason []string
	level                                      []int64
}

func notificationColumns(ns []opsflow.Notification) notifColumns {
	var c notifColumns
	for _, n := range ns {
		c.id, c.proc, c.task = append(c.id, n.ID), append(c.proc, n.ProcessID), append(c.task, n.TaskID)
		c.to, c.subj, c.at = append(c.to, n.To), append(c.subj, storable(n.Subject, 500)), append(c.at, n.At.UTC().Format(time.RFC3339Nano))
		c.kind, c.level, c.reason = append(c.kind, n.Kind), append(c.level, int64(n.Level)), append(c.reason, storable(n.Reason, 1000))
	}
	return c
}

func (c notifColumns) args() []any {
	return []any{pq.Array(c.id), pq.Array(c.proc), pq.Array(c.task), pq.Array(c.to), pq.Array(c.subj), pq.Array(c.at),
		pq.Array(c.kind), pq.Array(c.level), pq.Array(c.reason)}
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
