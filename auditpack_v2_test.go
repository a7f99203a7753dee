package opsflow

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// closedCAPA returns the record and timeline of a CAPA closed with a
// signature, chained and sealed as the workflow and the store do it.
func closedCAPA(t testing.TB) (json.RawMessage, []AuditEvent) {
	t.Helper()
	at := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	signed, err := JCS([]byte(`{"id":"capa-1","state":"effectiveness_check","title":"Housing cracks","risk":{"level":"high","score":48}}`))
	if err != nil {
		t.Fatal(err)
	}
	sh, _ := RecordHash(signed)
	sig := Signature{SignerID: "bob", PrintedName: "Bob Chen", SignedAt: at.Add(3 * time.Hour), Meaning: "approved for closure", RecordHash: sh, Method: "token re-entry"}
	rec, _ := json.Marshal(map[string]any{"id": "capa-1", "state": "closed", "title": "Housing cracks & <burrs>",
		"risk": map[string]any{"level": "high", "score": 48}, "ratio": 0.1, "signatures": []Signature{sig},
		"signed_versions": []SignedVersion{{RecordHash: sh, Record: signed}}})
	fh, _ := RecordHash(rec)
	steps := []AuditEvent{
		{ActorID: "alice", ActorRole: "requester", Action: "capa.reported", Field: "state", New: "reported", Reason: "corrective: Housing cracks & <burrs>\u2028\t\"q\" é"},
		{ActorID: "alice", ActorRole: "owner", Action: "capa.risk_scored", Field: "risk", New: `{"level":"high","score":48}`},
		{ActorID: "alice", ActorRole: "owner", Action: "capa.triaged", Field: "state", Old: "reported", New: "triage"},
		{ActorID: "bob", ActorRole: "approver", Action: "capa.effectiveness_recorded", Field: "state", Old: "triage", New: "effectiveness_check"},
		{ActorID: "bob", ActorRole: "approver", Action: ActionSigned, Field: "signatures", New: sh, Reason: "approved for closure, signed by Bob Chen (bob)"},
		{ActorID: "bob", ActorRole: "approver", Action: "capa.closed", Field: "state", Old: "effectiveness_check", New: "closed"},
		{ActorID: "system", ActorName: "opsflow", ActorRole: "system", Action: ActionSealed, Field: "record_sha256", New: fh, Reason: "final record sealed at closed"},
	}
	for i := range steps {
		steps[i].Stream, steps[i].Seq, steps[i].At = "capa-1", int64(i+1), at.Add(time.Duration(i)*time.Hour)
	}
	return rec, rechain(steps)
}

// rechain sets IDs, prev_hash and hash as the store does, or as a forger
// who recomputes them would.
func rechain(evs []AuditEvent) []AuditEvent {
	prev := ""
	for i := range evs {
		evs[i].ID = EventID(evs[i].Stream, evs[i].Seq)
		evs[i].PrevHash = prev
		evs[i].Hash = evs[i].ComputeHash()
		prev = evs[i].Hash
	}
	return evs
}

func packOf(t testing.TB, prs ...PackRecord) []byte {
	t.Helper()
	b, err := json.MarshalIndent(InspectionPack{Format: PackFormat, GeneratedAt: time.Now().UTC(), GeneratedBy: "carol", Records: prs}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func goodPackRecord(t testing.TB) PackRecord {
	t.Helper()
	rec, tl := closedCAPA(t)
	pr, err := NewPackRecord(KindCAPA, "capa-1", "closed", rec, tl)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// signedIndex signs one checkpoint holding head of capa-1 and returns its
// verified index.
func signedIndex(t testing.TB, head AuditEvent) *CheckpointIndex {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	cp, err := NewCheckpoint(key, nil, []CheckpointHead{{Stream: head.Stream, Seq: head.Seq, Hash: head.Hash}}, head.At.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cp.MarshalIndent()
	read, err := ParseCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := VerifyCheckpoints([]Checkpoint{read}, pub)
	if err != nil {
		t.Fatal(err)
	}
	return &idx
}

func TestVerifyPackV2(t *testing.T) {
	good := goodPackRecord(t)
	rep, err := VerifyPack(bytes.NewReader(packOf(t, good)))
	if err != nil || !rep.OK || rep.Sealed != 1 || rep.Signatures != 1 || rep.Events != 7 {
		t.Fatalf("good pack: %+v %v (%+v)", rep, err, rep.Break)
	}
	idx := signedIndex(t, good.Timeline[len(good.Timeline)-1])
	if rep, err := VerifyPackWith(bytes.NewReader(packOf(t, good)), PackOptions{Checkpoints: idx}); err != nil || !rep.OK {
		t.Fatalf("good pack with its checkpoint: %+v %v (%+v)", rep, err, rep.Break)
	}

	edit := func(rec json.RawMessage, f func(m map[string]any)) json.RawMessage {
		var m map[string]any
		_ = json.Unmarshal(rec, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	headOf := func(pr *PackRecord) {
		l := pr.Timeline[len(pr.Timeline)-1]
		pr.Head = &PackHead{Seq: l.Seq, Hash: l.Hash}
	}
	cases := []struct {
		name       string
		tamper     func(pr *PackRecord)
		reason     string // "" when the pack alone cannot tell
		checkpoint string // what the checkpoint then says
	}{
		{"the issue's trim: seal deleted, title and risk edited", func(pr *PackRecord) {
			pr.Timeline = pr.Timeline[:len(pr.Timeline)-1]
			headOf(pr)
			pr.Record = edit(pr.Record, func(m map[string]any) { m["title"] = "Cosmetic"; m["risk"] = map[string]any{"level": "low"} })
		}, "not with a seal", ""},
		{"cut before closure and shown as open with its record", func(pr *PackRecord) {
			pr.Timeline = pr.Timeline[:4]
			headOf(pr)
			pr.State = "effectiveness_check"
			pr.Record = edit(pr.Record, func(m map[string]any) { m["state"] = "effectiveness_check" })
		}, "sealed by nothing yet", ""},
		{"cut before closure, shown as open without a record", func(pr *PackRecord) {
			pr.Timeline = pr.Timeline[:4]
			headOf(pr)
			pr.State, pr.Record, pr.RecordHash, pr.Signatures, pr.SignedVersions = "effectiveness_check", nil, "", nil, nil
		}, "", "chain shorter than checkpoint 1"},
		{"tail rewritten with recomputed hashes", func(pr *PackRecord) {
			pr.Timeline[2].Reason = "risk accepted by management"
			pr.Timeline = rechain(pr.Timeline)
			headOf(pr)
		}, "", "event 7 differs from checkpoint 1"},
		{"summary state changed", func(pr *PackRecord) { pr.State = "cancelled" }, "is not the timeline's last state change", ""},
		{"record title changed", func(pr *PackRecord) {
			pr.Record = edit(pr.Record, func(m map[string]any) { m["title"] = "Cosmetic" })
		}, "the record hashes to", ""},
		{"record_sha256 changed", func(pr *PackRecord) { pr.RecordHash = strings.Repeat("0", 64) }, "is not the sealed", ""},
		{"signature meaning changed", func(pr *PackRecord) { pr.Signatures[0].Meaning = "reviewed" }, "signatures listed differ", ""},
		{"signed version dropped", func(pr *PackRecord) { pr.SignedVersions = nil }, "signed versions listed differ", ""},
		{"kind changed", func(pr *PackRecord) { pr.Kind = KindKaizen }, "does not match the ID", ""},
		{"head changed", func(pr *PackRecord) { pr.Head.Seq = 6 }, "not the timeline's last event", ""},
		{"read-model version shown", func(pr *PackRecord) { pr.Version = 99 }, "bound to nothing", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pr := goodPackRecord(t)
			c.tamper(&pr)
			b := packOf(t, pr)
			rep, err := VerifyPack(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case c.reason != "" && (rep.OK || !strings.Contains(rep.Break.Reason, c.reason)):
				t.Errorf("got %+v (%+v), want a break because %q", rep, rep.Break, c.reason)
			case c.reason == "" && c.checkpoint != "" && !rep.OK:
				t.Errorf("a self-consistent pack failed: %+v", rep.Break)
			}
			if c.checkpoint == "" {
				return
			}
			rep, err = VerifyPackWith(bytes.NewReader(b), PackOptions{Checkpoints: idx})
			if err != nil || rep.OK || !strings.Contains(rep.Break.Reason, c.checkpoint) || !strings.Contains(rep.Break.Reason, "stream capa-1: ") {
				t.Errorf("with the checkpoint: %+v %v (%+v), want %q", rep, err, rep.Break, c.checkpoint)
			} else {
				t.Logf("named: %s", rep.Break.Reason)
			}
		})
	}
}

// A v2 pack shows nothing unchecked: members the format does not define are
// refused.
func TestVerifyPackV2RefusesUnknownMembers(t *testing.T) {
	b := packOf(t, goodPackRecord(t))
	for _, at := range []string{`"id": "capa-1",`, `"meaning": "approved for closure",`, `"seq": 7,`} {
		bad := bytes.Replace(b, []byte(at), []byte(at+` "note": "approved by the QA director",`), 1)
		if bytes.Equal(bad, b) {
			t.Fatalf("%s not in the pack", at)
		}
		// Inside the sealed record the seal catches it; elsewhere the
		// format does.
		if rep, err := VerifyPack(bytes.NewReader(bad)); err == nil && rep.OK {
			t.Errorf("a member added after %s was accepted", at)
		}
	}
}

func TestNewPackRecordOpen(t *testing.T) {
	rec, tl := closedCAPA(t)
	pr, err := NewPackRecord(KindCAPA, "capa-1", "effectiveness_check", rec, tl[:4])
	if err != nil {
		t.Fatal(err)
	}
	if pr.Record != nil || pr.Signatures != nil || pr.Head.Seq != 4 {
		t.Fatalf("open record entry %+v", pr)
	}
	if rep, err := VerifyPack(bytes.NewReader(packOf(t, pr))); err != nil || !rep.OK || rep.Sealed != 0 {
		t.Fatalf("open record pack: %+v %v (%+v)", rep, err, rep.Break)
	}
}

func TestVerifyCheckpoints(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	chain := signedChain(t, at, key, key, key)
	idx, err := VerifyCheckpoints(chain, pub)
	if err != nil || idx.Count != 3 || len(idx.Marks["capa-1"]) != 3 || idx.Marks["capa-1"][2].Seq != 3 || idx.Marks["capa-1"][2].Number != 3 {
		t.Fatalf("index %+v %v", idx, err)
	}
	forged, _ := NewCheckpoint(otherKey, &chain[1], chain[2].Heads, at)
	altered := chain[1]
	altered.Heads = []CheckpointHead{{Stream: "capa-1", Seq: 1, Hash: "b"}}
	b, _ := altered.MarshalIndent()
	altered, _ = ParseCheckpoint(b)
	reordered, _ := NewCheckpoint(key, &chain[0], chain[2].Heads, at) // a second number 2
	for name, c := range map[string]struct {
		cps  []Checkpoint
		pub  ed25519.PublicKey
		want string
	}{
		"missing":        {[]Checkpoint{chain[0], chain[2]}, pub, "checkpoint 2 is missing"},
		"altered":        {[]Checkpoint{chain[0], altered, chain[2]}, pub, "signature does not verify"},
		"other key":      {[]Checkpoint{chain[0], chain[1], forged}, pub, "signed by key"},
		"wrong key":      {chain, otherPub, "signed by key"},
		"replaced":       {[]Checkpoint{chain[0], reordered, chain[2]}, pub, "does not follow checkpoint 2"},
		"twice":          {[]Checkpoint{chain[0], chain[1], chain[1]}, pub, "appears twice"},
		"no key at all":  {chain, nil, "no valid Ed25519 public key"},
		"does not start": {chain[1:], pub, "checkpoint 1 is missing"},
	} {
		if _, err := VerifyCheckpoints(c.cps, c.pub); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// A rotated key: the worker signs with a new key from checkpoint 3 on, the
// digests chain across the change, and a verifier trusting both keys
// accepts the whole run; trusting either alone names the first checkpoint
// the other signed.
func TestVerifyCheckpointsAcrossAKeyRotation(t *testing.T) {
	oldPub, oldKey, _ := ed25519.GenerateKey(rand.Reader)
	newPub, newKey, _ := ed25519.GenerateKey(rand.Reader)
	chain := signedChain(t, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), oldKey, oldKey, newKey, newKey)
	if idx, err := VerifyCheckpoints(chain, newPub, oldPub); err != nil || idx.Count != 4 {
		t.Fatalf("both keys trusted: %+v %v", idx, err)
	}
	if _, err := VerifyCheckpoints(chain, oldPub); err == nil || !strings.Contains(err.Error(), "checkpoint 3 was signed by key "+KeyID(newPub)) {
		t.Errorf("only the old key trusted: %v", err)
	}
	if _, err := VerifyCheckpoints(chain, newPub); err == nil || !strings.Contains(err.Error(), "checkpoint 1 was signed by key "+KeyID(oldPub)) {
		t.Errorf("only the new key trusted: %v", err)
	}
}

// signedChain signs one checkpoint with each key in turn, each following
// the one before, five minutes apart from at, and reads each back as a
// verifier would.
func signedChain(t *testing.T, at time.Time, keys ...ed25519.PrivateKey) []Checkpoint {
	t.Helper()
	var chain []Checkpoint
	for i, key := range keys {
		var prev *Checkpoint
		if i > 0 {
			prev = &chain[i-1]
		}
		cp, err := NewCheckpoint(key, prev, []CheckpointHead{{Stream: "capa-1", Seq: int64(i + 1), Hash: strings.Repeat("a", 64)}}, at.Add(time.Duration(i)*5*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := cp.MarshalIndent()
		if cp, err = ParseCheckpoint(b); err != nil {
			t.Fatal(err)
		}
		chain = append(chain, cp)
	}
	return chain
}
