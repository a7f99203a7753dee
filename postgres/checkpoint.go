package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/opsflow/opsflow"
)

// Checkpoints are signed by the worker and published outside the database
// (see opsflow.Checkpoint and worker.Checkpointer). The tables of
// migration 00007 are the producer's log: they number the next checkpoint,
// tell which heads moved since the last one, and remember what is still
// to publish. Verification never reads them: CompareCheckpoints takes
// checkpoints from the published place.

// checkpointLockClass keys the advisory lock that lets one worker at a
// time make a checkpoint (the others skip their turn).
const checkpointLockClass = 0x6f706370 // "opcp"

// SignFunc signs the checkpoint that follows prev (nil for the first) over
// heads. The worker's key never reaches the database.
type SignFunc func(prev *opsflow.Checkpoint, heads []opsflow.CheckpointHead) (opsflow.Checkpoint, error)

// StoredCheckpoint is a checkpoint as the producer logged it.
type StoredCheckpoint struct {
	Checkpoint   opsflow.Checkpoint
	Body         []byte // exactly as published
	PublishedAt  *time.Time
	PublishError string
}

// CreateCheckpoint signs the heads that moved since the last checkpoint
// (every head, for the first) and logs the checkpoint. It returns nil when
// no head moved — unless always is set — or when another worker is making
// one at this moment.
func (db *DB) CreateCheckpoint(ctx context.Context, sign SignFunc, always bool) (*opsflow.Checkpoint, error) {
	var made *opsflow.Checkpoint
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		var got bool
		if err := tx.GetContext(ctx, &got, `SELECT pg_try_advisory_xact_lock($1::int, 0)`, checkpointLockClass); err != nil {
			return wrap("lock checkpoints", err)
		}
		if !got {
			return nil
		}
		var prev *opsflow.Checkpoint
		var body string
		err := tx.GetContext(ctx, &body, `SELECT body FROM audit_checkpoints ORDER BY number DESC LIMIT 1`)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return wrap("read last checkpoint", err)
		default:
			cp, err := opsflow.ParseCheckpoint([]byte(body))
			if err != nil {
				return fmt.Errorf("postgres: last checkpoint: %w", err)
			}
			prev = &cp
		}
		var heads []opsflow.CheckpointHead
		if err := tx.SelectContext(ctx, &heads, `
			SELECT h.stream, h.seq, h.hash FROM audit_heads h LEFT JOIN audit_checkpointed c ON c.stream = h.stream
			WHERE h.seq > 0 AND (c.stream IS NULL OR c.seq <> h.seq OR c.hash <> h.hash)
			ORDER BY h.stream`); err != nil {
			return wrap("read moved heads", err)
		}
		if len(heads) == 0 && !always && prev != nil {
			return nil
		}
		cp, err := sign(prev, heads)
		if err != nil {
			return err
		}
		out, err := cp.MarshalIndent()
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO audit_checkpoints (number, signed_at, key_id, digest, heads, body) VALUES ($1, $2, $3, $4, $5, $6)`,
			cp.Number, cp.SignedAt, cp.KeyID, cp.Digest(), len(cp.Heads), string(out)); err != nil {
			return wrap("log checkpoint", err)
		}
		streams, seqs, hashes := make([]string, len(heads)), make([]int64, len(heads)), make([]string, len(heads))
		for i, h := range heads {
			streams[i], seqs[i], hashes[i] = h.Stream, h.Seq, h.Hash
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO audit_checkpointed (stream, seq, hash, checkpoint)
			SELECT s, q, h, $4 FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(s, q, h)
			ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, checkpoint = excluded.checkpoint`,
			pq.Array(streams), pq.Array(seqs), pq.Array(hashes), cp.Number); err != nil {
			return wrap("log checkpointed heads", err)
		}
		made = &cp
		return nil
	})
	return made, err
}

// UnpublishedCheckpoints lists the logged checkpoints not yet published
// everywhere, oldest first.
func (db *DB) UnpublishedCheckpoints(ctx context.Context) ([]StoredCheckpoint, error) {
	return db.storedCheckpoints(ctx, `WHERE published_at IS NULL`)
}

// StoredCheckpoints lists every logged checkpoint, oldest first: for
// operators (what was signed, what is published), never for verification.
func (db *DB) StoredCheckpoints(ctx context.Context) ([]StoredCheckpoint, error) {
	return db.storedCheckpoints(ctx, ``)
}

func (db *DB) storedCheckpoints(ctx context.Context, where string) ([]StoredCheckpoint, error) {
	var rows []struct {
		Body        string     `db:"body"`
		PublishedAt *time.Time `db:"published_at"`
		Error       string     `db:"publish_error"`
	}
	if err := db.db.SelectContext(ctx, &rows, `SELECT body, published_at, publish_error FROM audit_checkpoints `+where+` ORDER BY number`); err != nil {
		return nil, wrap("read checkpoints", err)
	}
	out := make([]StoredCheckpoint, 0, len(rows))
	for _, r := range rows {
		cp, err := opsflow.ParseCheckpoint([]byte(r.Body))
		if err != nil {
			return nil, fmt.Errorf("postgres: logged checkpoint: %w", err)
		}
		out = append(out, StoredCheckpoint{Checkpoint: cp, Body: []byte(r.Body), PublishedAt: utcPtr(r.PublishedAt), PublishError: r.Error})
	}
	return out, nil
}

// MarkPublished records that checkpoint number reached every publisher
// (cause nil), or why it did not.
func (db *DB) MarkPublished(ctx context.Context, number int64, cause error) error {
	var err error
	if cause == nil {
		_, err = db.db.ExecContext(ctx, `UPDATE audit_checkpoints SET published_at = now(), publish_error = '' WHERE number = $1`, number)
	} else {
		_, err = db.db.ExecContext(ctx, `UPDATE audit_checkpoints SET publish_error = $2 WHERE number = $1`, number, storable(cause.Error(), 2000))
	}
	return wrap("mark checkpoint published", err)
}

// compareBatch is how many checkpointed heads CompareCheckpoints looks up
// per query.
const compareBatch = 1000

// CompareCheckpoints compares the stored chains with the latest signed
// head of each stream in idx (of one stream when stream is not ""): the
// event at each checkpointed seq must exist and carry the signed hash. It
// returns the first difference in stream order — a chain shorter than its
// checkpoint, or an event rewritten since — and how many streams it
// compared. Together with VerifyAudit, which checks that each chain holds
// together, it proves a chain unchanged up to its last checkpoint.
func (db *DB) CompareCheckpoints(ctx context.Context, idx opsflow.CheckpointIndex, stream string) (*opsflow.ChainBreak, int, error) {
	var marks []opsflow.CheckpointMark
	for s, m := range idx.Heads {
		if stream == "" || s == stream {
			marks = append(marks, m)
		}
	}
	slices.SortFunc(marks, func(a, b opsflow.CheckpointMark) int { return cmp.Compare(a.Stream, b.Stream) })
	for start := 0; start < len(marks); start += compareBatch {
		batch := marks[start:min(start+compareBatch, len(marks))]
		streams, seqs := make([]string, len(batch)), make([]int64, len(batch))
		for i, m := range batch {
			streams[i], seqs[i] = m.Stream, m.Seq
		}
		var found []opsflow.AuditEvent
		if err := db.db.SelectContext(ctx, &found, `
			SELECT `+auditColumns+` FROM audit_events e
			JOIN unnest($1::text[], $2::bigint[]) AS u(s, q) ON e.stream = u.s AND e.seq = u.q`,
			pq.Array(streams), pq.Array(seqs)); err != nil {
			return nil, 0, wrap("compare checkpoints", err)
		}
		byStream := make(map[string]*opsflow.AuditEvent, len(found))
		for i := range found {
			byStream[found[i].Stream] = &found[i]
		}
		for _, m := range batch {
			if brk := m.Compare(byStream[m.Stream]); brk != nil {
				return brk, start, nil
			}
		}
	}
	return nil, len(marks), nil
}
