package postgres

import (
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

// TestStats counts what the gauges show: open, stalled and overdue work,
// the notification backlog and failures, the last signed checkpoint.
func TestStats(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, freshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	proc := `INSERT INTO processes (id, kind, state, opened_at, closed_at, version, stalled_at) VALUES ($1, $2, $3, $4, $5, 1, $6)`
	exec(proc, "capa-1", "capa", "triage", now, nil, nil)
	exec(proc, "capa-2", "capa", "triage", now, nil, nil)
	exec(proc, "capa-3", "capa", "closed", now, now, nil)
	exec(proc, "kzn-1", "kaizen", "stalled", now, nil, now)
	task := `INSERT INTO tasks (process_id, task_id, process_kind, state, due_at, data, version) VALUES ($1, $2, $3, $4, $5, '{}', 1)`
	exec(task, "capa-1", "t1", "capa", "open", now.Add(-time.Hour))   // overdue
	exec(task, "capa-1", "t2", "capa", "done", now.Add(-time.Hour))   // done: not overdue
	exec(task, "capa-2", "t1", "capa", "blocked", now.Add(time.Hour)) // not yet due
	note := `INSERT INTO notifications (id, process_id, recipient, subject, at, expanded_at) VALUES ($1, 'capa-1', 'alice', 's', $2, $3)`
	exec(note, "n1", now.Add(-3*time.Hour), now) // expanded: its deliveries count
	exec(note, "n2", now.Add(-time.Hour), nil)   // due, not expanded
	exec(note, "n3", now.Add(time.Hour), nil)    // not due yet
	exec(`INSERT INTO users (id, name) VALUES ('alice', 'Alice')`)
	dlv := `INSERT INTO notification_deliveries (id, notification_id, user_id, channel, state, created_at) VALUES ($1, 'n1', 'alice', $2, $3, $4)`
	exec(dlv, "d1", "email", "pending", now.Add(-2*time.Hour)) // backing off: the oldest
	exec(dlv, "d2", "slack", "sent", now.Add(-3*time.Hour))
	exec(dlv, "d3", "teams", "failed", now.Add(-3*time.Hour))
	exec(`INSERT INTO audit_checkpoints (number, signed_at, key_id, digest, heads, body) VALUES (1, $1, 'k', 'd1', 1, '{}'), (2, $2, 'k', 'd2', 1, '{}')`,
		now.Add(-2*time.Hour), now.Add(-time.Hour))

	st, err := db.Stats(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Open) != 2 || st.Open[0] != (KindStateCount{"capa", "triage", 2}) || st.Open[1] != (KindStateCount{"kaizen", "stalled", 1}) {
		t.Errorf("open %+v", st.Open)
	}
	if st.Stalled[opsflow.KindKaizen] != 1 || st.Stalled[opsflow.KindCAPA] != 0 {
		t.Errorf("stalled %v", st.Stalled)
	}
	if st.OverdueTasks[opsflow.KindCAPA] != 1 {
		t.Errorf("overdue %v", st.OverdueTasks)
	}
	if st.Unsent != 2 || st.OldestUnsent == nil || !st.OldestUnsent.Equal(now.Add(-2*time.Hour)) {
		t.Errorf("unsent %d, oldest %v", st.Unsent, st.OldestUnsent)
	}
	if !st.FailureTracked || st.Failed != 1 {
		t.Errorf("failures tracked %v, failed %d, want 1", st.FailureTracked, st.Failed)
	}
	if st.LastCheckpoint == nil || !st.LastCheckpoint.Equal(now.Add(-time.Hour)) {
		t.Errorf("last checkpoint %v", st.LastCheckpoint)
	}
}
