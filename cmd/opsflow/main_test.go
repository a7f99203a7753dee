package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

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
	out, err := opsflowCmd(t, "migrate", "--database-url", url)
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
	t.Setenv("DATABASE_URL", testenv.DatabaseURL())
	if out, err := opsflowCmd(t, "migrate"); err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate with DATABASE_URL: %v %q", err, out)
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
