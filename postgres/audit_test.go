package postgres

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

// events returns n events of stream starting at seq from, as a workflow
// would send them (no hashes; the store computes those).
func events(stream string, from, n int64) []opsflow.AuditEvent {
	base := time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.FixedZone("CET", 3600))
	var out []opsflow.AuditEvent
	for seq := from; seq < from+n; seq++ {
		out = append(out, opsflow.AuditEvent{
			ID: opsflow.EventID(stream, seq), Stream: stream, Seq: seq,
			At:      base.Add(time.Duration(seq) * time.Minute),
			ActorID: "u1", ActorName: "Ada", ActorRole: "owner",
			Action: "capa.updated", Field: "title", Old: fmt.Sprint(seq - 1), New: fmt.Sprint(seq), Reason: "because",
		})
	}
	return out
}

// uniqueStream keeps tests that share the database out of each other's way.
func uniqueStream(t testing.TB) string {
	return fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano())
}

func TestAppendAuditChainsAndRetries(t *testing.T) {
	ctx := t.Context()
	s := uniqueStream(t)
	if err := testDB.AppendAudit(ctx, events(s, 1, 3)); err != nil {
		t.Fatal(err)
	}
	// A retry of the whole batch, and one overlapping new events, are fine.
	if err := testDB.AppendAudit(ctx, events(s, 1, 3)); err != nil {
		t.Fatalf("identical retry: %v", err)
	}
	if err := testDB.AppendAudit(ctx, events(s, 2, 3)); err != nil {
		t.Fatalf("overlapping batch: %v", err)
	}
	got, err := testDB.AuditEvents(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d events, want 4", len(got))
	}
	if brk := opsflow.VerifyChain(got); brk != nil {
		t.Fatalf("stored chain does not verify: %+v", brk)
	}
	if got[0].PrevHash != "" || got[1].PrevHash != got[0].Hash {
		t.Errorf("chain links wrong: %q, %q/%q", got[0].PrevHash, got[1].PrevHash, got[0].Hash)
	}
	// Read back, an event is byte-identical to what a retry sends, hashes
	// included: resending it is a no-op too.
	if err := testDB.AppendAudit(ctx, got[:2]); err != nil {
		t.Fatalf("resend of stored events: %v", err)
	}
	rep, err := testDB.VerifyAudit(ctx, s)
	if err != nil || !rep.OK || rep.Events != 4 || rep.Streams != 1 {
		t.Fatalf("VerifyAudit = %+v, %v", rep, err)
	}
}

func TestAppendAuditRejects(t *testing.T) {
	ctx := t.Context()
	s := uniqueStream(t)
	if err := testDB.AppendAudit(ctx, events(s, 1, 2)); err != nil {
		t.Fatal(err)
	}
	changed := events(s, 2, 1)
	changed[0].New = "something else"
	otherStream := events(s+"-x", 1, 1)
	otherStream[0].ID = opsflow.EventID(s, 9)
	tests := []struct {
		name   string
		events []opsflow.AuditEvent
		code   string
		msg    string
	}{
		{"retry with different content", changed, opsflow.ECONFLICT, "different content"},
		{"gap in sequence", events(s, 4, 1), opsflow.ECONFLICT, "events 3 to 3 are missing"},
		{"seq already taken by another id", otherStream, opsflow.EINVALID, "ID must be"},
		{"no stream", []opsflow.AuditEvent{{Seq: 1, At: time.Now(), Action: "x"}}, opsflow.EINVALID, "no stream"},
		{"no time", []opsflow.AuditEvent{{Stream: s, Seq: 3, Action: "x"}}, opsflow.EINVALID, "no time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := testDB.AppendAudit(ctx, tt.events)
			if opsflow.ErrorCode(err) != tt.code || !strings.Contains(fmt.Sprint(err), tt.msg) {
				t.Fatalf("err = %v, want %s containing %q", err, tt.code, tt.msg)
			}
		})
	}
	// Nothing of the failed batches was written.
	got, _ := testDB.AuditEvents(ctx, s)
	if len(got) != 2 || got[1].New != "2" {
		t.Fatalf("stream changed by rejected appends: %+v", got)
	}
}

// The trail is append-only twice over: PostgreSQL refuses the application
// role any change (it has no such privilege), and the trigger refuses even
// the owner, who has every privilege on its tables.
func TestAuditEventsAreAppendOnly(t *testing.T) {
	ctx := t.Context()
	s := uniqueStream(t)
	if err := testDB.AppendAudit(ctx, events(s, 1, 1)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		who  string
		db   *DB
		want string
	}{
		{"application", testDB, "permission denied"},
		{"owner", ownerDB, "append-only"},
	} {
		for _, stmt := range []string{
			`UPDATE audit_events SET reason = 'edited' WHERE stream = $1`,
			`DELETE FROM audit_events WHERE stream = $1`,
			`TRUNCATE audit_events`,
		} {
			var err error
			if strings.Contains(stmt, "$1") {
				_, err = c.db.db.ExecContext(ctx, stmt, s)
			} else {
				_, err = c.db.db.ExecContext(ctx, stmt)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %s: err = %v, want %q", c.who, stmt, err, c.want)
			}
		}
	}
}

// tamper changes a stored event behind the trigger's back, as a superuser
// could, and restores the trigger.
func tamper(t *testing.T, stmt string, args ...any) {
	t.Helper()
	ctx := t.Context()
	tx, err := superDB.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, q := range []string{"ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only", stmt, "ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"} {
		a := args
		if q != stmt {
			a = nil
		}
		if _, err := tx.ExecContext(ctx, q, a...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyAuditFindsTampering(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name    string
		stmt    string // $1 is the stream
		seq     int64  // the event the break must name
		because string
	}{
		{"value changed", `UPDATE audit_events SET new_value = 'forged' WHERE stream = $1 AND seq = 3`, 3, "hash does not match"},
		{"hash recomputed by the forger", `UPDATE audit_events SET reason = 'x', hash = 'f00' WHERE stream = $1 AND seq = 2`, 2, "hash does not match"},
		{"event removed from the middle", `DELETE FROM audit_events WHERE stream = $1 AND seq = 2`, 3, "sequence gap"},
		{"event removed from the end", `DELETE FROM audit_events WHERE stream = $1 AND seq = 5`, 4, "head is seq 5"},
		{"whole chain removed", `DELETE FROM audit_events WHERE stream = $1`, 1, "has no events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := uniqueStream(t)
			if err := testDB.AppendAudit(ctx, events(s, 1, 5)); err != nil {
				t.Fatal(err)
			}
			tamper(t, tt.stmt, s)
			for _, stream := range []string{s, ""} {
				// Small batches make the all-streams walk cross batch edges.
				rep, err := testDB.verifyAudit(ctx, stream, 2)
				if err != nil {
					t.Fatal(err)
				}
				if rep.OK || rep.Break == nil {
					t.Fatalf("stream %q: tampering not found: %+v", stream, rep)
				}
				// Other tests' streams are intact, so the first break is ours.
				b := rep.Break
				if b.Stream != s || b.Seq != tt.seq || b.EventID != opsflow.EventID(s, tt.seq) || !strings.Contains(b.Reason, tt.because) {
					t.Errorf("stream %q: break = %+v, want seq %d because %q", stream, b, tt.seq, tt.because)
				}
			}
			// Repair for the tests that follow: remove the broken stream.
			tamper(t, `DELETE FROM audit_events WHERE stream = $1`, s)
			if _, err := superDB.db.ExecContext(ctx, `DELETE FROM audit_heads WHERE stream = $1`, s); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVerifyAuditAllStreamsInBatches(t *testing.T) {
	ctx := t.Context()
	for i := range 3 {
		if err := testDB.AppendAudit(ctx, events(fmt.Sprintf("%s-%d", uniqueStream(t), i), 1, 4)); err != nil {
			t.Fatal(err)
		}
	}
	var total int
	if err := testDB.db.GetContext(ctx, &total, `SELECT count(*) FROM audit_events`); err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{1, 3, 1000} {
		rep, err := testDB.verifyAudit(ctx, "", batch)
		if err != nil || !rep.OK || rep.Events != total || rep.Streams < 3 {
			t.Fatalf("batch %d: %+v, %v (want %d events)", batch, rep, err, total)
		}
	}
}

// The incremental verifier must judge chains exactly as VerifyChain does.
func TestChainVerifierMatchesVerifyChain(t *testing.T) {
	chain := func() []opsflow.AuditEvent {
		evs := events("s", 1, 4)
		prev := ""
		for i := range evs {
			evs[i].At = opsflow.AuditTime(evs[i].At)
			evs[i].PrevHash = prev
			evs[i].Hash = evs[i].ComputeHash()
			prev = evs[i].Hash
		}
		return evs
	}
	cases := map[string]func([]opsflow.AuditEvent) []opsflow.AuditEvent{
		"intact":      func(e []opsflow.AuditEvent) []opsflow.AuditEvent { return e },
		"gap":         func(e []opsflow.AuditEvent) []opsflow.AuditEvent { return append(e[:1], e[2:]...) },
		"starts at 2": func(e []opsflow.AuditEvent) []opsflow.AuditEvent { return e[1:] },
		"prev hash":   func(e []opsflow.AuditEvent) []opsflow.AuditEvent { e[2].PrevHash = "x"; return e },
		"content":     func(e []opsflow.AuditEvent) []opsflow.AuditEvent { e[3].Old = "x"; return e },
		"hash":        func(e []opsflow.AuditEvent) []opsflow.AuditEvent { e[0].Hash = "x"; return e },
	}
	for name, mutate := range cases {
		evs := mutate(chain())
		want := opsflow.VerifyChain(evs)
		var got *opsflow.ChainBreak
		var c chainVerifier
		for _, e := range evs {
			if got = c.next(e); got != nil {
				break
			}
		}
		if (got == nil) != (want == nil) || (got != nil && *got != *want) {
			t.Errorf("%s: incremental %+v, VerifyChain %+v", name, got, want)
		}
	}
}

// An activity retry may run while the first attempt is still committing;
// the head lock makes the two queue, and the second finds the events stored.
func TestAppendAuditConcurrentRetries(t *testing.T) {
	ctx := t.Context()
	s := uniqueStream(t)
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() { errs <- testDB.AppendAudit(ctx, events(s, 1, 5)) }()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if rep, err := testDB.VerifyAudit(ctx, s); err != nil || !rep.OK || rep.Events != 5 {
		t.Fatalf("VerifyAudit = %+v, %v", rep, err)
	}
}
