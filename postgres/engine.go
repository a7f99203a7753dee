package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/opsflow/opsflow"
)

// The engine's writes that are not snapshots: a stall, an abandonment and
// a workflow ended outside opsflow. Each is idempotent, since activities
// and the reconciler may repeat it.

// MarkStalled records that process st.ID is stalled: its row (a
// placeholder when the process never got one) says since when and why, and
// administrators get a notification. It carries no text a person typed,
// only the error, made safe to store.
func (db *DB) MarkStalled(ctx context.Context, st opsflow.Stall) error {
	msg := storable(st.Error, 2000)
	since := st.Since.UTC()
	return db.InTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO processes (id, kind, state, title, owner_id, opened_at, version, record, search, stalled_at, stall_error)
			VALUES ($1, $2, 'stalled', '', '', $3, 0, NULL, '{}', $3, $4)
			ON CONFLICT (id) DO UPDATE SET stalled_at = excluded.stalled_at, stall_error = excluded.stall_error, updated_at = now()`,
			st.ID, st.Kind, since, msg)
		if err != nil {
			return wrap("mark stalled", err)
		}
		return queueNotifications(ctx, tx, []opsflow.Notification{{
			ID:        fmt.Sprintf("%s/stall/%d/%d:%s", st.ID, st.Version, st.Attempts, opsflow.RoleAdmin),
			ProcessID: st.ID, To: string(opsflow.RoleAdmin), At: since,
			Subject: storable(fmt.Sprintf("%s %s is stalled: %s", st.Kind, st.ID, msg), 500),
			Kind:    opsflow.NotifyStalled, Reason: msg,
		}})
	})
}

// CountStalled is the number of stalled processes, for readiness and
// metrics.
func (db *DB) CountStalled(ctx context.Context) (int, error) {
	var n int
	if err := db.db.GetContext(ctx, &n, `SELECT count(*) FROM processes WHERE stalled_at IS NOT NULL`); err != nil {
		return 0, wrap("count stalled", err)
	}
	return n, nil
}

// Abandon closes a stalled process an administrator gave up on: the row
// becomes "abandoned" (its last written record kept, with who, when, why
// and the error), its open tasks are cancelled, and the trail records it
// as the stream's next event. Repeating it changes nothing.
func (db *DB) Abandon(ctx context.Context, a opsflow.Abandonment) error {
	reason := fmt.Sprintf("%s (stalled on: %s; %d unsaved change(s) discarded)", a.Reason, storable(a.Error, 500), a.Dropped)
	return db.closeOutside(ctx, outsideClose{
		id: a.ID, kind: a.Kind, state: opsflow.StateAbandoned, at: a.At, actor: a.Actor, role: opsflow.RoleAdmin,
		action: "process.abandoned", reason: storable(reason, 2000),
		detail: map[string]any{"by": a.Actor.ID, "at": a.At.UTC(), "reason": a.Reason, "error": storable(a.Error, 500), "dropped": a.Dropped},
	})
}

// CloseOrphan closes the row of a process whose workflow was ended outside
// opsflow (terminated from Temporal's UI, timed out, failed): it becomes
// "terminated", its open tasks are cancelled and the trail says so. A row
// that is already closed, or missing, is left alone.
func (db *DB) CloseOrphan(ctx context.Context, o opsflow.Orphan) error {
	reason := fmt.Sprintf("the workflow ended outside opsflow (status %s)", o.Status)
	if o.Reason != "" {
		reason += ": " + o.Reason
	}
	return db.closeOutside(ctx, outsideClose{
		id: o.ID, state: opsflow.StateTerminated, at: o.At, actor: opsflow.SystemActor,
		action: "process.terminated", reason: storable(reason, 2000),
		detail: map[string]any{"status": o.Status, "at": o.At.UTC(), "reason": storable(o.Reason, 500)},
	})
}

type outsideClose struct {
	id     string
	kind   opsflow.Kind // "" for any
	state  string
	at     time.Time
	actor  opsflow.Actor
	role   opsflow.Role
	action string
	reason string
	detail map[string]any
}

// closeOutside is the shared write of Abandon and CloseOrphan, in one
// transaction under the row's lock.
func (db *DB) closeOutside(ctx context.Context, c outsideClose) error {
	return db.InTx(ctx, func(tx *sqlx.Tx) error {
		var row struct {
			Kind     opsflow.Kind `db:"kind"`
			State    string       `db:"state"`
			ClosedAt *time.Time   `db:"closed_at"`
			Version  int64        `db:"version"`
			Record   []byte       `db:"record"`
		}
		err := tx.GetContext(ctx, &row, `SELECT kind, state, closed_at, version, record FROM processes WHERE id = $1 FOR UPDATE`, c.id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return wrap("lock process", err)
		}
		if row.State == c.state || (row.ClosedAt != nil && c.state == opsflow.StateTerminated) {
			return nil // done before: a retry
		}
		at := c.at.UTC()
		// Cancel what is still open, in the tasks table and in the
		// record's copy of them (kept in order).
		if _, err := tx.ExecContext(ctx, `
			UPDATE tasks SET state = 'cancelled', version = $2,
				data = jsonb_set(data, '{state}', '"cancelled"'), updated_at = now()
			WHERE process_id = $1 AND state IN ('open', 'in_progress', 'blocked', 'scheduled')`, c.id, row.Version+1); err != nil {
			return wrap("cancel tasks", err)
		}
		rec := map[string]json.RawMessage{}
		if len(row.Record) > 0 {
			if err := json.Unmarshal(row.Record, &rec); err != nil {
				return wrap("decode record", err)
			}
		}
		if raw, ok := rec["tasks"]; ok {
			var tasks []map[string]any
			if json.Unmarshal(raw, &tasks) == nil {
				for _, t := range tasks {
					switch t["state"] {
					case "open", "in_progress", "blocked", "scheduled":
						t["state"] = "cancelled"
					}
				}
				rec["tasks"], _ = json.Marshal(tasks)
			}
		}
		rec[row.Kind.StateField()], _ = json.Marshal(c.state)
		rec[c.state], _ = json.Marshal(c.detail)
		rec["closed_at"], _ = json.Marshal(at)
		if _, ok := rec["id"]; !ok {
			rec["id"], _ = json.Marshal(c.id)
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return wrap("encode record", err)
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE processes SET state = $2, closed_at = coalesce(closed_at, $3), version = version + 1,
				record = $4::jsonb, stalled_at = NULL, updated_at = now()
			WHERE id = $1`, c.id, c.state, at, string(b)); err != nil {
			return wrap("close process", err)
		}
		var seq int64
		err = tx.GetContext(ctx, &seq, `SELECT seq FROM audit_heads WHERE stream = $1`, c.id)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return wrap("read audit head", err)
		}
		// The final record is sealed as a workflow seals one: the last
		// event carries its hash, so an inspection pack can prove it.
		sealed, err := opsflow.RecordHash(b)
		if err != nil {
			return fmt.Errorf("postgres: seal %s: %w", c.id, err)
		}
		return AppendAudit(ctx, tx, []opsflow.AuditEvent{{
			Stream: c.id, Seq: seq + 1, At: at, ActorID: c.actor.ID, ActorName: c.actor.Name,
			ActorRole: c.actor.RoleLabel(c.role), Action: c.action, Field: row.Kind.StateField(),
			Old: row.State, New: c.state, Reason: c.reason,
		}, {
			Stream: c.id, Seq: seq + 2, At: at, ActorID: opsflow.SystemActor.ID, ActorName: opsflow.SystemActor.Name,
			ActorRole: opsflow.SystemActor.RoleLabel(""), Action: opsflow.ActionProcessSealed, Field: "record_sha256",
			New: sealed, Reason: "final record sealed at " + c.state,
		}})
	})
}

// storable makes text safe for a text column: valid UTF-8, no NUL, at most
// max bytes (cut at a rune boundary).
func storable(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\\0")
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
