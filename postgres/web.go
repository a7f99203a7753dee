package postgres

import (
	"context"
	"time"

	"github.com/lib/pq"
	"github.com/opsflow/opsflow"
)

// Reads the web app needs beyond the API's: the count in its navigation,
// and many records at once for a page of tasks.

// InboxCount counts u's inbox at now: open, overdue, and due before
// now+soon (and not overdue).
func (db *DB) InboxCount(ctx context.Context, u opsflow.User, now time.Time, soon time.Duration) (opsflow.InboxCount, error) {
	var w where
	w.add("state IN " + activeStates)
	w.add(mine(&w, u))
	at, until := w.arg(now), w.arg(now.Add(soon))
	var n opsflow.InboxCount
	err := db.db.GetContext(ctx, &n, `
		SELECT count(*) AS open,
			count(*) FILTER (WHERE due_at IS NOT NULL AND due_at < `+at+`) AS overdue,
			count(*) FILTER (WHERE due_at >= `+at+` AND due_at < `+until+`) AS due_soon
		FROM tasks `+w.sql(), w.args...)
	return n, wrap("count inbox", err)
}

// AdminCount counts what waits for an administrator (both from partial
// or state indexes: cheap on every page an administrator opens).
func (db *DB) AdminCount(ctx context.Context) (opsflow.AdminCount, error) {
	var n opsflow.AdminCount
	err := db.db.GetContext(ctx, &n, `
		SELECT (SELECT count(*) FROM processes WHERE stalled_at IS NOT NULL) AS stalled,
			(SELECT count(*) FROM notification_deliveries WHERE state = 'failed') AS failed`)
	return n, wrap("count what waits for an administrator", err)
}

// GetProcesses returns the processes with the given IDs that exist, in no
// particular order: one round trip for the records behind a page of tasks.
func (db *DB) GetProcesses(ctx context.Context, ids []string) ([]opsflow.Process, error) {
	var rows []processRow
	if err := db.db.SelectContext(ctx, &rows, `SELECT `+processSelect+` FROM processes WHERE id = ANY($1)`, pq.Array(ids)); err != nil {
		return nil, wrap("get processes", err)
	}
	return each(rows, processRow.process)
}
