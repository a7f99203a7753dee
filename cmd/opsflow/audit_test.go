package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

// writePack writes a two-event inspection pack, chained as the store chains
// events, and returns its path.
func writePack(t *testing.T) string {
	t.Helper()
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var events []opsflow.AuditEvent
	prev := ""
	for i, action := range []string{"capa.reported", "capa.cancelled"} {
		e := opsflow.AuditEvent{ID: opsflow.EventID("capa-1", int64(i+1)), Stream: "capa-1", Seq: int64(i + 1), At: at.Add(time.Duration(i) * time.Hour),
			ActorID: "alice", ActorName: "Alice Martin", ActorRole: "owner", Action: action, PrevHash: prev}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		events = append(events, e)
	}
	pack := opsflow.InspectionPack{Format: "opsflow.inspection-pack/v1", GeneratedAt: at, Records: []opsflow.PackRecord{
		{ID: "capa-1", Kind: opsflow.KindCAPA, State: "cancelled", Version: 2, Record: json.RawMessage(`{"id":"capa-1"}`), Timeline: events},
	}}
	b, err := json.Marshal(pack)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pack.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAuditVerifyPack(t *testing.T) {
	path := writePack(t)
	out, err := opsflowCmd(t, "audit", "verify-pack", path)
	if err != nil || !strings.Contains(out, "pack verifies") {
		t.Fatalf("intact pack: %v\n%s", err, out)
	}
	// One changed byte in an audited value must be caught and named.
	b, _ := os.ReadFile(path)
	b = bytes.Replace(b, []byte("Alice Martin"), []byte("Alice Marten"), 1)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := opsflowCmd(t, "audit", "verify-pack", path); err == nil || !strings.Contains(err.Error(), "capa-1/1") {
		t.Fatalf("tampered pack: got %v, want a break at capa-1/1", err)
	}
	if _, err := opsflowCmd(t, "audit"); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("no arguments: got %v", err)
	}
}
