package opsflow

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// AuditEvent is one entry of the audit trail: who did what, to which field,
// from which value to which, when and why. Events form one hash chain per
// stream (a process ID): Hash = SHA-256(canonical(event) with PrevHash), and
// PrevHash is the Hash of the stream's previous event ("" for the first).
//
// ID is the idempotency key: "<stream>/<seq>". A workflow assigns Seq
// deterministically, so an activity retry re-sends the same IDs and the store
// ignores them.
type AuditEvent struct {
	ID        string    `json:"id" db:"id"`
	Stream    string    `json:"stream" db:"stream"`
	Seq       int64     `json:"seq" db:"seq"`
	At        time.Time `json:"at" db:"at"`
	ActorID   string    `json:"actor_id" db:"actor_id"`
	ActorName string    `json:"actor_name" db:"actor_name"`
	ActorRole string    `json:"actor_role" db:"actor_role"`
	Action    string    `json:"action" db:"action"`
	Field     string    `json:"field,omitempty" db:"field"`
	Old       string    `json:"old,omitempty" db:"old_value"`
	New       string    `json:"new,omitempty" db:"new_value"`
	Reason    string    `json:"reason,omitempty" db:"reason"`
	PrevHash  string    `json:"prev_hash" db:"prev_hash"`
	Hash      string    `json:"hash" db:"hash"`
}

// EventID is the idempotency key of the seq-th event of a stream.
func EventID(stream string, seq int64) string { return fmt.Sprintf("%s/%d", stream, seq) }

// AuditTime normalises a timestamp to what PostgreSQL stores (UTC,
// microseconds), so a hash computed before an insert still matches the row
// read back.
func AuditTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// canonicalEvent fixes the field order and encoding that the hash covers.
// Changing it breaks every stored chain: add a new version instead.
type canonicalEvent struct {
	V         int    `json:"v"`
	ID        string `json:"id"`
	Stream    string `json:"stream"`
	Seq       int64  `json:"seq"`
	At        string `json:"at"`
	ActorID   string `json:"actor_id"`
	ActorName string `json:"actor_name"`
	ActorRole string `json:"actor_role"`
	Action    string `json:"action"`
	Field     string `json:"field"`
	Old       string `json:"old"`
	New       string `json:"new"`
	Reason    string `json:"reason"`
	PrevHash  string `json:"prev_hash"`
}

// Canonical returns the bytes the event's hash covers: a JSON object with a
// fixed key order, the time in RFC 3339 UTC with microseconds.
func (e AuditEvent) Canonical() []byte {
	b, err := json.Marshal(canonicalEvent{
		V: 1, ID: e.ID, Stream: e.Stream, Seq: e.Seq,
		At:      AuditTime(e.At).Format("2006-01-02T15:04:05.000000Z"),
		ActorID: e.ActorID, ActorName: e.ActorName, ActorRole: e.ActorRole,
		Action: e.Action, Field: e.Field, Old: e.Old, New: e.New, Reason: e.Reason,
		PrevHash: e.PrevHash,
	})
	if err != nil { // strings and numbers only: cannot fail
		panic(err)
	}
	return b
}

// ComputeHash returns the hex SHA-256 of the event's canonical encoding.
func (e AuditEvent) ComputeHash() string {
	sum := sha256.Sum256(e.Canonical())
	return hex.EncodeToString(sum[:])
}

// ChainBreak names the first event at which a chain fails to verify.
type ChainBreak struct {
	Stream  string `json:"stream"`
	Seq     int64  `json:"seq"`
	EventID string `json:"event_id"`
	Reason  string `json:"reason"`
}

// VerifyChain checks events of one stream, ordered by Seq: sequence numbers
// without gaps from 1, each PrevHash equal to the previous Hash, and each
// Hash equal to the recomputed one. It returns the first break, or nil.
func VerifyChain(events []AuditEvent) *ChainBreak {
	prev := ""
	for i, e := range events {
		brk := func(reason string) *ChainBreak {
			return &ChainBreak{Stream: e.Stream, Seq: e.Seq, EventID: e.ID, Reason: reason}
		}
		if want := int64(i + 1); e.Seq != want {
			return brk(fmt.Sprintf("sequence gap: expected seq %d, found %d", want, e.Seq))
		}
		if i > 0 && e.Stream != events[0].Stream {
			return brk("event belongs to another stream")
		}
		if e.PrevHash != prev {
			return brk("prev_hash does not match the previous event's hash")
		}
		if got := e.ComputeHash(); got != e.Hash {
			return brk("hash does not match the event's content")
		}
		prev = e.Hash
	}
	return nil
}

// VerifyReport is the result of verifying one or more chains.
type VerifyReport struct {
	OK      bool        `json:"ok"`
	Streams int         `json:"streams"`
	Events  int         `json:"events"`
	Break   *ChainBreak `json:"first_break,omitempty"`
	// Checkpoints says what the chains were compared with, when signed
	// checkpoints were given (see Checkpoint).
	Checkpoints *CheckpointReport `json:"checkpoints,omitempty"`
}

// AuditDiverged says a stream's stored events differ from the ones being
// appended at the same sequence numbers — from seq At on, the stream's
// head being Head — or that events before them are missing. It happens
// when a workflow task committed its projection and was then retried
// (its worker died, it timed out) and the retry made different changes:
// the stored events describe changes that, as far as the process knows,
// never took effect. The trail is append-only, so the process appends a
// note saying so and its changes after it (see the workflows' engine).
type AuditDiverged struct {
	Stream string `json:"stream"`
	At     int64  `json:"at"`
	Head   int64  `json:"head"`
}

func (e *AuditDiverged) Error() string {
	if e.At > e.Head {
		return fmt.Sprintf("audit stream %s: events %d to %d are missing", e.Stream, e.Head+1, e.At-1)
	}
	return fmt.Sprintf("audit stream %s: events %d to %d are already recorded with different content", e.Stream, e.At, e.Head)
}

// Unwrap makes a diverged trail a conflict for ErrorCode.
func (e *AuditDiverged) Unwrap() error { return &Error{Code: ECONFLICT, Message: e.Error()} }
