package postgres

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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

// TestIssueTokenFor: the API's way to issue a token. Only for an existing
// user, whom it never changes; recorded with the issuer as the actor and
// the reason; a second request under the same key issues nothing and
// names the first token, whose secret is not stored to be shown again —
// also when the two arrive at once.
func TestIssueTokenFor(t *testing.T) {
	ctx := t.Context()
	u := opsflow.User{ID: uniqueStream(t), Name: "Ida", Roles: []opsflow.Role{opsflow.RoleRequester}}
	if err := testDB.EnsureUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	admin := opsflow.Actor{ID: "root", Name: "Ops Admin", Roles: []opsflow.Role{opsflow.RoleAdmin}}
	until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	in := TokenIssue{UserID: u.ID, Label: "laptop", Expires: &until, Reason: "first token, handed over in person", Key: "k-" + u.ID}
	tok, info, err := testDB.IssueTokenFor(ctx, in, admin)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != TokenID(tok) || info.UserID != u.ID || info.Label != "laptop" || info.IssuedBy != "root" || info.ExpiresAt == nil || !info.ExpiresAt.Equal(until) {
		t.Errorf("issued %+v", info)
	}
	if got, err := testDB.Authenticate(ctx, tok); err != nil || got.ID != u.ID || !slices.Equal(got.Roles, u.Roles) {
		t.Errorf("the token authenticates as %+v, %v", got, err)
	}
	// The same key again, one at a time and several at once: no token.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			var again string
			again, _, errs[i] = testDB.IssueTokenFor(ctx, in, admin)
			if again != "" {
				errs[i] = fmt.Errorf("a second token under the same key")
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		var e *opsflow.Error
		if !errors.As(err, &e) || e.Code != opsflow.ECONFLICT || e.Field != "Idempotency-Key" || e.State != "active" || !strings.Contains(e.Message, info.ID) {
			t.Errorf("a repeat: %v", err)
		}
	}
	if list, err := testDB.ListTokens(ctx, u.ID); err != nil || len(list) != 1 {
		t.Errorf("tokens of %s: %+v %v", u.ID, list, err)
	}
	// The key is the issuer's: another issuer's same key is another request.
	self := opsflow.Actor{ID: u.ID, Name: u.Name, Roles: u.Roles}
	tok2, own, err := testDB.IssueTokenFor(ctx, TokenIssue{UserID: u.ID, Label: "phone", Key: in.Key}, self)
	if err != nil || tok2 == tok || own.IssuedBy != u.ID || own.ExpiresAt != nil {
		t.Errorf("the user's own token under the admin's key: %+v %v", own, err)
	}

	if _, _, err := testDB.IssueTokenFor(ctx, TokenIssue{UserID: "nobody-" + u.ID, Label: "x"}, admin); opsflow.ErrorCode(err) != opsflow.ENOTFOUND {
		t.Errorf("an unknown user: %v", err)
	}
	if n := countRows(t, `SELECT count(*) FROM users WHERE id = $1`, "nobody-"+u.ID); n != 0 {
		t.Error("issuing a token created a user")
	}
	past := time.Now().Add(-time.Minute)
	if _, _, err := testDB.IssueTokenFor(ctx, TokenIssue{UserID: u.ID, Label: "x", Expires: &past}, admin); opsflow.ErrorCode(err) != opsflow.EINVALID {
		t.Errorf("an expiry in the past: %v", err)
	}

	trail, err := testDB.AuditEvents(ctx, opsflow.UserStream(u.ID))
	if err != nil {
		t.Fatal(err)
	}
	var issued []opsflow.AuditEvent
	for _, e := range trail {
		if strings.Contains(e.Old+e.New+e.Reason, tok) || strings.Contains(e.Old+e.New+e.Reason, tok2) {
			t.Errorf("a token's secret is in the trail: %+v", e)
		}
		if e.Action == "token.issued" {
			issued = append(issued, e)
		}
	}
	if len(issued) != 2 || issued[0].ActorID != "root" || issued[0].ActorRole != "admin" || issued[0].New != info.ID ||
		issued[0].Reason != "first token, handed over in person; label laptop; expires "+until.Format(time.RFC3339) ||
		issued[1].ActorID != u.ID || issued[1].Reason != "label phone" {
		t.Errorf("token.issued events: %+v", issued)
	}
	if rep, err := testDB.VerifyAudit(ctx, opsflow.UserStream(u.ID)); err != nil || !rep.OK {
		t.Errorf("user trail: %+v %v", rep, err)
	}
}
