package opsflow

import (
	"testing"
	"time"
)

func chain(n int) []AuditEvent {
	var out []AuditEvent
	prev := ""
	for i := 1; i <= n; i++ {
		e := AuditEvent{ID: EventID("s", int64(i)), Stream: "s", Seq: int64(i), At: time.Date(2026, 11, 1, 9, 0, i, 123456789, time.UTC),
			ActorID: "alice", ActorName: "Alice", ActorRole: "owner", Action: "x.changed", Field: "f", Old: "a", New: "b", PrevHash: prev}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

func TestVerifyChainNamesTheFirstBrokenLink(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func([]AuditEvent) []AuditEvent
		wantSeq int64
	}{
		{"intact", func(e []AuditEvent) []AuditEvent { return e }, 0},
		{"changed value", func(e []AuditEvent) []AuditEvent { e[2].New = "c"; return e }, 3},
		{"changed actor", func(e []AuditEvent) []AuditEvent { e[1].ActorID = "mallory"; return e }, 2},
		{"rehashed but unlinked", func(e []AuditEvent) []AuditEvent { e[2].Reason = "x"; e[2].Hash = e[2].ComputeHash(); return e }, 4},
		{"deleted event", func(e []AuditEvent) []AuditEvent { return append(e[:1], e[2:]...) }, 3},
		{"reordered", func(e []AuditEvent) []AuditEvent { e[1], e[2] = e[2], e[1]; return e }, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			brk := VerifyChain(c.tamper(chain(5)))
			switch {
			case c.wantSeq == 0 && brk != nil:
				t.Fatalf("intact chain broken: %+v", brk)
			case c.wantSeq != 0 && (brk == nil || brk.Seq != c.wantSeq):
				t.Fatalf("break %+v, want at seq %d", brk, c.wantSeq)
			}
		})
	}
}

// The hash covers the time at PostgreSQL's precision, so an event read back
// from the database verifies against the hash computed before the insert.
func TestHashIgnoresSubMicrosecondTime(t *testing.T) {
	e := chain(1)[0]
	back := e
	back.At = AuditTime(e.At)
	if back.ComputeHash() != e.Hash {
		t.Fatal("hash changed when time was truncated to microseconds")
	}
	back.At = back.At.Add(time.Microsecond)
	if back.ComputeHash() == e.Hash {
		t.Fatal("a microsecond difference was not covered by the hash")
	}
}
