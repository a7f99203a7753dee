package postgres

import (
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

// TestStats counts what the gauges show, and picks up notification
// failures and audit checkpoints once the schema has them (columns other
// work adds), without a change here.
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
	note := `INSERT INTO notifications (id, process_id, recipient, subject, at, sent_at) VALUES ($1, 'capa-1', 'alice', 's', $2, $3)`
	exec(note, "n1", now.Add(-2*time.Hour), nil)  // due, unsent: the oldest
	exec(note, "n2", now.Add(-time.Hour), nil)    // due, unsent
	exec(note, "n3", now.Add(time.Hour), nil)     // not due yet
	exec(note, "n4", now.Add(-3*time.Hour), &now) // sent

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
	if st.FailureTracked || st.Failed != 0 || st.LastCheckpoint != nil {
		t.Errorf("failures tracked %v (%d), checkpoint %v before the schema has them", st.FailureTracked, st.Failed, st.LastCheckpoint)
	}

	// What the notification and trust work will add.
	exec(`ALTER TABLE notifications ADD COLUMN failed_at timestamptz`)
	exec(`UPDATE notifications SET failed_at = $1 WHERE id = 'n2'`, now)
	exec(`CREATE TABLE audit_checkpoints (id text PRIMARY KEY, signed_at timestamptz NOT NULL)`)
	exec(`INSERT INTO audit_checkpoints VALUES ('c1', $1), ('c2', $2)`, now.Add(-2*time.Hour), now.Add(-time.Hour))
	if st, err = db.Stats(ctx, now); err != nil {
		t.Fatal(err)
	}
	if !st.FailureTracked || st.Failed != 1 {
		t.Errorf("failures tracked %v, failed %d, want 1", st.FailureTracked, st.Failed)
	}
	if st.LastCheckpoint == nil || !st.LastCheckpoint.Equal(now.Add(-time.Hour)) {
		t.Errorf("last checkpoint %v", st.LastCheckpoint)
	}
}
