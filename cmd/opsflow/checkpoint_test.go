package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/checkpoint"
	"github.com/opsflow/opsflow/internal/testenv"
	"github.com/opsflow/opsflow/postgres"
)

// TestCheckpointsNameARewrittenTail is the finding from the
// command line: a superuser rewrites the tail of a chain with recomputed
// hashes and head; the chains alone still verify, the published
// checkpoints name the rewritten event.
func TestCheckpointsNameARewrittenTail(t *testing.T) {
	ctx := context.Background()
	urls, err := testenv.NewDatabaseWithRoles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, published := filepath.Join(dir, "checkpoint.key"), filepath.Join(dir, "published")
	out, err := opsflowCmd(t, "checkpoint", "keygen", "--out", key)
	if err != nil || !strings.Contains(out, "BEGIN PUBLIC KEY") {
		t.Fatalf("keygen: %v %q", err, out)
	}
	if _, err := opsflowCmd(t, "migrate", "--migrate-database-url", urls.Owner, "--database-url", urls.App); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"uma", "vic"} {
		if _, err := opsflowCmd(t, "token", "create", "--database-url", urls.App, "--user", u, "--roles", "owner"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := opsflowCmd(t, "user", "roles", "--database-url", urls.App, "--user", "uma", "--set", "owner,approver", "--reason", "review board"); err != nil {
		t.Fatal(err)
	}
	out, err = opsflowCmd(t, "checkpoint", "create", "--database-url", urls.App, "--checkpoint-key", key, "--checkpoint-dir", published)
	if err != nil || !strings.Contains(out, "checkpoint 1 signed") {
		t.Fatalf("checkpoint create: %v %q", err, out)
	}
	if _, err := os.Stat(filepath.Join(published, checkpoint.FileName(1))); err != nil {
		t.Fatal(err)
	}
	verify := []string{"audit", "verify", "--database-url", urls.App, "--checkpoints", published, "--public-key", key + ".pub"}
	if out, err := opsflowCmd(t, verify...); err != nil || !strings.Contains(out, "audit trail verifies") || !strings.Contains(out, "match 1 checkpoints") {
		t.Fatalf("intact trail: %v %q", err, out)
	}

	// The superuser rewrites uma's role change: the roles she was given,
	// every hash after it and the head.
	super, err := sql.Open("postgres", urls.Superuser)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close()
	db, err := postgres.Open(ctx, urls.App)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	evs, err := db.AuditEvents(ctx, "user/uma")
	if err != nil {
		t.Fatal(err)
	}
	last := &evs[len(evs)-1]
	last.New = "owner,approver,admin"
	last.Hash = last.ComputeHash()
	tx, err := super.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`SET LOCAL session_replication_role = replica`, nil},
		{`UPDATE audit_events SET new_value = $2, hash = $3 WHERE id = $1`, []any{last.ID, last.New, last.Hash}},
		{`UPDATE audit_heads SET hash = $2 WHERE stream = $1`, []any{last.Stream, last.Hash}},
	} {
		if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if out, err := opsflowCmd(t, "audit", "verify", "--database-url", urls.App); err != nil {
		t.Fatalf("without checkpoints the rewrite passes (the finding): %v %q", err, out)
	}
	_, err = opsflowCmd(t, verify...)
	want := "stream user/uma: event " + itoa(last.Seq) + " differs from checkpoint 1 signed at "
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("with checkpoints: %v, want %q", err, want)
	}
	t.Logf("named: %v", err)

	// Checkpoints that do not verify are no evidence.
	if _, err := opsflowCmd(t, "audit", "verify", "--database-url", urls.App, "--checkpoints", published); err == nil || !strings.Contains(err.Error(), "--public-key") {
		t.Fatalf("checkpoints without a key: %v", err)
	}
	otherKey := filepath.Join(dir, "other.key")
	if _, err := checkpoint.GenerateKey(otherKey); err != nil {
		t.Fatal(err)
	}
	if _, err := opsflowCmd(t, "audit", "verify", "--database-url", urls.App, "--checkpoints", published, "--public-key", otherKey+".pub"); err == nil || !strings.Contains(err.Error(), "signed by key") {
		t.Fatalf("checkpoints with another key: %v", err)
	}
	list, err := opsflowCmd(t, "checkpoint", "list", "--database-url", urls.App)
	if err != nil || !strings.Contains(list, opsflow.KeyID(mustPub(t, key))) {
		t.Fatalf("list: %v %q", err, list)
	}
}

func mustPub(t *testing.T, key string) []byte {
	t.Helper()
	pubs, err := checkpoint.ReadPublicKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	return pubs[0]
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestCheckpointKeyRotation: the worker's signing key is replaced; the
// checkpoints chain on across the change, and an auditor who trusts the
// new public key and the retired one (one file, both PEM blocks) verifies
// the whole run, while the new key alone names the first checkpoint the
// old one signed.
func TestCheckpointKeyRotation(t *testing.T) {
	ctx := context.Background()
	urls, err := testenv.NewDatabaseWithRoles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	published := filepath.Join(dir, "published")
	if _, err := opsflowCmd(t, "migrate", "--migrate-database-url", urls.Owner, "--database-url", urls.App); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"old.key", "new.key"} {
		key := filepath.Join(dir, name)
		if _, err := opsflowCmd(t, "checkpoint", "keygen", "--out", key); err != nil {
			t.Fatal(err)
		}
		if _, err := opsflowCmd(t, "token", "create", "--database-url", urls.App, "--user", "rot-"+strconv.Itoa(i), "--roles", "owner"); err != nil {
			t.Fatal(err)
		}
		out, err := opsflowCmd(t, "checkpoint", "create", "--database-url", urls.App, "--checkpoint-key", key, "--checkpoint-dir", published)
		if want := "checkpoint " + strconv.Itoa(i+1) + " signed"; err != nil || !strings.Contains(out, want) {
			t.Fatalf("checkpoint with %s: %v %q, want %q", name, err, out, want)
		}
	}
	oldPub, _ := os.ReadFile(filepath.Join(dir, "old.key.pub"))
	newPub, _ := os.ReadFile(filepath.Join(dir, "new.key.pub"))
	trusted := filepath.Join(dir, "trusted.pub")
	if err := os.WriteFile(trusted, append(newPub, oldPub...), 0o644); err != nil {
		t.Fatal(err)
	}
	verify := func(pub string) (string, error) {
		return opsflowCmd(t, "audit", "verify", "--database-url", urls.App, "--checkpoints", published, "--public-key", pub)
	}
	if out, err := verify(trusted); err != nil || !strings.Contains(out, "match 2 checkpoints") {
		t.Fatalf("both keys trusted: %v %q", err, out)
	}
	if _, err := verify(filepath.Join(dir, "new.key.pub")); err == nil || !strings.Contains(err.Error(), "checkpoint 1 was signed by key") {
		t.Fatalf("only the new key trusted: %v", err)
	}
}
