package postgres

import (
	"context"
	"fmt"

	"github.com/opsflow/opsflow"
)

// verifyBatch is how many events VerifyAudit reads per query: the trail
// grows without bound, so it is never loaded whole.
const verifyBatch = 1000

// VerifyAudit recomputes the hash chain of one stream, or of every stream
// when stream is "", and reports the first broken link in (stream, seq)
// order. It applies opsflow.VerifyChain's rules batch by batch, and also
// checks each chain's end against its head, which catches events removed
// from the end of a chain. Verification stops at the first break, so the
// counts then cover what was read up to it.
func (db *DB) VerifyAudit(ctx context.Context, stream string) (opsflow.VerifyReport, error) {
	return db.verifyAudit(ctx, stream, verifyBatch)
}

// verifiedEvent is an event with its stream's head, joined in so that the
// end of each chain can be checked without a query per stream.
type verifiedEvent struct {
	opsflow.AuditEvent
	HeadSeq  int64  `db:"head_seq"`
	HeadHash string `db:"head_hash"`
}

func (db *DB) verifyAudit(ctx context.Context, stream string, batch int) (opsflow.VerifyReport, error) {
	var (
		rep     opsflow.VerifyReport
		chain   chainVerifier
		last    verifiedEvent
		started bool
		after   struct {
			stream string
			seq    int64
		}
	)
	finish := func() *opsflow.ChainBreak { // checks the chain that just ended
		if !started {
			return nil
		}
		if last.HeadSeq != last.Seq || last.HeadHash != last.Hash {
			return &opsflow.ChainBreak{Stream: last.Stream, Seq: last.Seq, EventID: last.ID,
				Reason: fmt.Sprintf("the stream's head is seq %d but its last event is seq %d: events are missing or were written around AppendAudit", last.HeadSeq, last.Seq)}
		}
		return nil
	}
	for {
		var rows []verifiedEvent
		err := db.db.SelectContext(ctx, &rows, `
			SELECT e.id, e.stream, e.seq, e.at, e.actor_id, e.actor_name, e.actor_role, e.action,
				e.field, e.old_value, e.new_value, e.reason, e.prev_hash, e.hash,
				coalesce(h.seq, -1) AS head_seq, coalesce(h.hash, '') AS head_hash
			FROM audit_events e LEFT JOIN audit_heads h ON h.stream = e.stream
			WHERE (e.stream, e.seq) > ($1, $2) AND ($3 = '' OR e.stream = $3)
			ORDER BY e.stream, e.seq
			LIMIT $4`, after.stream, after.seq, stream, batch)
		if err != nil {
			return rep, wrap("verify audit", err)
		}
		for _, r := range rows {
			if !started || r.Stream != last.Stream {
				if brk := finish(); brk != nil {
					rep.Break = brk
					return rep, nil
				}
				chain = chainVerifier{}
				started = true
				rep.Streams++
			}
			rep.Events++
			if brk := chain.next(r.AuditEvent); brk != nil {
				rep.Break = brk
				return rep, nil
			}
			last = r
		}
		if len(rows) < batch {
			break
		}
		after.stream, after.seq = last.Stream, last.Seq
	}
	if brk := finish(); brk != nil {
		rep.Break = brk
		return rep, nil
	}
	// A head with no events at all means a whole chain disappeared.
	var lost []struct {
		Stream string `db:"stream"`
		Seq    int64  `db:"seq"`
	}
	err := db.db.SelectContext(ctx, &lost, `
		SELECT h.stream, h.seq FROM audit_heads h
		WHERE h.seq > 0 AND ($1 = '' OR h.stream = $1)
		  AND NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.stream = h.stream)
		ORDER BY h.stream LIMIT 1`, stream)
	if err != nil {
		return rep, wrap("verify audit heads", err)
	}
	if len(lost) > 0 {
		s := lost[0].Stream
		rep.Break = &opsflow.ChainBreak{Stream: s, Seq: 1, EventID: opsflow.EventID(s, 1),
			Reason: fmt.Sprintf("the stream's head is seq %d but it has no events", lost[0].Seq)}
		return rep, nil
	}
	rep.OK = true
	return rep, nil
}

// chainVerifier applies opsflow.VerifyChain's rules one event at a time, so
// a chain can be checked across batches. TestChainVerifierMatchesVerifyChain
// keeps the two in step.
type chainVerifier struct {
	n    int64
	prev string
}

func (c *chainVerifier) next(e opsflow.AuditEvent) *opsflow.ChainBreak {
	brk := func(reason string) *opsflow.ChainBreak {
		return &opsflow.ChainBreak{Stream: e.Stream, Seq: e.Seq, EventID: e.ID, Reason: reason}
	}
	c.n++
	if e.Seq != c.n {
		return brk(fmt.Sprintf("sequence gap: expected seq %d, found %d", c.n, e.Seq))
	}
	if e.PrevHash != c.prev {
		return brk("prev_hash does not match the previous event's hash")
	}
	if e.ComputeHash() != e.Hash {
		return brk("hash does not match the event's content")
	}
	c.prev = e.Hash
	return nil
}
