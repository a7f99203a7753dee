package opsflow

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// buildPack makes a small valid v1 pack: a chain of three events with a
// signature and a seal, as the CAPA workflow records them.
func buildPack(t *testing.T) []byte {
	t.Helper()
	signed := []byte(`{"id":"capa-1","state":"effectiveness_check","title":"t"}`)
	sh, _ := RecordHash(signed)
	at := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	sig := Signature{SignerID: "bob", PrintedName: "Bob Chen", SignedAt: at, Meaning: "approved for closure", RecordHash: sh, Method: "token re-entry"}
	rec, _ := json.Marshal(map[string]any{"id": "capa-1", "state": "closed", "signatures": []Signature{sig}})
	fh, _ := RecordHash(rec)
	var events []AuditEvent
	prev := ""
	for i, a := range []struct{ action, nw string }{{"capa.reported", "reported"}, {ActionSigned, sh}, {ActionSealed, fh}} {
		e := AuditEvent{ID: EventID("capa-1", int64(i+1)), Stream: "capa-1", Seq: int64(i + 1), At: at, ActorID: "bob", Action: a.action, New: a.nw, PrevHash: prev}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		events = append(events, e)
	}
	pack := InspectionPack{Format: PackFormatV1, GeneratedAt: at, GeneratedBy: "carol", Records: []PackRecord{{
		ID: "capa-1", Kind: KindCAPA, State: "closed", Version: 9, Record: rec, Timeline: events,
		Signatures: []Signature{sig}, SignedVersions: []SignedVersion{{RecordHash: sh, Record: signed}},
	}}}
	b, err := json.MarshalIndent(pack, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Packs written before v2 keep verifying by their own rules.
func TestVerifyPackV1(t *testing.T) {
	good := buildPack(t)
	rep, err := VerifyPack(bytes.NewReader(good))
	if err != nil || !rep.OK || rep.Events != 3 || rep.Signatures != 1 || rep.Records != 1 {
		t.Fatalf("good pack: %+v, %v", rep, err)
	}
	cases := []struct{ name, old, new, reason string }{
		{"event changed", `"reported"`, `"reporteD"`, "hash does not match"},
		{"signed record changed", `"title": "t"`, `"title": "u"`, "signed record version hashes"},
		{"final record changed", `"id": "capa-1",
        "signatures"`, `"id": "capa-2",
        "signatures"`, "record hashes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := []byte(strings.Replace(string(good), c.old, c.new, 1))
			if bytes.Equal(bad, good) {
				t.Fatalf("pattern %q not found", c.old)
			}
			rep, err := VerifyPack(bytes.NewReader(bad))
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.Break == nil || !strings.Contains(rep.Break.Reason, c.reason) {
				t.Errorf("tampered pack: %+v (break %+v)", rep, rep.Break)
			}
		})
	}
	if _, err := VerifyPack(strings.NewReader(`{"format":"other"}`)); err == nil {
		t.Error("a pack of another format verified")
	}
}
