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
	// Failed counts notifications whose delivery gave up. FailureTracked
	// says whether the outbox records failures at all: the delivery work
	// (a failed_at column) may not be deployed yet, and then Failed is 0
	// because nothing can fail, not because nothing did.
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

// Stats reads the current Stats at now. Each query is an aggregate; the
// optional parts (notification failures, checkpoints) are read only when
// the schema has their columns, so this works before and after the
// migrations that add them.
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

	cols, err := db.columns(ctx, "notifications")
	if err != nil {
		return st, err
	}
	if err := db.db.QueryRowxContext(ctx, `
		SELECT count(*), min(at) FROM notifications WHERE sent_at IS NULL AND at <= $1`, now).Scan(&st.Unsent, &st.OldestUnsent); err != nil {
		return st, wrap("stats: notification backlog", err)
	}
	if cols["failed_at"] {
		st.FailureTracked = true
		if err := db.db.GetContext(ctx, &st.Failed, `
			SELECT count(*) FROM notifications WHERE failed_at IS NOT NULL AND sent_at IS NULL`); err != nil {
			return st, wrap("stats: failed notifications", err)
		}
	}

	// TODO(checkpoints): signed audit checkpoints (issue 12) are not in the
	// schema yet. Once a table audit_checkpoints with a signed_at column
	// exists, its newest row's age is served as
	// opsflow_audit_checkpoint_age_seconds without a change here; if the
	// table lands under other names, adjust this query.
	cp, err := db.columns(ctx, "audit_checkpoints")
	if err != nil {
		return st, err
	}
	if cp["signed_at"] {
		if err := db.db.GetContext(ctx, &st.LastCheckpoint, `SELECT max(signed_at) FROM audit_checkpoints`); err != nil {
			return st, wrap("stats: audit checkpoints", err)
		}
	}
	return st, nil
}

// columns returns the column names of table in the current schema search
// path (empty when the table does not exist).
func (db *DB) columns(ctx context.Context, table string) (map[string]bool, error) {
	var names []string
	if err := db.db.SelectContext(ctx, &names, `
		SELECT column_name FROM information_schema.columns
		WHERE table_name = $1 AND table_schema = ANY (current_schemas(false))`, table); err != nil {
		return nil, wrap("stats: columns of "+table, err)
	}
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}
