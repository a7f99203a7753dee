package postgres

import (
	"errors"
	"strings"
	"testing"

	"github.com/lib/pq"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/devstack"
	"github.com/opsflow/opsflow/internal/testenv"
)

// TestAppRoleCannotRewriteTheTrail: what the issue found possible for the
// application — it connected as the superuser — PostgreSQL itself now
// refuses the application's role, with permission denied (SQLSTATE 42501)
// rather than only a trigger's message.
func TestAppRoleCannotRewriteTheTrail(t *testing.T) {
	ctx := t.Context()
	s := uniqueStream(t)
	if err := testDB.AppendAudit(ctx, events(s, 1, 3)); err != nil {
		t.Fatal(err)
	}
	refused := []string{
		`UPDATE audit_events SET new_value = 'forged' WHERE stream = '` + s + `'`,
		`DELETE FROM audit_events WHERE stream = '` + s + `'`,
		`TRUNCATE audit_events`,
		`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`,
		`ALTER TABLE audit_events DISABLE TRIGGER USER`,
		`SET session_replication_role = replica`,
		`UPDATE audit_heads SET seq = 1 WHERE stream = '` + s + `'`,
		`INSERT INTO audit_heads (stream, seq, hash) VALUES ('` + s + `-x', 7, 'made-up')`,
		`DELETE FROM audit_heads WHERE stream = '` + s + `'`,
		`SELECT seq FROM audit_heads WHERE stream = '` + s + `' FOR UPDATE`,
		`DROP TABLE audit_events`,
		`CREATE TABLE audit_shadow (id text)`,
		`ALTER FUNCTION audit_events_advance_head() SECURITY INVOKER`,
	}
	for _, stmt := range refused {
		_, err := testDB.db.ExecContext(ctx, stmt)
		var pqErr *pq.Error
		if !errors.As(err, &pqErr) || pqErr.Code != "42501" {
			t.Errorf("%s: err = %v, want PostgreSQL's permission denied (42501)", stmt, err)
		}
	}
	// A grant by a non-owner grants nothing (PostgreSQL only warns).
	if _, err := testDB.db.ExecContext(ctx, `GRANT UPDATE ON audit_events TO PUBLIC`); err != nil {
		t.Logf("grant refused outright: %v", err)
	}
	if p, err := RoleProblems(ctx, testDB); err != nil || len(p) != 0 {
		t.Errorf("after trying to grant itself UPDATE: %q %v", p, err)
	}
	// The events and the head are as appended.
	rep, err := testDB.VerifyAudit(ctx, s)
	if err != nil || !rep.OK || rep.Events != 3 {
		t.Fatalf("VerifyAudit = %+v, %v", rep, err)
	}
}

// TestHeadsMoveOnlyWithTheChain: the application may insert events (it
// appends the trail), but an event that does not continue its chain is
// refused, so the head it moves always names an event that follows the
// one before.
func TestHeadsMoveOnlyWithTheChain(t *testing.T) {
	ctx := t.Context()
	s := uniqueStream(t)
	if err := testDB.AppendAudit(ctx, events(s, 1, 2)); err != nil {
		t.Fatal(err)
	}
	stored, err := testDB.AuditEvents(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	insert := func(seq int64, prev string) error {
		_, err := testDB.db.ExecContext(ctx, `
			INSERT INTO audit_events (id, stream, seq, at, actor_id, actor_name, actor_role, action, prev_hash, hash)
			VALUES ($1, $2, $3, now(), 'x', 'x', 'x', 'forged', $4, 'f00')`, opsflow.EventID(s, seq), s, seq, prev)
		return err
	}
	for name, c := range map[string]struct {
		seq  int64
		prev string
	}{
		"a seq far ahead (a head moved past events that do not exist)": {9, stored[1].Hash},
		"a seq behind (a head moved back)":                             {1, ""},
		"a prev_hash that is not the head's":                           {3, stored[0].Hash},
	} {
		err := insert(c.seq, c.prev)
		var pqErr *pq.Error
		if !errors.As(err, &pqErr) || pqErr.Code.Class() != "23" || !strings.Contains(pqErr.Message, "does not continue the chain") {
			t.Errorf("%s: err = %v, want the chain refused", name, err)
		}
	}
	var seq int64
	if err := testDB.db.GetContext(ctx, &seq, `SELECT seq FROM audit_heads WHERE stream = $1`, s); err != nil || seq != 2 {
		t.Fatalf("head seq %d (%v), want 2", seq, err)
	}
}

func TestRoleProblems(t *testing.T) {
	ctx := t.Context()
	if p, err := RoleProblems(ctx, testDB); err != nil || len(p) != 0 {
		t.Errorf("application role: %q %v, want no problems", p, err)
	}
	for name, db := range map[string]*DB{"owner": ownerDB, "superuser": superDB} {
		if p, err := RoleProblems(ctx, db); err != nil || len(p) == 0 {
			t.Errorf("%s: %q %v, want problems", name, p, err)
		} else {
			t.Logf("%s: %s", name, strings.Join(p, "; "))
		}
	}
	if err := GrantApp(ctx, ownerDB, testenv.OwnerRole); err == nil {
		t.Error("GrantApp to the owner itself: want an error")
	}
}

// A database made before the roles existed — everything owned by the
// superuser that migrated it — is handed to the owner by the dev stack and
// then works with the application's role; its chains continue.
func TestRolesOnAnExistingDatabase(t *testing.T) {
	ctx := t.Context()
	super, err := testenv.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old, err := Open(ctx, super)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := Migrate(ctx, old); err != nil {
		t.Fatal(err)
	}
	s := uniqueStream(t)
	if err := old.AppendAudit(ctx, events(s, 1, 2)); err != nil {
		t.Fatal(err)
	}
	name := super[strings.LastIndex(super, "/")+1 : strings.Index(super, "?")]
	server := strings.Replace(super, "/"+name+"?", "/postgres?", 1)
	urls, err := devstack.SetupRoles(ctx, server, name, testenv.OwnerRole, testenv.AppRole)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := Open(ctx, urls.Owner)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if err := Migrate(ctx, owner, GrantTo(testenv.AppRole)); err != nil {
		t.Fatal(err)
	}
	app, err := Open(ctx, urls.App)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if p, err := RoleProblems(ctx, app); err != nil || len(p) != 0 {
		t.Fatalf("application role after the hand-over: %q %v", p, err)
	}
	if err := app.AppendAudit(ctx, events(s, 3, 2)); err != nil {
		t.Fatal(err)
	}
	if rep, err := app.VerifyAudit(ctx, s); err != nil || !rep.OK || rep.Events != 4 {
		t.Fatalf("VerifyAudit = %+v, %v", rep, err)
	}
}
