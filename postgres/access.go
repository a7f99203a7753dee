package postgres

import (
	"context"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/opsflow/opsflow"
)

// The read policy (opsflow.ReadScope) as SQL, so that lists filter in the
// query and pages stay full. Each condition here is the exact counterpart
// of a method of ReadScope; TestReadScopeSQL holds them to each other.

// readable is ReadScope.CanRead on a processes row: a kind the scope reads
// in full, or a row naming the user among its participants.
func readable(w *where, s opsflow.ReadScope) string {
	kinds := make([]string, len(s.Kinds))
	for i, k := range s.Kinds {
		kinds[i] = string(k)
	}
	return "(kind = ANY(" + w.arg(pq.Array(kinds)) + ") OR participants @> ARRAY[" + w.arg(s.UserID) + "]::text[])"
}

// visibleTask is what the inbox shows a scope: a task of a process it
// reads (ReadScope.CanRead), or one that is its own to work
// (ReadScope.HasTask).
func visibleTask(w *where, s opsflow.ReadScope) string {
	kinds := make([]string, len(s.Kinds))
	for i, k := range s.Kinds {
		kinds[i] = string(k)
	}
	roles := make([]string, len(s.Roles))
	for i, r := range s.Roles {
		roles[i] = string(r)
	}
	user := w.arg(s.UserID)
	return "(process_kind = ANY(" + w.arg(pq.Array(kinds)) + ")" +
		" OR assignee = " + user +
		" OR (assignee = '' AND role <> '' AND role = ANY(" + w.arg(pq.Array(roles)) + "))" +
		" OR EXISTS (SELECT 1 FROM processes p WHERE p.id = tasks.process_id AND p.participants @> ARRAY[" + user + "]::text[]))"
}

// BackfillParticipants derives the participants of the rows that have
// none yet (written before migration 00030), in batches. Migrate runs it;
// it is idempotent, and a row the application writes meanwhile gets its
// own.
func BackfillParticipants(ctx context.Context, db *DB) (int, error) {
	n := 0
	for {
		var rows []struct {
			ID     string       `db:"id"`
			Kind   opsflow.Kind `db:"kind"`
			Record []byte       `db:"record"`
		}
		if err := db.db.SelectContext(ctx, &rows, `SELECT id, kind, record FROM processes WHERE participants IS NULL ORDER BY id LIMIT 500`); err != nil {
			return n, wrap("backfill participants", err)
		}
		if len(rows) == 0 {
			return n, nil
		}
		err := db.InTx(ctx, func(tx *sqlx.Tx) error {
			for _, r := range rows {
				ps, err := opsflow.Participants(r.Kind, r.Record)
				if err != nil {
					ps = []string{} // an undecodable record is read by the roles that read every record
				}
				if _, err := tx.ExecContext(ctx, `UPDATE processes SET participants = $2 WHERE id = $1 AND participants IS NULL`, r.ID, pq.Array(ps)); err != nil {
					return wrap("backfill participants", err)
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(rows)
	}
}
