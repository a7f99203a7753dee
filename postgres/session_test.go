package postgres

import (
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

func TestSessions(t *testing.T) {
	ctx := t.Context()
	u := opsflow.User{ID: uniqueStream(t), Name: "Grace", Roles: []opsflow.Role{opsflow.RoleOwner}}
	token, err := testDB.CreateToken(ctx, u, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	start := func(n opsflow.NewSession) string {
		t.Helper()
		s, err := testDB.StartSession(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	live := func(secret string) bool {
		t.Helper()
		_, err := testDB.Session(ctx, secret)
		if err != nil && opsflow.ErrorCode(err) != opsflow.EUNAUTHORIZED {
			t.Fatal(err)
		}
		return err == nil
	}
	secret := start(opsflow.NewSession{UserID: u.ID, Method: "token", Token: token, TTL: time.Hour, Idle: time.Hour})
	s, err := testDB.Session(ctx, secret)
	if err != nil || s.User.ID != u.ID || s.User.Name != "Grace" || s.Method != "token" || s.TokenID != TokenID(token) || len(s.CSRF) < 40 || !s.ExpiresAt.After(time.Now()) {
		t.Fatalf("Session = %+v, %v", s, err)
	}
	if n := countRows(t, `SELECT count(*) FROM web_sessions WHERE position($1::bytea in id_hash) > 0`, []byte(secret)); n != 0 {
		t.Fatal("the plaintext secret is stored")
	}
	// Roles are read afresh: a change shows on the next page.
	if _, err := testDB.SetUserRoles(ctx, u.ID, []opsflow.Role{opsflow.RoleApprover}, opsflow.SystemActor, "promoted"); err != nil {
		t.Fatal(err)
	}
	if s, _ := testDB.Session(ctx, secret); len(s.User.Roles) != 1 || s.User.Roles[0] != opsflow.RoleApprover {
		t.Errorf("roles %v after a change", s.User.Roles)
	}

	// Signing out ends it; twice is fine.
	for range 2 {
		if err := testDB.EndSession(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	if live(secret) {
		t.Error("an ended session is live")
	}
	if live("") || live("nonsense") {
		t.Error("a made-up secret is live")
	}

	// Revoking the token it signed in with ends a session.
	secret = start(opsflow.NewSession{UserID: u.ID, Method: "token", Token: token, TTL: time.Hour, Idle: time.Hour})
	sso := start(opsflow.NewSession{UserID: u.ID, Method: "sso", TTL: time.Hour, Idle: time.Hour})
	if s, err := testDB.Session(ctx, sso); err != nil || s.TokenID != "" {
		t.Errorf("a single sign-on session names token %q (%v)", s.TokenID, err)
	}
	if err := testDB.RevokeToken(ctx, TokenID(token)); err != nil {
		t.Fatal(err)
	}
	if live(secret) {
		t.Error("a session outlives its revoked token")
	}
	if !live(sso) {
		t.Error("a session without a token ended with the token")
	}

	// Expiry and idleness.
	short := start(opsflow.NewSession{UserID: u.ID, Method: "sso", TTL: time.Hour, Idle: time.Hour})
	if _, err := testDB.db.ExecContext(ctx, `UPDATE web_sessions SET expires_at = now() - interval '1 second' WHERE id_hash = $1`, hashSecret(short)); err != nil {
		t.Fatal(err)
	}
	idle := start(opsflow.NewSession{UserID: u.ID, Method: "sso", TTL: time.Hour, Idle: time.Minute})
	if _, err := testDB.db.ExecContext(ctx, `UPDATE web_sessions SET last_seen_at = now() - interval '2 minutes' WHERE id_hash = $1`, hashSecret(idle)); err != nil {
		t.Fatal(err)
	}
	if live(short) || live(idle) {
		t.Error("an expired or idle session is live")
	}
	if _, err := testDB.StartSession(ctx, opsflow.NewSession{UserID: u.ID}); opsflow.ErrorCode(err) != opsflow.EINVALID {
		t.Errorf("a session without a method: %v", err)
	}
}

func TestWebReads(t *testing.T) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	id := uniqueStream(t)
	past, soon, later := now.Add(-time.Hour), now.Add(time.Hour), now.Add(100*time.Hour)
	tasks := []opsflow.Task{
		{ID: "a", Assignee: id, State: opsflow.TaskOpen, DueAt: &past},
		{ID: "b", Role: opsflow.RoleAuditor, State: opsflow.TaskOpen, DueAt: &soon},
		{ID: "c", Assignee: id, State: opsflow.TaskInProgress, DueAt: &later},
		{ID: "d", Assignee: id, State: opsflow.TaskDone, DueAt: &past},
		{ID: "e", Assignee: "someone", Role: opsflow.RoleAuditor, State: opsflow.TaskOpen},
	}
	p := opsflow.Process{ID: "capa-" + id, Kind: opsflow.KindCAPA, State: "investigation", Title: "t", OpenedAt: now, Version: 1, Record: []byte(`{"id":"capa-` + id + `"}`)}
	if err := testDB.SaveSnapshot(ctx, opsflow.Snapshot{Process: p, Tasks: tasks}); err != nil {
		t.Fatal(err)
	}
	n, err := testDB.InboxCount(ctx, opsflow.User{ID: id, Roles: []opsflow.Role{opsflow.RoleAuditor}}, now, 24*time.Hour)
	if err != nil || n != (opsflow.InboxCount{Open: 3, Overdue: 1, DueSoon: 1}) {
		t.Errorf("InboxCount = %+v, %v", n, err)
	}
	rows, err := testDB.GetProcesses(ctx, []string{p.ID, "capa-none"})
	if err != nil || len(rows) != 1 || rows[0].ID != p.ID || len(rows[0].Record) == 0 {
		t.Errorf("GetProcesses = %+v, %v", rows, err)
	}
}
