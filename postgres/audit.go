package postgres

import (
	"context"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/opsflow/opsflow"
)

const auditColumns = `id, stream, seq, at, actor_id, actor_name, actor_role, action,
	field, old_value, new_value, reason, prev_hash, hash`

// AppendAudit appends events to their streams' hash chains inside the
// caller's transaction, so that the events commit or vanish together with
// the change they describe.
//
// The store owns the chain: it sets PrevHash and Hash (values the caller set
// are only compared, never trusted) and normalises At to what PostgreSQL
// keeps. An event whose ID is already stored is skipped, which makes an
// activity retry harmless; but if its content (other than its time, see
// sameEvent) differs from the stored one the retry is not a retry, and
// AppendAudit fails with *opsflow.AuditDiverged. A new event must continue
// its stream (Seq = last Seq + 1), or that error says what is missing.
func AppendAudit(ctx context.Context, tx *sqlx.Tx, events []opsflow.AuditEvent) error {
	var db *DB // no statement cache: plain statements in tx
	return db.appendAudit(ctx, tx, events, nil)
}

// appendAudit is AppendAudit that also queues the notifications the events
// caused, in the same statement as the events.
func (db *DB) appendAudit(ctx context.Context, tx *sqlx.Tx, events []opsflow.AuditEvent, notify []opsflow.Notification) error {
	if len(events) == 0 {
		return queueNotifications(ctx, tx, notify)
	}
	evs := make([]opsflow.AuditEvent, len(events))
	ids := make([]string, len(events))
	var streams []string
	for i, e := range events {
		if err := normaliseEvent(&e); err != nil {
			return err
		}
		evs[i], ids[i] = e, e.ID
		if !slices.Contains(streams, e.Stream) {
			streams = append(streams, e.Stream)
		}
	}

	// Lock the streams in a fixed order: two transactions appending to the
	// same streams then queue instead of deadlocking. The locks are
	// advisory, taken before the heads are read (in a statement of their
	// own, so that the read that follows sees what a transaction that held
	// them committed): the application may read audit_heads but not lock
	// its rows, since locking a row needs UPDATE, which would let it move
	// a head (see migration 00006).
	slices.Sort(streams)
	if err := db.txExec(ctx, tx, `SELECT count(pg_advisory_xact_lock($1::int, k)) FROM unnest($2::int[]) AS k`,
		auditLockClass, pq.Array(streamLockKeys(streams))); err != nil {
		return wrap("lock audit streams", err)
	}
	var rows []struct {
		Stream string `db:"stream"`
		chainHead
	}
	if err := db.txSelect(ctx, tx, &rows, `SELECT stream, seq, hash FROM audit_heads WHERE stream = ANY($1)`, pq.Array(streams)); err != nil {
		return wrap("read audit heads", err)
	}
	heads := make(map[string]chainHead, len(streams))
	for _, r := range rows {
		heads[r.Stream] = r.chainHead
	}
	overlap := false
	for _, e := range evs {
		overlap = overlap || e.Seq <= heads[e.Stream].Seq
	}

	// Read stored copies only now, under the locks (a concurrent append of
	// the same events has committed by the time we get here), and only
	// when some event may already be stored: the common append is all new.
	known := make(map[string]opsflow.AuditEvent, len(evs))
	if overlap {
		var stored []opsflow.AuditEvent
		if err := tx.SelectContext(ctx, &stored, `SELECT `+auditColumns+` FROM audit_events WHERE id = ANY($1)`, pq.Array(ids)); err != nil {
			return wrap("read audit events", err)
		}
		for _, e := range stored {
			known[e.ID] = e
		}
	}

	var fresh []opsflow.AuditEvent
	for _, e := range evs {
		if old, ok := known[e.ID]; ok {
			if !sameEvent(e, old) {
				return &opsflow.AuditDiverged{Stream: e.Stream, At: e.Seq, Head: heads[e.Stream].Seq}
			}
			continue
		}
		h := heads[e.Stream]
		if e.Seq != h.Seq+1 {
			return &opsflow.AuditDiverged{Stream: e.Stream, At: e.Seq, Head: h.Seq}
		}
		e.PrevHash = h.Hash
		e.Hash = e.ComputeHash()
		heads[e.Stream] = chainHead{Seq: e.Seq, Hash: e.Hash}
		known[e.ID] = e
		fresh = append(fresh, e)
	}
	return db.insertEvents(ctx, tx, fresh, notify)
}

// auditLockClass is the first key of the advisory locks that serialise
// appends to one stream (the second is the stream's hash). Two-key
// advisory locks do not share their key space with the one-key lock of the
// migrations.
const auditLockClass = 0x6f706175 // "opau"

// streamLockKeys returns the advisory-lock keys of streams, sorted and
// without repeats: locks taken in this order cannot deadlock, and two
// streams whose hashes collide only queue behind each other.
func streamLockKeys(streams []string) []int64 {
	keys := make([]int64, 0, len(streams))
	for _, s := range streams {
		h := fnv.New32a()
		h.Write([]byte(s))
		keys = append(keys, int64(int32(h.Sum32())))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// AppendAudit appends events in a transaction of their own; see the
// package-level AppendAudit to append them with other writes.
func (db *DB) AppendAudit(ctx context.Context, events []opsflow.AuditEvent) error {
	return db.InTx(ctx, func(tx *sqlx.Tx) error { return db.appendAudit(ctx, tx, events, nil) })
}

type chainHead struct {
	Seq  int64  `db:"seq"`
	Hash string `db:"hash"`
}

// normaliseEvent checks the fields the chain depends on and fills the ID
// from stream and seq when it is empty.
func normaliseEvent(e *opsflow.AuditEvent) error {
	switch {
	case e.Stream == "":
		return opsflow.Invalid("stream", "audit event %q has no stream", e.ID)
	case e.Seq < 1:
		return opsflow.Invalid("seq", "audit event %q: seq must be 1 or more", e.ID)
	case e.At.IsZero():
		return opsflow.Invalid("at", "audit event %q has no time", e.ID)
	case e.Action == "":
		return opsflow.Invalid("action", "audit event %q has no action", e.ID)
	}
	want := opsflow.EventID(e.Stream, e.Seq)
	if e.ID == "" {
		e.ID = want
	} else if e.ID != want {
		// The ID is the idempotency key; one that does not follow from
		// stream and seq would let a retry slip past it.
		return opsflow.Invalid("id", "audit event %q: the ID must be %q", e.ID, want)
	}
	e.At = opsflow.AuditTime(e.At)
	return nil
}

// sameEvent reports whether a re-sent event is the stored one. Hashes count
// only when the sender set them: callers normally leave them to the store.
//
// The time does not count: a workflow task that failed after its
// projection committed is retried with a later workflow time, so its
// events come again stamped anew. They are the same changes; the first
// record — the one that committed, and that the chain's hashes cover —
// stands.
func sameEvent(sent, stored opsflow.AuditEvent) bool {
	return sent.Stream == stored.Stream && sent.Seq == stored.Seq &&
		sent.ActorID == stored.ActorID && sent.ActorName == stored.ActorName && sent.ActorRole == stored.ActorRole &&
		sent.Action == stored.Action && sent.Field == stored.Field &&
		sent.Old == stored.Old && sent.New == stored.New && sent.Reason == stored.Reason &&
		(sent.PrevHash == "" || sent.PrevHash == stored.PrevHash) &&
		(sent.Hash == "" || sent.Hash == stored.Hash)
}

// insertEvents writes events and the notifications they caused in one
// statement, whatever their number: one array per column, unnested back
// into rows. Each event advances its stream's head through the trigger of
// migration 00006, which also refuses an event that does not continue its
// chain.
func (db *DB) insertEvents(ctx context.Context, tx *sqlx.Tx, evs []opsflow.AuditEvent, notify []opsflow.Notification) error {
	if len(evs) == 0 {
		return queueNotifications(ctx, tx, notify)
	}
	n := len(evs)
	var (
		id, stream, at, actorID, actorName, actorRole = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		action, field, oldV, newV, reason, prev, hash = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		seq                                           = make([]int64, n)
	)
	for i, e := range evs {
		id[i], stream[i], seq[i], at[i] = e.ID, e.Stream, e.Seq, e.At.Format(time.RFC3339Nano)
		actorID[i], actorName[i], actorRole[i] = e.ActorID, e.ActorName, e.ActorRole
		action[i], field[i], oldV[i], newV[i], reason[i] = e.Action, e.Field, e.Old, e.New, e.Reason
		prev[i], hash[i] = e.PrevHash, e.Hash
	}
	nc := notificationColumns(notify)
	// WITH ORDINALITY and ORDER BY keep the rows in the order of the
	// slices, which is each stream's seq order: the trigger checks each
	// event against the head the one before it left.
	err := db.txExec(ctx, tx, `
		WITH ev AS (
			INSERT INTO audit_events (`+auditColumns+`)
			SELECT id, stream, seq, at, actor_id, actor_name, actor_role, action, field, old_value, new_value, reason, prev_hash, hash
			FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::text[], $6::text[],
				$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])
				WITH ORDINALITY AS u(id, stream, seq, at, actor_id, actor_name, actor_role, action, field, old_value, new_value, reason, prev_hash, hash, i)
			ORDER BY i
		)
		INSERT INTO notifications (id, process_id, task_id, recipient, subject, at, kind, level, reason)
		SELECT * FROM unnest($15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::timestamptz[], $21::text[], $22::int[], $23::text[])
		ON CONFLICT (id) DO NOTHING`,
		append([]any{pq.Array(id), pq.Array(stream), pq.Array(seq), pq.Array(at), pq.Array(actorID), pq.Array(actorName),
			pq.Array(actorRole), pq.Array(action), pq.Array(field), pq.Array(oldV), pq.Array(newV), pq.Array(reason),
			pq.Array(prev), pq.Array(hash)}, nc.args()...)...)
	return wrap("insert audit events", err)
}

// AuditEvents returns the events of one stream, oldest first.
func (db *DB) AuditEvents(ctx context.Context, stream string) ([]opsflow.AuditEvent, error) {
	evs := []opsflow.AuditEvent{}
	if err := db.db.SelectContext(ctx, &evs, `SELECT `+auditColumns+` FROM audit_events WHERE stream = $1 ORDER BY seq`, stream); err != nil {
		return nil, wrap("read audit events", err)
	}
	for i := range evs {
		evs[i].At = opsflow.AuditTime(evs[i].At)
	}
	return evs, nil
}

// AuditStreams returns the names of all streams that have events, in order.
func (db *DB) AuditStreams(ctx context.Context) ([]string, error) {
	streams := []string{}
	if err := db.db.SelectContext(ctx, &streams, `SELECT stream FROM audit_heads WHERE seq > 0 ORDER BY stream`); err != nil {
		return nil, wrap("read audit streams", err)
	}
	return streams, nil
}
