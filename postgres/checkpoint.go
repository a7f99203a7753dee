package postgres

import (
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

// CheckpointResult is what CreateCheckpoint did.
type CheckpointResult struct {
	// Checkpoint is the checkpoint signed, nil when none was: no head
	// moved, or another worker was making one.
	Checkpoint *opsflow.Checkpoint
	// Rewritten are the streams left out because their chains no longer
	// hold the head the last checkpoint signed: someone rewrote them
	// inside the database. Signing their new heads would vouch for the
	// rewrite; they stay out until an administrator has looked.
	Rewritten []opsflow.ChainBreak
}

// CreateCheckpoint signs the heads that moved since the last checkpoint
// (every head, for the first) and logs the checkpoint. No checkpoint is
// made when no head moved — unless always is set — or when another worker
// is making one at this moment.
func (db *DB) CreateCheckpoint(ctx context.Context, sign SignFunc, always bool) (CheckpointResult, error) {
	var res CheckpointResult
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		res = CheckpointResult{}
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
		// The heads that moved, and for each whether the event the last
		// checkpoint signed is still there, unchanged.
		var moved []struct {
			opsflow.CheckpointHead
			SignedSeq  *int64     `db:"signed_seq"`
			SignedHash *string    `db:"signed_hash"`
			SignedIn   *int64     `db:"signed_in"`
			SignedAt   *time.Time `db:"signed_at"`
			StoredHash *string    `db:"stored_hash"`
		}
		if err := tx.SelectContext(ctx, &moved, `
			SELECT h.stream, h.seq, h.hash, c.seq AS signed_seq, c.hash AS signed_hash, c.checkpoint AS signed_in,
				k.signed_at, e.hash AS stored_hash
			FROM audit_heads h
			LEFT JOIN audit_checkpointed c ON c.stream = h.stream
			LEFT JOIN audit_checkpoints k ON k.number = c.checkpoint
			LEFT JOIN audit_events e ON e.stream = c.stream AND e.seq = c.seq
			WHERE h.seq > 0 AND (c.stream IS NULL OR c.seq <> h.seq OR c.hash <> h.hash)
			ORDER BY h.stream`); err != nil {
			return wrap("read moved heads", err)
		}
		var heads []opsflow.CheckpointHead
		for _, m := range moved {
			if m.SignedSeq != nil && (m.StoredHash == nil || *m.StoredHash != *m.SignedHash) {
				mark := opsflow.CheckpointMark{CheckpointHead: opsflow.CheckpointHead{Stream: m.Stream, Seq: *m.SignedSeq, Hash: *m.SignedHash}, Number: *m.SignedIn}
				var stored *opsflow.AuditEvent
				if m.StoredHash != nil {
					stored = &opsflow.AuditEvent{ID: opsflow.EventID(m.Stream, *m.SignedSeq), Seq: *m.SignedSeq, Hash: *m.StoredHash}
				}
				if m.SignedAt != nil {
					mark.SignedAt = *m.SignedAt
				}
				if brk := mark.Compare(stored); brk != nil {
					res.Rewritten = append(res.Rewritten, *brk)
				}
				continue
			}
			heads = append(heads, m.CheckpointHead)
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
		res.Checkpoint = &cp
		return nil
	})
	return res, err
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

// CompareCheckpoints compares the stored chains with every head the
// checkpoints in idx signed (of one stream when stream is not ""): the
// event at each checkpointed seq must exist and carry the signed hash. It
// returns the first difference in stream order — a chain shorter than a
// checkpoint, or an event rewritten since — and how many streams it found
// intact before it. Together with VerifyAudit, which checks that each
// chain holds together, it proves each chain unchanged up to its last
// checkpoint.
func (db *DB) CompareCheckpoints(ctx context.Context, idx opsflow.CheckpointIndex, stream string) (*opsflow.ChainBreak, int, error) {
	var streams []string
	for s := range idx.Marks {
		if stream == "" || s == stream {
			streams = append(streams, s)
		}
	}
	slices.Sort(streams)
	var marks []opsflow.CheckpointMark
	for _, s := range streams {
		marks = append(marks, idx.Marks[s]...)
	}
	intact := 0
	for start := 0; start < len(marks); start += compareBatch {
		batch := marks[start:min(start+compareBatch, len(marks))]
		names, seqs := make([]string, len(batch)), make([]int64, len(batch))
		for i, m := range batch {
			names[i], seqs[i] = m.Stream, m.Seq
		}
		var found []opsflow.AuditEvent
		if err := db.db.SelectContext(ctx, &found, `
			SELECT DISTINCT `+auditColumns+` FROM audit_events e
			JOIN unnest($1::text[], $2::bigint[]) AS u(s, q) ON e.stream = u.s AND e.seq = u.q`,
			pq.Array(names), pq.Array(seqs)); err != nil {
			return nil, intact, wrap("compare checkpoints", err)
		}
		type key struct {
			stream string
			seq    int64
		}
		stored := make(map[key]*opsflow.AuditEvent, len(found))
		for i := range found {
			stored[key{found[i].Stream, found[i].Seq}] = &found[i]
		}
		for i, m := range batch {
			if brk := m.Compare(stored[key{m.Stream, m.Seq}]); brk != nil {
				return brk, intact, nil
			}
			if start+i+1 == len(marks) || marks[start+i+1].Stream != m.Stream {
				intact++
			}
		}
	}
	return nil, intact, nil
}
