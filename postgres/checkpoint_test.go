package postgres

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

func testSigner(key ed25519.PrivateKey) SignFunc {
	return func(prev *opsflow.Checkpoint, heads []opsflow.CheckpointHead) (opsflow.Checkpoint, error) {
		return opsflow.NewCheckpoint(key, prev, heads, time.Now())
	}
}

// checkpointIndex reads back every logged checkpoint as a verifier would
// read the published copies, and checks their signatures.
func checkpointIndex(t *testing.T, pub ed25519.PublicKey) opsflow.CheckpointIndex {
	t.Helper()
	stored, err := testDB.StoredCheckpoints(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	idx, err := opsflow.VerifyCheckpoints(checkpointsOf(t, stored), pub)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// rewriteTail does what the issue found the application (then a
// superuser) could do, and what the database's owner or a superuser still
// can: change events from seq `from` on, recompute every hash after them
// and the head, with the triggers switched off. The chain then holds
// together, and only a checkpoint can tell.
func rewriteTail(t *testing.T, stream string, from int64, keep int64) {
	t.Helper()
	ctx := t.Context()
	evs, err := superDB.AuditEvents(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	evs = evs[:keep]
	tx, err := superDB.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`SET LOCAL session_replication_role = replica`) // triggers off: a superuser's privilege
	exec(`DELETE FROM audit_events WHERE stream = $1 AND seq > $2`, stream, keep)
	for i := range evs {
		if evs[i].Seq >= from {
			evs[i].Reason = "rewritten: " + evs[i].Reason
		}
		if i > 0 {
			evs[i].PrevHash = evs[i-1].Hash
		}
		evs[i].Hash = evs[i].ComputeHash()
		exec(`UPDATE audit_events SET reason = $3, prev_hash = $4, hash = $5 WHERE stream = $1 AND seq = $2`,
			stream, evs[i].Seq, evs[i].Reason, evs[i].PrevHash, evs[i].Hash)
	}
	last := evs[len(evs)-1]
	exec(`UPDATE audit_heads SET seq = $2, hash = $3 WHERE stream = $1`, stream, last.Seq, last.Hash)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckpointsNameARewrittenTail(t *testing.T) {
	ctx := t.Context()
	pub, sign := testPub, testSigner(testKey)
	s, other := uniqueStream(t), uniqueStream(t)+"-other"
	if err := testDB.AppendAudit(ctx, append(events(s, 1, 5), events(other, 1, 2)...)); err != nil {
		t.Fatal(err)
	}
	res, err := testDB.CreateCheckpoint(ctx, sign, false)
	first := res.Checkpoint
	if err != nil || first == nil {
		t.Fatalf("first checkpoint: %+v %v", res, err)
	}
	// Nothing moved: no checkpoint. One stream moved: a checkpoint of it alone.
	if res, err := testDB.CreateCheckpoint(ctx, sign, false); err != nil || res.Checkpoint != nil {
		t.Fatalf("checkpoint with nothing moved: %+v %v", res, err)
	}
	if err := testDB.AppendAudit(ctx, events(s, 6, 1)); err != nil {
		t.Fatal(err)
	}
	res, err = testDB.CreateCheckpoint(ctx, sign, false)
	second := res.Checkpoint
	if err != nil || second == nil || second.Number != first.Number+1 || second.Prev != first.Digest() ||
		len(second.Heads) != 1 || second.Heads[0].Stream != s || second.Heads[0].Seq != 6 {
		t.Fatalf("second checkpoint: %+v %v", res, err)
	}
	idx := checkpointIndex(t, pub)
	if brk, n, err := testDB.CompareCheckpoints(ctx, idx, ""); err != nil || brk != nil || n < 2 {
		t.Fatalf("intact chains against the checkpoints: %+v %d %v", brk, n, err)
	}

	rewriteTail(t, s, 4, 6)
	if rep, err := testDB.VerifyAudit(ctx, s); err != nil || !rep.OK {
		t.Fatalf("the rewritten chain should hold together (that is the attack): %+v %v", rep, err)
	}
	for _, stream := range []string{s, ""} {
		brk, _, err := testDB.CompareCheckpoints(ctx, idx, stream)
		if err != nil {
			t.Fatal(err)
		}
		// The earliest signed head the rewrite touched: seq 5, in the first
		// checkpoint (and seq 6 differs from the second too).
		want := "stream " + s + ": event 5 differs from checkpoint " + itoa(first.Number) + " signed at "
		if brk == nil || brk.Stream != s || brk.Seq != 5 || !strings.HasPrefix(brk.Reason, want) {
			t.Fatalf("stream %q: break %+v, want %q", stream, brk, want)
		}
		t.Logf("named: %s", brk.Reason)
	}
	// The other stream is untouched and still matches.
	if brk, _, err := testDB.CompareCheckpoints(ctx, idx, other); err != nil || brk != nil {
		t.Fatalf("untouched stream: %+v %v", brk, err)
	}

	// The worker does not sign the rewritten head: it says so instead.
	res, err = testDB.CreateCheckpoint(ctx, sign, true)
	if err != nil || len(res.Rewritten) != 1 || res.Rewritten[0].Stream != s || !strings.Contains(res.Rewritten[0].Reason, "event 6 differs from checkpoint "+itoa(second.Number)) {
		t.Fatalf("checkpoint after the rewrite: %+v %v", res, err)
	}
	for _, h := range res.Checkpoint.Heads {
		if h.Stream == s {
			t.Fatalf("the rewritten head was signed: %+v", h)
		}
	}
	// A superuser who also rewrites the worker's log of what it signed
	// gets the forged head signed; the earlier, published checkpoint still
	// names the rewrite.
	last, err := superDB.AuditEvents(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := superDB.db.ExecContext(ctx, `UPDATE audit_checkpointed SET hash = $2 WHERE stream = $1`, s, last[len(last)-1].Hash); err != nil {
		t.Fatal(err)
	}
	if err := testDB.AppendAudit(ctx, events(s, 7, 1)); err != nil {
		t.Fatal(err)
	}
	if res, err = testDB.CreateCheckpoint(ctx, sign, false); err != nil || len(res.Rewritten) != 0 || res.Checkpoint == nil {
		t.Fatalf("checkpoint with the log rewritten too: %+v %v", res, err)
	}
	idx = checkpointIndex(t, pub)
	if m, _ := idx.Latest(s); m.Seq != 7 {
		t.Fatalf("the forged chain's head was not signed: %+v", m)
	}
	brk, _, err := testDB.CompareCheckpoints(ctx, idx, s)
	if err != nil || brk == nil || !strings.Contains(brk.Reason, "event 5 differs from checkpoint "+itoa(first.Number)) {
		t.Fatalf("with the forged head signed later: %+v %v", brk, err)
	}

	// Cut the tail instead: the chain is shorter than signed.
	rewriteTail(t, s, 99, 4)
	if rep, err := testDB.VerifyAudit(ctx, s); err != nil || !rep.OK {
		t.Fatalf("the cut chain should hold together: %+v %v", rep, err)
	}
	brk, _, err = testDB.CompareCheckpoints(ctx, idx, s)
	if err != nil || brk == nil || !strings.Contains(brk.Reason, "chain shorter than checkpoint "+itoa(first.Number)) {
		t.Fatalf("cut chain: %+v %v", brk, err)
	}
	t.Logf("named: %s", brk.Reason)
}

// Workers checkpoint concurrently without numbering a checkpoint twice.
func TestCheckpointsConcurrent(t *testing.T) {
	ctx := t.Context()
	errs := make(chan error, 4)
	for i := range cap(errs) {
		go func() {
			if err := testDB.AppendAudit(context.WithoutCancel(ctx), events(uniqueStream(t)+itoa(int64(i)), 1, 1)); err != nil {
				errs <- err
				return
			}
			_, err := testDB.CreateCheckpoint(ctx, testSigner(testKey), true)
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	stored, err := testDB.StoredCheckpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var numbers []int64
	for _, s := range stored {
		numbers = append(numbers, s.Checkpoint.Number)
	}
	for i, n := range numbers {
		if n != int64(i+1) {
			t.Fatalf("checkpoint numbers %v", numbers)
		}
	}
	if _, err := opsflow.VerifyCheckpoints(checkpointsOf(t, stored), testPub); err != nil {
		t.Fatalf("the checkpoints do not form one chain: %v", err)
	}
}

func checkpointsOf(t *testing.T, stored []StoredCheckpoint) []opsflow.Checkpoint {
	t.Helper()
	var cps []opsflow.Checkpoint
	for _, s := range stored {
		cp, err := opsflow.ParseCheckpoint(s.Body)
		if err != nil {
			t.Fatal(err)
		}
		cps = append(cps, cp)
	}
	return cps
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// testKey signs every checkpoint of this test binary's database, as one
// worker key would.
var testPub, testKey, _ = ed25519.GenerateKey(rand.Reader)
