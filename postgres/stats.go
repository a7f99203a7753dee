package postgres

import (
	"context"
	"time"

	"github.com/opsflow/opsflow"
)

// Stats is what an operator watches in the read model: a handful of
// counts, each one aggregate query over an indexed or small table, read
// when Prometheus scrapes (and cached there for a few seconds).
type Stats struct {
	// Open counts the processes not closed, by kind and state.
	Open []KindStateCount
	// Stalled counts the processes whose changes the store refused for
	// good (processes.stalled_at set), by kind.
	Stalled map[opsflow.Kind]int
	// OverdueTasks counts active tasks past their due date, by the kind of
	// their process.
	OverdueTasks map[opsflow.Kind]int
	// Unsent is the notification outbox's backlog: rows due (at <= now)
	// and not sent; OldestUnsent the due time of the oldest (nil when
	// none).
	Unsent       int
	OldestUnsent *time.Time
	// Failed counts deliveries that gave up after their retry budget (an
	// administrator retries them). FailureTracked is always true now that
	// deliveries are recorded; the gauge stays for dashboards built on it.
	Failed         int
	FailureTracked bool
	// LastCheckpoint is when the newest signed audit checkpoint was made,
	// nil when there is none or the schema has no checkpoints yet.
	LastCheckpoint *time.Time
}

// KindStateCount is one group of Stats.Open.
type KindStateCount struct {
	Kind  opsflow.Kind `db:"kind"`
	State string       `db:"state"`
	N     int          `db:"n"`
}

// Stats reads the current Stats at now. Each query is an aggregate.
func (db *DB) Stats(ctx context.Context, now time.Time) (Stats, error) {
	st := Stats{Stalled: map[opsflow.Kind]int{}, OverdueTasks: map[opsflow.Kind]int{}}
	if err := db.db.SelectContext(ctx, &st.Open, `
		SELECT kind, state, count(*) AS n FROM processes WHERE closed_at IS NULL
		GROUP BY kind, state ORDER BY kind, state`); err != nil {
		return st, wrap("stats: open processes", err)
	}
	var groups []struct {
		Kind opsflow.Kind `db:"kind"`
		N    int          `db:"n"`
	}
	if err := db.db.SelectContext(ctx, &groups, `
		SELECT kind, count(*) AS n FROM processes WHERE stalled_at IS NOT NULL GROUP BY kind`); err != nil {
		return st, wrap("stats: stalled processes", err)
	}
	for _, g := range groups {
		st.Stalled[g.Kind] = g.N
	}
	groups = groups[:0]
	if err := db.db.SelectContext(ctx, &groups, `
		SELECT process_kind AS kind, count(*) AS n FROM tasks
		WHERE state IN `+activeStates+` AND due_at IS NOT NULL AND due_at < $1
		GROUP BY process_kind`, now); err != nil {
		return st, wrap("stats: overdue tasks", err)
	}
	for _, g := range groups {
		st.OverdueTasks[g.Kind] = g.N
	}

	// The outbox's backlog: rows not yet turned into deliveries, and
	// deliveries not yet sent (due now or backing off), aged from when
	// they were written.
	if err := db.db.QueryRowxContext(ctx, `
		SELECT count(*), min(since) FROM (
			SELECT at AS since FROM notifications WHERE expanded_at IS NULL AND at <= $1
			UNION ALL
			SELECT created_at FROM notification_deliveries WHERE state = 'pending') b`, now).Scan(&st.Unsent, &st.OldestUnsent); err != nil {
		return st, wrap("stats: notification backlog", err)
	}
	st.FailureTracked = true
	if err := db.db.GetContext(ctx, &st.Failed, `SELECT count(*) FROM notification_deliveries WHERE state = 'failed'`); err != nil {
		return st, wrap("stats: failed notifications", err)
	}
	if err := db.db.GetContext(ctx, &st.LastCheckpoint, `SELECT max(signed_at) FROM audit_checkpoints`); err != nil {
		return st, wrap("stats: audit checkpoints", err)
	}
	return st, nil
}
