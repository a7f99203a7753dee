package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/testenv"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/server"
)

type tokenRow struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Label      string     `json:"label"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	State      string     `json:"state"`
}

// TestAdminTokens: administrators list tokens (never the secret: ID,
// user, label, last use, expiry, state) and revoke one, which this API
// refuses at once; an expired token authenticates no more.
func TestAdminTokens(t *testing.T) {
	a := newApp(t)
	ctx := context.Background()
	u := opsflow.User{ID: "tara-" + uniq(), Name: "Tara Moss", Roles: []opsflow.Role{opsflow.RoleRequester}}
	laptop, err := a.DB.CreateToken(ctx, u, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(1500 * time.Millisecond)
	shortLived, err := a.DB.IssueTokenUntil(ctx, u, "ci job", opsflow.SystemActor, &soon)
	if err != nil {
		t.Fatal(err)
	}
	shared.tokens[u.ID], shared.tokens[u.ID+"/ci"] = laptop, shortLived
	t.Cleanup(func() { delete(shared.tokens, u.ID); delete(shared.tokens, u.ID+"/ci") })

	a.Must(http.StatusOK, u.ID, "GET", "/v1/me", nil) // records its last use
	var page struct {
		Items []tokenRow `json:"items"`
	}
	a.Must(http.StatusOK, "root", "GET", "/v1/admin/tokens?user="+u.ID, nil).JSON(t, &page)
	if len(page.Items) != 2 || page.Items[0].Label != "ci job" || page.Items[1].LastUsedAt == nil || page.Items[0].ExpiresAt == nil {
		t.Fatalf("tokens of %s: %+v", u.ID, page.Items)
	}
	for _, it := range page.Items {
		if it.State != "active" || it.ID != postgres.TokenID(laptop) && it.ID != postgres.TokenID(shortLived) {
			t.Errorf("token %+v", it)
		}
	}
	a.Must(http.StatusForbidden, u.ID, "GET", "/v1/admin/tokens", nil)
	a.Must(http.StatusUnprocessableEntity, "root", "GET", "/v1/admin/tokens?state=lost", nil)

	// Expired: refused, and listed as such.
	time.Sleep(time.Until(soon) + 100*time.Millisecond)
	a.Must(http.StatusUnauthorized, u.ID+"/ci", "GET", "/v1/me", nil)
	a.Must(http.StatusOK, "root", "GET", "/v1/admin/tokens?user="+u.ID+"&state=expired", nil).JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].State != "expired" {
		t.Errorf("expired tokens: %+v", page.Items)
	}

	// Revoked: refused at once by this API, and recorded on the user's stream.
	var rev tokenRow
	a.Must(http.StatusOK, "root", "POST", "/v1/admin/tokens/"+postgres.TokenID(laptop)+"/revoke", nil).JSON(t, &rev)
	if rev.State != "revoked" || rev.RevokedAt == nil {
		t.Errorf("revoked: %+v", rev)
	}
	a.Must(http.StatusUnauthorized, u.ID, "GET", "/v1/me", nil)
	a.Must(http.StatusOK, "root", "POST", "/v1/admin/tokens/"+postgres.TokenID(laptop)+"/revoke", nil)
	a.Must(http.StatusNotFound, "root", "POST", "/v1/admin/tokens/tok_nope/revoke", nil)
	events, err := a.DB.AuditEvents(ctx, opsflow.UserStream(u.ID))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Action == "token.revoked" && e.ActorID == "root" && e.Old == postgres.TokenID(laptop) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("token.revoked by root recorded %d times: %+v", n, events)
	}
}

// loggedApp is an app whose every log line, debug included, is kept.
func loggedApp(t *testing.T) (*app, *testenv.Logs) {
	logs := &testenv.Logs{}
	a := newAppWith(t, func(c *server.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	return a, logs
}

// newTokenAnswer is what a token's creation answers.
type newTokenAnswer struct {
	tokenRow
	Token     string    `json:"token"`
	CreatedAt time.Time `json:"created_at"`
	IssuedBy  string    `json:"issued_by"`
}

// checkTrail fails if a secret is anywhere in user's audit stream, or the
// stream does not verify, and returns its events.
func checkTrail(t *testing.T, a *app, user string, secrets ...string) []opsflow.AuditEvent {
	t.Helper()
	events, err := a.DB.AuditEvents(context.Background(), opsflow.UserStream(user))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		b, _ := json.Marshal(e)
		for _, s := range secrets {
			if strings.Contains(string(b), s) || strings.Contains(string(b), strings.TrimPrefix(s, postgres.TokenPrefix)) {
				t.Errorf("a token's secret is in the audit trail: %s", b)
			}
		}
	}
	if brk := opsflow.VerifyChain(events); brk != nil {
		t.Errorf("%s's stream: %+v", user, brk)
	}
	return events
}

// TestMyTokens: a person creates a token of their own (shown once), uses
// it, lists their tokens (never a secret, newest first, a page at a
// time) and revokes it, after which it is refused; a repeat under the
// same Idempotency-Key mints nothing; someone else's token is a 404 as if
// it did not exist; bad input is a 422 naming its field; each is on the
// person's audit stream with them as the actor, and the secret is in no
// event and no log line.
func TestMyTokens(t *testing.T) {
	a, logs := loggedApp(t)
	sam, _ := a.newSamReyes()
	before := time.Now().UTC().Add(-time.Second)

	key := "mine-" + uniq()
	body := map[string]any{"label": "  laptop ", "expires": "30d"}
	var tok newTokenAnswer
	a.Must(http.StatusCreated, sam, "POST", "/v1/me/tokens", body, "Idempotency-Key", key).JSON(t, &tok)
	want := time.Now().UTC().Add(30 * 24 * time.Hour)
	if !strings.HasPrefix(tok.Token, postgres.TokenPrefix) || tok.ID != postgres.TokenID(tok.Token) || tok.UserID != sam || tok.Label != "laptop" ||
		tok.State != "active" || tok.IssuedBy != sam || tok.ExpiresAt == nil || tok.ExpiresAt.Sub(want).Abs() > time.Minute || tok.CreatedAt.Before(before) {
		t.Fatalf("created: %+v", tok)
	}
	// It works, as sam.
	var me opsflow.Account
	a.Must(http.StatusOK, tok.Token, "GET", "/v1/me", nil).JSON(t, &me)
	if me.ID != sam {
		t.Fatalf("the new token is %s's", me.ID)
	}

	// The same request again: no second token; the answer names the
	// first, without its secret. Another body under the key is refused.
	e := a.Must(http.StatusConflict, sam, "POST", "/v1/me/tokens", body, "Idempotency-Key", key).Err(t)
	if e.Code != opsflow.ECONFLICT || e.Field != "Idempotency-Key" || e.State != "active" || !strings.Contains(e.Message, tok.ID) || strings.Contains(e.Message, tok.Token) {
		t.Errorf("a repeat: %+v", e)
	}
	if e := a.Must(http.StatusUnprocessableEntity, sam, "POST", "/v1/me/tokens", map[string]any{"label": "phone"}, "Idempotency-Key", key).Err(t); e.Field != "Idempotency-Key" {
		t.Errorf("another request under the key: %+v", e)
	}
	// Left out, the expiry is 90 days.
	var phone newTokenAnswer
	a.Must(http.StatusCreated, sam, "POST", "/v1/me/tokens", map[string]any{"label": "phone"}, "Idempotency-Key", key+"-2").JSON(t, &phone)
	if phone.ExpiresAt == nil || phone.ExpiresAt.Sub(time.Now().Add(opsflow.DefaultTokenLifetime)).Abs() > time.Minute {
		t.Errorf("no expiry asked: %+v", phone.ExpiresAt)
	}

	// The list: sam's own, newest first, a page at a time, no secret.
	list := func(user, q string) (ids []string, next string) {
		t.Helper()
		res := a.Must(http.StatusOK, user, "GET", "/v1/me/tokens"+q, nil)
		var page struct {
			Items      []tokenRow `json:"items"`
			NextCursor string     `json:"next_cursor"`
		}
		res.JSON(t, &page)
		if strings.Contains(string(res.Body), postgres.TokenPrefix) {
			t.Errorf("a secret in the list: %s", res.Body)
		}
		for _, it := range page.Items {
			if it.UserID != user {
				t.Errorf("%s's list holds %s's token %s", user, it.UserID, it.ID)
			}
			ids = append(ids, it.ID)
		}
		return ids, page.NextCursor
	}
	testToken := postgres.TokenID(Token(sam))
	if ids, _ := list(sam, ""); !slices.Equal(ids, []string{phone.ID, tok.ID, testToken}) {
		t.Errorf("sam's tokens: %v, want %v", ids, []string{phone.ID, tok.ID, testToken})
	}
	var paged []string
	q := "?limit=2"
	for range 5 {
		ids, next := list(sam, q)
		paged = append(paged, ids...)
		if next == "" {
			break
		}
		q = "?limit=2&cursor=" + next
	}
	if !slices.Equal(paged, []string{phone.ID, tok.ID, testToken}) {
		t.Errorf("paged: %v", paged)
	}
	if ids, _ := list("alice", ""); slices.Contains(ids, tok.ID) {
		t.Error("alice lists sam's token")
	}
	if e := a.Must(http.StatusUnprocessableEntity, sam, "GET", "/v1/me/tokens?state=lost", nil).Err(t); e.Field != "state" {
		t.Errorf("a bad state: %+v", e)
	}

	// Someone else's token is one that does not exist, and stays working.
	other := a.Must(http.StatusNotFound, "alice", "POST", "/v1/me/tokens/"+tok.ID+"/revoke", nil).Err(t)
	none := a.Must(http.StatusNotFound, "alice", "POST", "/v1/me/tokens/tok_0000000000000000/revoke", nil).Err(t)
	if other.Code != none.Code || strings.ReplaceAll(other.Message, tok.ID, "ID") != strings.ReplaceAll(none.Message, "tok_0000000000000000", "ID") {
		t.Errorf("someone else's token answers %+v, an unknown one %+v", other, none)
	}
	a.Must(http.StatusOK, tok.Token, "GET", "/v1/me", nil)

	// Bad input: 422 naming the field; nothing issued.
	for field, bad := range map[string][]map[string]any{
		"label": {{}, {"label": "   "}, {"label": strings.Repeat("x", 101)}, {"label": "two\nlines"}},
		"expires": {{"label": "x", "expires": "yesterday"}, {"label": "x", "expires": "2020-01-01T00:00:00Z"}, {"label": "x", "expires": "-1h"},
			{"label": "x", "expires": "800d"}, {"label": "x", "expires": time.Now().AddDate(2, 1, 0).Format(time.RFC3339)}},
		"roles": {{"label": "x", "roles": []string{"admin"}}}, // no such field: a token has its person's roles
	} {
		for _, b := range bad {
			if e := a.Must(http.StatusUnprocessableEntity, sam, "POST", "/v1/me/tokens", b).Err(t); e.Field != field {
				t.Errorf("%v: %+v, want field %s", b, e, field)
			}
		}
	}
	if ids, _ := list(sam, ""); len(ids) != 3 {
		t.Errorf("refused requests issued tokens: %v", ids)
	}

	// Revoked: refused at once; again changes nothing.
	var rev tokenRow
	a.Must(http.StatusOK, sam, "POST", "/v1/me/tokens/"+tok.ID+"/revoke", nil).JSON(t, &rev)
	if rev.ID != tok.ID || rev.State != "revoked" || rev.RevokedAt == nil {
		t.Errorf("revoked: %+v", rev)
	}
	a.Must(http.StatusUnauthorized, tok.Token, "GET", "/v1/me", nil)
	a.Must(http.StatusOK, sam, "POST", "/v1/me/tokens/"+tok.ID+"/revoke", nil)
	if ids, _ := list(sam, "?state=revoked"); !slices.Equal(ids, []string{tok.ID}) {
		t.Errorf("revoked tokens: %v", ids)
	}

	// The trail: issued and revoked by sam, each once, never a secret.
	var got []string
	for _, e := range checkTrail(t, a, sam, tok.Token, phone.Token) {
		if e.Field != "tokens" {
			continue
		}
		got = append(got, e.Action+" "+e.Old+e.New)
		if e.ActorID != sam && e.New != testToken { // the harness issued sam's first
			t.Errorf("%s by %s, want %s", e.Action, e.ActorID, sam)
		}
		if e.Action == "token.issued" && e.New == tok.ID && e.Reason != "label laptop; expires "+tok.ExpiresAt.Format(time.RFC3339) {
			t.Errorf("the issue's reason: %q", e.Reason)
		}
	}
	if s := strings.Join(got, ", "); s != "token.issued "+testToken+", token.issued "+tok.ID+", token.issued "+phone.ID+", token.revoked "+tok.ID {
		t.Errorf("sam's token events: %s", s)
	}
	for _, s := range []string{tok.Token, phone.Token} {
		if strings.Contains(logs.String(), s) || strings.Contains(logs.String(), strings.TrimPrefix(s, postgres.TokenPrefix)) {
			t.Errorf("a new token's secret is in the logs")
		}
	}
	if !strings.Contains(logs.String(), "/v1/me/tokens") {
		t.Errorf("the logs hold no request: the check above checked nothing")
	}
}

// TestAdminIssuesAToken: an administrator gives a person created on the
// web their first token — shown once, working as that person with the
// roles they had, recorded with the administrator and the reason — and
// nobody else may; an unknown user is a 404 (and not created), a missing
// reason a 422; a repeat under the key mints nothing.
func TestAdminIssuesAToken(t *testing.T) {
	a, logs := loggedApp(t)
	pia := "pia-" + uniq()
	a.Must(http.StatusCreated, "root", "PUT", "/v1/users/"+pia, map[string]any{"name": "Pia Holm", "roles": []string{"owner"}})
	path := "/v1/admin/users/" + pia + "/tokens"
	body := map[string]any{"label": "first token", "expires": "7d", "reason": "new in quality; handed over in person"}

	for _, u := range []string{"alice", "bob", "carol", "hana"} {
		a.Must(http.StatusForbidden, u, "POST", path, body)
	}
	for _, b := range []map[string]any{{"label": "x"}, {"label": "x", "reason": "  "}} {
		if e := a.Must(http.StatusUnprocessableEntity, "root", "POST", path, b).Err(t); e.Field != "reason" {
			t.Errorf("%v: %+v", b, e)
		}
	}
	for field, b := range map[string]map[string]any{
		"label":   {"reason": "x"},
		"expires": {"label": "x", "reason": "x", "expires": "2099-01-01"},
	} {
		if e := a.Must(http.StatusUnprocessableEntity, "root", "POST", path, b).Err(t); e.Field != field {
			t.Errorf("%v: %+v, want field %s", b, e, field)
		}
	}
	nobody := "nobody-" + uniq()
	a.Must(http.StatusNotFound, "root", "POST", "/v1/admin/users/"+nobody+"/tokens", body)
	a.Must(http.StatusNotFound, "root", "GET", "/v1/users/"+nobody, nil)

	key := "issue-" + uniq()
	var tok newTokenAnswer
	a.Must(http.StatusCreated, "root", "POST", path, body, "Idempotency-Key", key).JSON(t, &tok)
	if tok.UserID != pia || tok.IssuedBy != "root" || tok.Label != "first token" || tok.State != "active" || tok.ID != postgres.TokenID(tok.Token) ||
		tok.ExpiresAt == nil || tok.ExpiresAt.Sub(time.Now().Add(7*24*time.Hour)).Abs() > time.Minute {
		t.Fatalf("issued: %+v", tok)
	}
	var me opsflow.Account
	a.Must(http.StatusOK, tok.Token, "GET", "/v1/me", nil).JSON(t, &me)
	if me.ID != pia || !opsflow.SameRoles(me.Roles, []opsflow.Role{opsflow.RoleOwner}) {
		t.Errorf("the token acts as %+v", me)
	}
	a.Must(http.StatusForbidden, tok.Token, "POST", path, body) // not even for herself: she is no administrator
	e := a.Must(http.StatusConflict, "root", "POST", path, body, "Idempotency-Key", key).Err(t)
	if e.Field != "Idempotency-Key" || !strings.Contains(e.Message, tok.ID) {
		t.Errorf("a repeat: %+v", e)
	}
	var page struct {
		Items []tokenRow `json:"items"`
	}
	a.Must(http.StatusOK, "root", "GET", "/v1/admin/tokens?user="+pia, nil).JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != tok.ID {
		t.Errorf("pia's tokens: %+v", page.Items)
	}
	// Pia sees it among hers, and may revoke it herself.
	a.Must(http.StatusOK, tok.Token, "GET", "/v1/me/tokens", nil).JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != tok.ID {
		t.Errorf("pia's own list: %+v", page.Items)
	}

	events := checkTrail(t, a, pia, tok.Token)
	n := 0
	for _, e := range events {
		switch e.Action {
		case "token.issued":
			n++
			if e.ActorID != "root" || e.ActorRole != "admin" || e.New != tok.ID || !strings.HasPrefix(e.Reason, "new in quality; handed over in person; label first token; expires ") {
				t.Errorf("the issue's event: %+v", e)
			}
		case "user.roles_changed":
			t.Errorf("issuing a token changed the roles: %+v", e)
		}
	}
	if n != 1 {
		t.Errorf("%d token.issued events: %+v", n, events)
	}
	a.Must(http.StatusOK, tok.Token, "POST", "/v1/me/tokens/"+tok.ID+"/revoke", nil)
	a.Must(http.StatusUnauthorized, tok.Token, "GET", "/v1/me", nil)
	if strings.Contains(logs.String(), strings.TrimPrefix(tok.Token, postgres.TokenPrefix)) {
		t.Error("the token's secret is in the logs")
	}
}
