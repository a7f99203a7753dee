package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/testenv"
	"github.com/opsflow/opsflow/postgres"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func opsflowCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, &out)
	return out.String(), err
}

func TestUnknownCommand(t *testing.T) {
	if _, err := opsflowCmd(t, "frobnicate"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("got %v, want unknown command", err)
	}
	if _, err := opsflowCmd(t); err == nil {
		t.Fatal("no command: want an error")
	}
}

func TestMigrateAndTokens(t *testing.T) {
	url := testenv.DatabaseURL()
	out, err := opsflowCmd(t, "migrate", "--migrate-database-url", testenv.MigrateURL(), "--database-url", url)
	if err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate: %v %q", err, out)
	}
	if _, err := opsflowCmd(t, "token", "create", "--database-url", url, "--user", "zoe", "--roles", "owner,wizard"); err == nil || !strings.Contains(err.Error(), "wizard") {
		t.Fatalf("unknown role: got %v", err)
	}
	if _, err := opsflowCmd(t, "token", "create", "--database-url", url, "--roles", "owner"); err == nil {
		t.Fatal("token without --user: want an error")
	}
	tok, err := opsflowCmd(t, "token", "create", "--database-url", url, "--user", "zoe", "--name", "Zoe Park", "--roles", "owner,approver", "--label", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	tok = strings.TrimSpace(tok)
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.Authenticate(context.Background(), tok)
	if err != nil || u.ID != "zoe" || u.Name != "Zoe Park" || len(u.Roles) != 2 {
		t.Fatalf("authenticate the new token: %+v %v", u, err)
	}
	list, err := opsflowCmd(t, "token", "list", "--database-url", url, "--user", "zoe")
	if err != nil || !strings.Contains(list, "laptop") {
		t.Fatalf("list: %v %q", err, list)
	}
	id := strings.Fields(strings.Split(list, "\n")[1])[0]
	if _, err := opsflowCmd(t, "token", "revoke", "--database-url", url, "--id", id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(context.Background(), tok); err == nil {
		t.Fatal("a revoked token still authenticates")
	}
}

func TestDatabaseURLFromEnvironment(t *testing.T) {
	t.Setenv("MIGRATE_DATABASE_URL", testenv.MigrateURL())
	t.Setenv("DATABASE_URL", testenv.DatabaseURL())
	if out, err := opsflowCmd(t, "migrate"); err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate with MIGRATE_DATABASE_URL and DATABASE_URL: %v %q", err, out)
	}
	// One URL, as before there were two roles: it still works (with a
	// warning) once the schema is up to date.
	t.Setenv("MIGRATE_DATABASE_URL", "")
	if out, err := opsflowCmd(t, "migrate"); err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate with DATABASE_URL alone: %v %q", err, out)
	}
	t.Setenv("DATABASE_URL", "")
	if _, err := opsflowCmd(t, "migrate"); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("no database: got %v, want a message naming DATABASE_URL", err)
	}
}

// Every command answers -h with its usage (and the binary exits 0: main
// treats flag.ErrHelp as success).
func TestEveryCommandAnswersHelp(t *testing.T) {
	var args [][]string
	for _, c := range commands() {
		args = append(args, []string{c.name, "-h"})
	}
	args = append(args, []string{"token", "create", "-h"}, []string{"token", "list", "-h"}, []string{"audit", "verify-pack", "-h"}, []string{"-h"})
	for _, a := range args {
		var out bytes.Buffer
		err := run(context.Background(), a, &out)
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("opsflow %s: %v", strings.Join(a, " "), err)
		}
	}
}

// A fresh database cannot be migrated by the application's role: the
// message says which URL is missing.
func TestMigrateNeedsTheOwner(t *testing.T) {
	urls, err := testenv.NewDatabaseWithRoles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, err = opsflowCmd(t, "token", "create", "--database-url", urls.App, "--user", "zoe", "--roles", "owner")
	if err == nil || !strings.Contains(err.Error(), "MIGRATE_DATABASE_URL") {
		t.Fatalf("token create on an unmigrated database as the application: %v", err)
	}
	if out, err := opsflowCmd(t, "token", "create", "--database-url", urls.App, "--migrate-database-url", urls.Owner, "--user", "zoe", "--roles", "owner"); err != nil || !strings.HasPrefix(out, "opsf_") {
		t.Fatalf("token create migrating as the owner: %v %q", err, out)
	}
}

// Reserved identities are refused for people, a token never changes an
// existing user's roles, and a role change is its own command, recorded
// on the user's audit stream.
func TestReservedUsersAndExplicitRoleChanges(t *testing.T) {
	ctx := context.Background()
	url := testenv.DatabaseURL()
	if _, err := opsflowCmd(t, "migrate", "--migrate-database-url", testenv.MigrateURL(), "--database-url", url); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"system", "System", "opsflow", "admin", "auditor", "me", "cli:root", " bob"} {
		if _, err := opsflowCmd(t, "token", "create", "--database-url", url, "--user", id, "--roles", "owner"); err == nil || !strings.Contains(err.Error(), "user ID") {
			t.Errorf("token for %q: got %v, want refused", id, err)
		}
	}
	if _, err := opsflowCmd(t, "token", "create", "--database-url", url, "--user", "yann", "--name", "Yann Le Goff", "--roles", "requester"); err != nil {
		t.Fatal(err)
	}
	// Before: this silently made yann an approver on all his tokens.
	_, err := opsflowCmd(t, "token", "create", "--database-url", url, "--user", "yann", "--roles", "requester,approver")
	if err == nil || !strings.Contains(err.Error(), "opsflow user roles") {
		t.Fatalf("token with other roles for an existing user: got %v, want refused with the way to do it", err)
	}
	// The same roles, or none, issue another token.
	for _, roles := range []string{"requester", ""} {
		if out, err := opsflowCmd(t, "token", "create", "--database-url", url, "--user", "yann", "--roles", roles, "--label", "phone"); err != nil || !strings.HasPrefix(out, "opsf_") {
			t.Fatalf("second token (roles %q): %v %q", roles, err, out)
		}
	}
	if _, err := opsflowCmd(t, "user", "roles", "--database-url", url, "--user", "yann", "--set", "requester,approver"); err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Fatalf("role change without a reason: %v", err)
	}
	out, err := opsflowCmd(t, "user", "roles", "--database-url", url, "--user", "yann", "--set", "requester,approver", "--reason", "joined the review board")
	if err != nil || !strings.Contains(out, "requester → requester,approver") {
		t.Fatalf("role change: %v %q", err, out)
	}
	if _, err := opsflowCmd(t, "user", "roles", "--database-url", url, "--user", "nobody", "--set", "owner", "--reason", "x"); err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Fatalf("role change of an unknown user: %v", err)
	}
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	trail, err := db.AuditEvents(ctx, "user/yann")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range trail {
		actions = append(actions, e.Action)
		if !strings.HasPrefix(e.ActorID, "cli:") || e.ActorRole != "admin" {
			t.Errorf("event %s by %s as %s, want the command line's operator as admin", e.ID, e.ActorID, e.ActorRole)
		}
	}
	if got := strings.Join(actions, " "); got != "user.created token.issued token.issued token.issued user.roles_changed" {
		t.Fatalf("user/yann trail: %s", got)
	}
	last := trail[len(trail)-1]
	if last.Old != "requester" || last.New != "requester,approver" || last.Reason != "joined the review board" {
		t.Errorf("role change event %+v", last)
	}
	if rep, err := db.VerifyAudit(ctx, "user/yann"); err != nil || !rep.OK {
		t.Errorf("user/yann does not verify: %+v %v", rep, err)
	}
}

// TestUserSetSigningPassword: an operator sets a signing password from a
// file (never a flag), stored as argon2id and recorded on the user's
// stream; unlocking needs a reason.
func TestUserSetSigningPassword(t *testing.T) {
	ctx := context.Background()
	url := testenv.DatabaseURL()
	if _, err := opsflowCmd(t, "migrate", "--migrate-database-url", testenv.MigrateURL(), "--database-url", url); err != nil {
		t.Fatal(err)
	}
	if _, err := opsflowCmd(t, "token", "create", "--database-url", url, "--user", "quinn", "--name", "Quinn Abara", "--roles", "approver"); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := opsflowCmd(t, "user", "set-signing-password", "--database-url", url, "--user", "quinn", "--password-file", file); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Fatalf("a short password: %v", err)
	}
	if err := os.WriteFile(file, []byte("quinn signs with this\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := opsflowCmd(t, "user", "set-signing-password", "--database-url", url, "--user", "quinn", "--password-file", file); err != nil || !strings.Contains(out, "user/quinn") {
		t.Fatalf("set: %v %q", err, out)
	}
	if _, err := opsflowCmd(t, "user", "unlock-signing", "--database-url", url, "--user", "quinn"); err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Fatalf("unlock without a reason: %v", err)
	}
	if _, err := opsflowCmd(t, "user", "unlock-signing", "--database-url", url, "--user", "quinn", "--reason", "checked"); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hash, _, found, err := db.SigningCredential(ctx, "quinn")
	if err != nil || !found || !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, "quinn signs") {
		t.Fatalf("stored: %q %v %v", hash, found, err)
	}
	events, err := db.AuditEvents(ctx, opsflow.UserStream("quinn"))
	if err != nil {
		t.Fatal(err)
	}
	var set, unlocked bool
	for _, e := range events {
		set = set || (e.Action == "signing_password.set" && strings.HasPrefix(e.ActorID, opsflow.CLIActorPrefix))
		unlocked = unlocked || (e.Action == "signing.unlocked" && e.Reason == "checked")
	}
	if !set || !unlocked {
		t.Errorf("the user's stream: %+v", events)
	}
}

// TestUserLinkSSO: an operator links an existing user to a sign-on
// identity (and unlinks it), with a reason, recorded on the user's
// stream; the flags that would make it ambiguous are refused.
func TestUserLinkSSO(t *testing.T) {
	ctx := context.Background()
	url := testenv.DatabaseURL()
	if _, err := opsflowCmd(t, "migrate", "--migrate-database-url", testenv.MigrateURL(), "--database-url", url); err != nil {
		t.Fatal(err)
	}
	if _, err := opsflowCmd(t, "user", "set", "--database-url", url, "--user", "lou", "--name", "Lou Local", "--roles", "requester"); err != nil {
		t.Fatal(err)
	}
	link := []string{"user", "link-sso", "--database-url", url, "--user", "lou", "--issuer", "https://id.example.com", "--subject", "00u1lou"}
	for _, bad := range [][]string{
		link, // no reason
		append(link[:len(link)-2:len(link)-2], "--reason", "x"), // no subject
		{"user", "link-sso", "--database-url", url, "--user", "lou", "--unlink", "--subject", "s", "--reason", "x"},
	} {
		if _, err := opsflowCmd(t, bad...); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
	out, err := opsflowCmd(t, append(link, "--reason", "moves to single sign-on")...)
	if err != nil || !strings.Contains(out, "none → https://id.example.com subject 00u1lou") {
		t.Fatalf("link: %v %q", err, out)
	}
	if out, err := opsflowCmd(t, append(link, "--reason", "again")...); err != nil || !strings.Contains(out, "nothing changed") {
		t.Errorf("the same link again: %v %q", err, out)
	}
	if _, err := opsflowCmd(t, "user", "link-sso", "--database-url", url, "--user", "nobody", "--issuer", "https://id.example.com", "--subject", "x", "--reason", "x"); err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Errorf("an unknown user: %v", err)
	}
	if out, err := opsflowCmd(t, "user", "link-sso", "--database-url", url, "--user", "lou", "--unlink", "--reason", "left"); err != nil || !strings.Contains(out, "→ none") {
		t.Errorf("unlink: %v %q", err, out)
	}
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	trail, err := db.AuditEvents(ctx, "user/lou")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range trail {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, " "); got != "user.created user.sso_linked user.sso_unlinked" {
		t.Errorf("user/lou trail: %s", got)
	}
}
