package server_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/checkpoint"
	"github.com/opsflow/opsflow/server"
)

// GET /v1/audit/verify holds the chains against the checkpoints published
// outside the database: a tail rewritten by a superuser, with recomputed
// hashes and head, verifies on its own but is named against them.
func TestAuditVerifyWithCheckpoints(t *testing.T) {
	dir := t.TempDir()
	keyFile, published := filepath.Join(dir, "key"), filepath.Join(dir, "published")
	pub, err := checkpoint.GenerateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := checkpoint.ReadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	a := newAppWith(t, func(c *server.Config) {
		c.Checkpoints = &checkpoint.Verifier{Dir: published, PublicKeys: []ed25519.PublicKey{pub}, Store: shared.db}
	})
	ctx := context.Background()
	stream := fmt.Sprintf("capa-checkpointed-%d", time.Now().UnixNano())
	var evs []opsflow.AuditEvent
	for seq := int64(1); seq <= 4; seq++ {
		evs = append(evs, opsflow.AuditEvent{Stream: stream, Seq: seq, At: time.Now(), ActorID: "alice", ActorName: "Alice Martin",
			ActorRole: "owner", Action: "capa.noted", Field: "note", New: fmt.Sprint("note ", seq)})
	}
	if err := a.DB.AppendAudit(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DB.CreateCheckpoint(ctx, checkpoint.Signer(key, time.Now), true); err != nil {
		t.Fatal(err)
	}
	pending, err := a.DB.UnpublishedCheckpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pending {
		if err := checkpoint.Dir(published).Publish(ctx, p.Checkpoint, p.Body); err != nil {
			t.Fatal(err)
		}
	}
	var rep opsflow.VerifyReport
	a.Must(200, "carol", "GET", "/v1/audit/verify?stream="+stream, nil).JSON(t, &rep)
	if !rep.OK || rep.Checkpoints == nil || rep.Checkpoints.Streams != 1 || rep.Checkpoints.KeyID != opsflow.KeyID(pub) {
		t.Fatalf("intact: %+v %+v", rep, rep.Checkpoints)
	}

	// The superuser rewrites event 3 and everything after it.
	raw := rawDB(t)
	stored, err := a.DB.AuditEvents(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	stored[2].New = "a different note"
	for i := 2; i < len(stored); i++ {
		stored[i].PrevHash = stored[i-1].Hash
		stored[i].Hash = stored[i].ComputeHash()
		if _, err := tx.ExecContext(ctx, `UPDATE audit_events SET new_value = $2, prev_hash = $3, hash = $4 WHERE id = $1`,
			stored[i].ID, stored[i].New, stored[i].PrevHash, stored[i].Hash); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE audit_heads SET hash = $2 WHERE stream = $1`, stream, stored[3].Hash); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rep = opsflow.VerifyReport{}
	a.Must(200, "carol", "GET", "/v1/audit/verify?stream="+stream, nil).JSON(t, &rep)
	if rep.OK || rep.Break == nil || rep.Break.Seq != 4 || !strings.Contains(rep.Break.Reason, "stream "+stream+": event 4 differs from checkpoint") {
		t.Fatalf("rewritten: %+v %+v", rep, rep.Break)
	}
	t.Logf("named: %s", rep.Break.Reason)
}
