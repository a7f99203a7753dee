package opsflow

import (
	"cmp"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// CheckpointFormat identifies a signed checkpoint and its version.
const CheckpointFormat = "opsflow.audit-checkpoint/v1"

// A Checkpoint is a signed statement of where audit chains stood: for each
// stream whose head moved since the previous checkpoint, its last seq and
// hash. The worker signs one periodically with an Ed25519 key kept outside
// the database and publishes it to an append-only place (a directory, a
// webhook). Whoever rewrites a chain later — even the database's owner or
// a superuser, recomputing every hash and the head — cannot produce events
// that match a published checkpoint: verify and verify-pack name the
// rewritten tail.
//
// Checkpoints are numbered from 1 and each carries the digest of the one
// before (Prev), so a missing or replaced checkpoint is noticed too.
// The signature covers the RFC 8785 form of the checkpoint's JSON object
// without its "signature" member (see SignedBytes).
type Checkpoint struct {
	Format    string           `json:"format"`
	Number    int64            `json:"number"`
	SignedAt  time.Time        `json:"signed_at"`
	Prev      string           `json:"prev"`   // Digest of checkpoint Number-1; "" for the first
	KeyID     string           `json:"key_id"` // see KeyID
	Heads     []CheckpointHead `json:"heads"`  // sorted by stream
	Signature string           `json:"signature"`

	signed []byte // the canonical bytes the signature covers, as read or signed
}

// CheckpointHead is where one stream stood at a checkpoint.
type CheckpointHead struct {
	Stream string `json:"stream"`
	Seq    int64  `json:"seq"`
	Hash   string `json:"hash"`
}

// KeyID names a public key in checkpoints: the first 16 hex digits of its
// SHA-256, enough to tell keys apart after a rotation.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// NewCheckpoint signs a checkpoint following prev (nil for the first) over
// heads, at time at.
func NewCheckpoint(key ed25519.PrivateKey, prev *Checkpoint, heads []CheckpointHead, at time.Time) (Checkpoint, error) {
	cp := Checkpoint{Format: CheckpointFormat, Number: 1, SignedAt: AuditTime(at), KeyID: KeyID(key.Public().(ed25519.PublicKey)),
		Heads: slices.Clone(heads)}
	if prev != nil {
		cp.Number, cp.Prev = prev.Number+1, prev.Digest()
	}
	if cp.Heads == nil {
		cp.Heads = []CheckpointHead{}
	}
	slices.SortFunc(cp.Heads, func(a, b CheckpointHead) int { return cmp.Compare(a.Stream, b.Stream) })
	b, err := json.Marshal(cp)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	if cp.signed, err = unsignedCanonical(b); err != nil {
		return Checkpoint{}, err
	}
	cp.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, cp.signed))
	return cp, nil
}

// ParseCheckpoint reads a checkpoint as published. It does not check the
// signature: VerifyCheckpoints does.
func ParseCheckpoint(b []byte) (Checkpoint, error) {
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return cp, fmt.Errorf("read checkpoint: %w", err)
	}
	if cp.Format != CheckpointFormat {
		return cp, fmt.Errorf("read checkpoint: format %q, want %q", cp.Format, CheckpointFormat)
	}
	var err error
	if cp.signed, err = unsignedCanonical(b); err != nil {
		return cp, err
	}
	return cp, nil
}

// unsignedCanonical is the RFC 8785 form of a checkpoint object without its
// signature: what the signature covers. Members a verifier's struct does
// not know are kept, so nothing can be added to a file unsigned.
func unsignedCanonical(b []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	delete(m, "signature")
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return JCS(raw)
}

// SignedBytes are the bytes the signature covers.
func (c Checkpoint) SignedBytes() []byte { return c.signed }

// Digest is the hex SHA-256 of SignedBytes: what the next checkpoint's
// Prev holds.
func (c Checkpoint) Digest() string { return sha256Hex(c.signed) }

// MarshalIndent is the checkpoint as published: indented JSON.
func (c Checkpoint) MarshalIndent() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return append(b, '\n'), nil
}

// CheckpointMark is one stream's head as a checkpoint signed it.
type CheckpointMark struct {
	CheckpointHead
	Number   int64     `json:"checkpoint"`
	SignedAt time.Time `json:"signed_at"`
}

// CheckpointIndex is what a set of verified checkpoints says: every head
// each stream was signed at, oldest first.
//
// Every mark counts, not only a stream's latest: a chain rewritten inside
// the database after one checkpoint would have its forged head signed by
// the next (the worker signs what it finds), and only the earlier mark
// still shows the chain as it was.
type CheckpointIndex struct {
	Marks  map[string][]CheckpointMark
	Count  int       // checkpoints verified
	Last   int64     // number of the last one
	LastAt time.Time // when the last one was signed
}

// VerifyCheckpoints checks a set of checkpoints against the trusted public
// keys: every signature by one of them, numbers from 1 without a gap, and
// each Prev equal to the Digest of the checkpoint before. It returns their
// index, or an error naming the first checkpoint that fails.
//
// Several keys are how a key is rotated: the worker signs with the new
// key from some checkpoint on, the chain of digests runs on across the
// change, and a verifier trusts the old public key and the new one. A key
// found compromised is dropped from the trusted set, and every checkpoint
// it signed then fails, as it should.
func VerifyCheckpoints(cps []Checkpoint, pubs ...ed25519.PublicKey) (CheckpointIndex, error) {
	idx := CheckpointIndex{Marks: map[string][]CheckpointMark{}}
	keys := map[string]ed25519.PublicKey{}
	for _, pub := range pubs {
		if len(pub) != ed25519.PublicKeySize {
			return idx, errors.New("checkpoints: no valid Ed25519 public key to check them with (one given is not an Ed25519 key)")
		}
		keys[KeyID(pub)] = pub
	}
	if len(keys) == 0 {
		return idx, errors.New("checkpoints: no valid Ed25519 public key to check them with")
	}
	sorted := slices.Clone(cps)
	slices.SortFunc(sorted, func(a, b Checkpoint) int { return cmp.Compare(a.Number, b.Number) })
	var prev *Checkpoint
	for i := range sorted {
		cp := &sorted[i]
		if want := int64(i + 1); cp.Number != want {
			if cp.Number < want {
				return idx, fmt.Errorf("checkpoint %d appears twice", cp.Number)
			}
			return idx, fmt.Errorf("checkpoint %d is missing (the next one found is %d)", want, cp.Number)
		}
		pub, ok := keys[cp.KeyID]
		if !ok {
			return idx, fmt.Errorf("checkpoint %d was signed by key %s, not by a trusted key (%s)", cp.Number, cp.KeyID, strings.Join(slices.Sorted(maps.Keys(keys)), ", "))
		}
		sig, err := base64.StdEncoding.DecodeString(cp.Signature)
		if err != nil || len(cp.signed) == 0 || !ed25519.Verify(pub, cp.signed, sig) {
			return idx, fmt.Errorf("checkpoint %d: the signature does not verify: the checkpoint was altered or not signed by this key", cp.Number)
		}
		if prev != nil && cp.Prev != prev.Digest() {
			return idx, fmt.Errorf("checkpoint %d does not follow checkpoint %d (prev %s, want %s)", cp.Number, prev.Number, cp.Prev, prev.Digest())
		}
		if prev == nil && cp.Prev != "" {
			return idx, fmt.Errorf("checkpoint 1 names a previous checkpoint")
		}
		for _, h := range cp.Heads {
			idx.Marks[h.Stream] = append(idx.Marks[h.Stream], CheckpointMark{CheckpointHead: h, Number: cp.Number, SignedAt: cp.SignedAt})
		}
		idx.Count, idx.Last, idx.LastAt = idx.Count+1, cp.Number, cp.SignedAt
		prev = cp
	}
	return idx, nil
}

// Latest is the last head a checkpoint signed for stream, if any.
func (idx CheckpointIndex) Latest(stream string) (CheckpointMark, bool) {
	ms := idx.Marks[stream]
	if len(ms) == 0 {
		return CheckpointMark{}, false
	}
	return ms[len(ms)-1], true
}

// Check compares one stream's events (ordered by seq, from 1) with every
// head a checkpoint signed for that stream, and names the first
// difference: a chain shorter than a checkpoint, or an event that is not
// the one signed. It returns nil when the stream has no checkpoint.
func (idx CheckpointIndex) Check(stream string, events []AuditEvent) *ChainBreak {
	for _, m := range idx.Marks[stream] {
		var got *AuditEvent
		if m.Seq >= 1 && m.Seq <= int64(len(events)) {
			got = &events[m.Seq-1]
		}
		if brk := m.Compare(got); brk != nil {
			return brk
		}
	}
	return nil
}

// Compare names how the stored event at the mark's seq (nil when there is
// none) differs from the checkpointed head.
func (m CheckpointMark) Compare(e *AuditEvent) *ChainBreak {
	at := m.SignedAt.UTC().Format(time.RFC3339)
	if e == nil || e.Seq != m.Seq {
		return &ChainBreak{Stream: m.Stream, Seq: m.Seq, EventID: EventID(m.Stream, m.Seq),
			Reason: fmt.Sprintf("stream %s: chain shorter than checkpoint %d signed at %s, which holds seq %d", m.Stream, m.Number, at, m.Seq)}
	}
	if e.Hash != m.Hash {
		return &ChainBreak{Stream: m.Stream, Seq: m.Seq, EventID: e.ID,
			Reason: fmt.Sprintf("stream %s: event %d differs from checkpoint %d signed at %s (hash %s, signed %s): the chain was rewritten at or before this event", m.Stream, m.Seq, m.Number, at, short(e.Hash), short(m.Hash))}
	}
	return nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// CheckpointReport says what stored chains were compared with: how many
// signed checkpoints, the last one, where they came from, and how many
// streams they hold.
type CheckpointReport struct {
	Source      string    `json:"source"`
	Checkpoints int       `json:"checkpoints"`
	Last        int64     `json:"last,omitempty"`
	LastAt      time.Time `json:"last_signed_at,omitzero"`
	KeyID       string    `json:"key_id"`
	Streams     int       `json:"streams"` // streams with a checkpointed head that were compared
}
