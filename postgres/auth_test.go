package postgres

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

func TestTokens(t *testing.T) {
	ctx := t.Context()
	u := opsflow.User{ID: uniqueStream(t), Name: "Grace", Roles: []opsflow.Role{opsflow.RoleOwner}}
	token, err := testDB.CreateToken(ctx, u, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, TokenPrefix) || len(token) != len(TokenPrefix)+43 {
		t.Fatalf("token %q: want opsf_ and 32 bytes of base64url", token)
	}
	if n := countRows(t, `SELECT count(*) FROM api_tokens WHERE position($1::bytea in token_hash) > 0 OR label = $2`, []byte(token), token); n != 0 {
		t.Fatal("the plaintext token is stored")
	}

	// A second token never changes the user's name or roles: that used to
	// happen silently, on every token of theirs.
	for name, other := range map[string]opsflow.User{
		"roles": {ID: u.ID, Name: u.Name, Roles: []opsflow.Role{opsflow.RoleOwner, opsflow.RoleApprover}},
		"name":  {ID: u.ID, Name: "Grace H.", Roles: u.Roles},
	} {
		if _, err := testDB.CreateToken(ctx, other, "ci"); opsflow.ErrorCode(err) != opsflow.ECONFLICT {
			t.Errorf("a token with another %s: %v, want a conflict", name, err)
		}
	}
	token2, err := testDB.CreateToken(ctx, opsflow.User{ID: u.ID}, "ci") // an existing user: name and roles may be left out
	if err != nil {
		t.Fatal(err)
	}
	// Changing roles is its own, audited step.
	by := opsflow.Actor{ID: "cli:ops", Name: "ops", Roles: []opsflow.Role{opsflow.RoleAdmin}}
	u.Roles = []opsflow.Role{opsflow.RoleOwner, opsflow.RoleApprover}
	if old, err := testDB.SetUserRoles(ctx, u.ID, u.Roles, by, "joined the review board"); err != nil || !slices.Equal(old, []opsflow.Role{opsflow.RoleOwner}) {
		t.Fatalf("SetUserRoles = %v, %v", old, err)
	}
	for _, tok := range []string{token, token2} {
		got, err := testDB.Authenticate(ctx, tok)
		if err != nil || got.ID != u.ID || got.Name != "Grace" || !slices.Equal(got.Roles, u.Roles) {
			t.Fatalf("Authenticate = %+v, %v", got, err)
		}
	}
	if _, err := testDB.SetUserRoles(ctx, u.ID, u.Roles, by, ""); opsflow.ErrorCode(err) != opsflow.EINVALID {
		t.Errorf("a role change without a reason: %v", err)
	}
	if _, err := testDB.SetUserRoles(ctx, "nobody-"+u.ID, u.Roles, by, "x"); opsflow.ErrorCode(err) != opsflow.ENOTFOUND {
		t.Errorf("a role change of no one: %v", err)
	}
	if _, err := testDB.CreateToken(ctx, opsflow.User{ID: "System", Name: "Mallory", Roles: u.Roles}, ""); opsflow.ErrorCode(err) != opsflow.EINVALID {
		t.Errorf("a person called System: %v", err)
	}

	// Use is recorded, but not on every request.
	list, err := testDB.ListTokens(ctx, u.ID)
	if err != nil || len(list) != 2 || list[0].LastUsedAt == nil {
		t.Fatalf("ListTokens = %+v, %v", list, err)
	}
	first := *list[0].LastUsedAt
	time.Sleep(5 * time.Millisecond)
	if _, err := testDB.Authenticate(ctx, token2); err != nil {
		t.Fatal(err)
	}
	list, _ = testDB.ListTokens(ctx, u.ID)
	if !list[0].LastUsedAt.Equal(first) {
		t.Errorf("last_used_at rewritten within a minute: %v then %v", first, list[0].LastUsedAt)
	}

	if err := testDB.RevokeToken(ctx, TokenID(token)); err != nil {
		t.Fatal(err)
	}
	if err := testDB.RevokeToken(ctx, TokenID(token)); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	for _, tt := range []struct{ name, token, code string }{
		{"revoked", token, opsflow.EUNAUTHORIZED},
		{"still valid", token2, ""},
		{"unknown", TokenPrefix + "AAAA", opsflow.EUNAUTHORIZED},
		{"no prefix", "Bearer x", opsflow.EUNAUTHORIZED},
		{"empty", "", opsflow.EUNAUTHORIZED},
	} {
		if _, err := testDB.Authenticate(ctx, tt.token); opsflow.ErrorCode(err) != tt.code {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.code)
		}
	}
	if err := testDB.RevokeToken(ctx, "tok_missing"); opsflow.ErrorCode(err) != opsflow.ENOTFOUND {
		t.Errorf("revoke unknown: %v", err)
	}
	// The user's stream holds it all, once each, and verifies.
	trail, err := testDB.AuditEvents(ctx, opsflow.UserStream(u.ID))
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range trail {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, " "); got != "user.created token.issued token.issued user.roles_changed token.revoked" {
		t.Errorf("user trail: %s", got)
	}
	if trail[1].Reason != "label laptop" {
		t.Errorf("token.issued reason %q", trail[1].Reason)
	}
	// Without a label the reason says nothing, not "label".
	lone := opsflow.User{ID: "lone-" + u.ID, Name: "Lone", Roles: u.Roles}
	if _, err := testDB.CreateToken(ctx, lone, ""); err != nil {
		t.Fatal(err)
	}
	if tr, err := testDB.AuditEvents(ctx, opsflow.UserStream(lone.ID)); err != nil || len(tr) != 2 || tr[1].Reason != "" {
		t.Errorf("unlabelled token's trail: %+v %v", tr, err)
	}
	if rep, err := testDB.VerifyAudit(ctx, opsflow.UserStream(u.ID)); err != nil || !rep.OK {
		t.Errorf("user trail: %+v %v", rep, err)
	}
	if _, err := testDB.CreateToken(ctx, opsflow.User{ID: "x", Name: "x", Roles: []opsflow.Role{"wizard"}}, ""); opsflow.ErrorCode(err) != opsflow.EINVALID {
		t.Errorf("unknown role accepted: %v", err)
	}
}
