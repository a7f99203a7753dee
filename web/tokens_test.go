package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

// tokensHarness signs alice in, with two tokens the fake API lists as
// hers: the one she signed in with (tok-alice) and a revoked one an
// administrator issued.
func tokensHarness(t *testing.T) (*harness, *client) {
	h := newHarness(t)
	h.api.mirrorBodies()
	created, used := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC), time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	expires, revoked := created.AddDate(0, 3, 0), created.AddDate(0, 0, 5)
	h.api.routes["GET /v1/me/tokens"] = func(u opsflow.User, _ []byte, r *http.Request) (int, any) {
		if r.URL.Query().Get("cursor") == "c2" {
			return 200, opsflow.Page[apiToken]{Items: []apiToken{}}
		}
		return 200, opsflow.Page[apiToken]{Items: []apiToken{
			{ID: "tok-alice", UserID: u.ID, Label: "browser", CreatedAt: created, LastUsedAt: &used, ExpiresAt: &expires, IssuedBy: u.ID, State: "active"},
			{ID: "tok-old", UserID: u.ID, Label: "old laptop", CreatedAt: created, RevokedAt: &revoked, IssuedBy: "root", State: "revoked"},
		}, NextCursor: "c2"}
	}
	c := h.client()
	c.signIn("opsf_alice")
	return h, c
}

// newTokenAnswer is the API's 201 to a token's creation.
func newTokenAnswer(user, label, issuer string) func(opsflow.User, []byte, *http.Request) (int, any) {
	return func(opsflow.User, []byte, *http.Request) (int, any) {
		exp := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
		return 201, map[string]any{"token": "opsf_S3cretOnlyShownOnce", "id": "tok-new", "user_id": user, "label": label,
			"created_at": time.Now().UTC(), "expires_at": exp, "issued_by": issuer, "state": "active"}
	}
}

// Settings lists the person's tokens (never a secret), with Revoke for
// the active ones and the one they signed in with marked, and a form to
// create one — a plain form, since its answer is the page itself.
func TestSettingsListsMyTokens(t *testing.T) {
	h, c := tokensHarness(t)
	p := c.do("GET", "/settings", nil)
	if p.Status != http.StatusOK {
		t.Fatalf("settings: %d", p.Status)
	}
	mustContain(t, "the token list", between(p.Body, `id="tokens-title"`, "</section>"),
		`<tr id="token-tok-alice">`, `data-label="Label">browser <span class="badge">signed in with it</span>`, `<time datetime="2026-11-20T09:30:00Z">`,
		`action="/settings/tokens/tok-alice/revoke"`, "You signed in with this one: revoking it signs you out.",
		`old laptop <span class="by">issued by root</span>`, `class="badge state-revoked">revoked</span>`,
		`href="/settings?cursor=c2"`, `aria-label="Your API tokens: pages"`,
		`<form id="new-token"`, `action="/settings/tokens" data-once="1" novalidate`, `name="label"`, `name="expires" type="text" value="90d"`)
	if strings.Contains(p.Body, "/settings/tokens/tok-old/revoke") {
		t.Error("a revoked token is offered to be revoked")
	}
	if strings.Contains(between(p.Body, `<form id="new-token"`, "</form>"), "hx-post") {
		t.Error("the token form is swapped by htmx: its answer would be lost in place of the page")
	}
	if strings.Contains(p.Body, "opsf_") || strings.Contains(p.Body, `id="issued-secret"`) {
		t.Error("a secret on the settings page")
	}
	c.do("GET", "/settings?cursor=c2&x=y", nil)
	if q := h.api.query("GET", "/v1/me/tokens"); q != "cursor=c2" {
		t.Errorf("the next page asked ?%s", q)
	}
}

// A person linked to single sign-on is not offered to create a token (the
// API refuses it: the provider manages their access); their list stays.
func TestSettingsOffersNoTokenToASignOnUser(t *testing.T) {
	h, c := tokensHarness(t)
	h.api.routes["GET /v1/me"] = func(u opsflow.User, _ []byte, _ *http.Request) (int, any) {
		return 200, opsflow.Account{Profile: opsflow.Profile{ID: u.ID, Name: u.Name, Roles: u.Roles, Timezone: "UTC"},
			SSO: &opsflow.SSOLink{Issuer: "https://login.example.com", Subject: "00u-alice"}}
	}
	p := c.do("GET", "/settings", nil)
	tokens := between(p.Body, `id="tokens-title"`, "</section>")
	if p.Status != http.StatusOK || strings.Contains(tokens, `<form id="new-token"`) {
		t.Fatalf("a sign-on user is offered to create a token: %d", p.Status)
	}
	mustContain(t, "the sign-on note", tokens, "managed by your organisation's single sign-on", `<tr id="token-tok-alice">`)
}

// Creating a token answers with the Settings page itself, the secret on
// it once: not through a redirect, so it is in no cookie, no URL and no
// later page. The form's Idempotency-Key goes with it; the API's 409 for
// a repeat (a reload re-posting the form) and its 422 are said on the
// form, without the secret.
func TestCreateATokenShowsItOnce(t *testing.T) {
	h, c := tokensHarness(t)
	h.api.routes["POST /v1/me/tokens"] = newTokenAnswer("alice", "laptop", "alice")
	form := url.Values{csrfField: {c.csrf}, "_form": {"new-token"}, "_key": {"key-new"}, "label": {" laptop "}, "expires": {"30d"}}
	p := c.do("POST", "/settings/tokens", form)
	if p.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", p.Status, p.Header.Get("Location"))
	}
	got, _ := h.api.lastSent("POST", "/v1/me/tokens")
	if got.User != "alice" || got.Body != `{"expires":"30d","label":"laptop"}` || got.Key != "key-new" {
		t.Errorf("sent %+v", got)
	}
	box := between(p.Body, `<section class="issued"`, "</section>")
	mustContain(t, "the new token's box", box, "Your new API token", "Copy it now: it is shown this once.",
		`<input id="issued-secret" type="text" value="opsf_S3cretOnlyShownOnce" readonly`, `<span class="id">tok-new</span>`, "It acts as you, with your roles")
	mustContain(t, "the page", p.Body, "<h1>Your settings</h1>", `<tr id="token-tok-alice">`, `<form id="new-token"`)
	if strings.Contains(between(p.Body, `<form id="new-token"`, "</form>"), "key-new") {
		t.Error("the form after a creation carries the used key: a second token would be refused as a repeat")
	}
	if p.Header.Get("Location") != "" || p.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", p.Header)
	}
	for _, ck := range p.Header.Values("Set-Cookie") {
		if strings.Contains(ck, "S3cret") || strings.HasPrefix(ck, flashCookie+"=") && !strings.Contains(ck, "Max-Age=0") {
			t.Errorf("a cookie set with the answer: %s", ck)
		}
	}
	if p := c.do("GET", "/settings", nil); strings.Contains(p.Body, "S3cret") || strings.Contains(p.Body, `id="issued-secret"`) {
		t.Error("the secret is shown again on the next page")
	}

	// A reload posts the form again, with its key: the API issues nothing
	// and says which token the first post made.
	h.api.routes["POST /v1/me/tokens"] = apiError(409, opsflow.Error{Code: "conflict", Field: "Idempotency-Key", State: "active",
		Message: "this request was answered before (the same Idempotency-Key): it issued token tok-new (\"laptop\"); its secret cannot be shown again: if you did not keep it, revoke tok-new and create a new token"})
	p = c.do("POST", "/settings/tokens", form)
	if p.Status != http.StatusConflict {
		t.Fatalf("a repeat: %d", p.Status)
	}
	mustContain(t, "the repeat", between(p.Body, `<form id="new-token"`, "</form>"), `class="form-error" role="alert"`, "revoke tok-new and create a new token")
	if strings.Contains(p.Body, "S3cret") || strings.Contains(p.Body, `id="issued-secret"`) {
		t.Error("a repeat shows a secret")
	}
	// Refused: next to the field, what was typed kept.
	h.api.routes["POST /v1/me/tokens"] = apiError(422, opsflow.Error{Code: "invalid", Field: "expires", Message: "expires 2031-01-01T00:00:00Z lies more than 2 years ahead"})
	form.Set("expires", "2031-01-01")
	form.Set("_key", "key-2")
	p = c.do("POST", "/settings/tokens", form)
	if p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("refused: %d", p.Status)
	}
	mustContain(t, "the expiry", field(p.Body, "expires"), "more than 2 years ahead", `aria-invalid="true"`, `value="2031-01-01"`)
	mustContain(t, "the label", field(p.Body, "label"), `value=" laptop "`)

	// Should the page not build after the token was made, the answer is
	// still the secret (it cannot be read again), on a page of its own.
	h.api.routes["POST /v1/me/tokens"] = newTokenAnswer("alice", "laptop", "alice")
	h.api.routes["GET /v1/me"] = apiError(503, opsflow.Error{Code: "unavailable", Message: "the database did not answer"})
	p = c.do("POST", "/settings/tokens", url.Values{csrfField: {c.csrf}, "_form": {"new-token"}, "_key": {"key-3"}, "label": {"laptop"}})
	if p.Status != http.StatusCreated || !strings.Contains(p.Body, `value="opsf_S3cretOnlyShownOnce"`) || !strings.Contains(p.Body, `<a href="/settings">Back</a>`) {
		t.Errorf("the secret when the page does not build: %d %s", p.Status, between(p.Body, "<main", "</main>"))
	}
}

// Revoke posts the token's route with no body, as the person, and says
// so; revoking the token one signed in with says one is signed out.
func TestRevokeMyToken(t *testing.T) {
	h, c := tokensHarness(t)
	for id, says := range map[string]string{
		"tok-x":     "Your token “spare” (tok-x) is revoked.",
		"tok-alice": "You had signed in with it: sign in again with another.",
	} {
		h.api.routes["POST /v1/me/tokens/"+id+"/revoke"] = func(u opsflow.User, _ []byte, _ *http.Request) (int, any) {
			return 200, apiToken{ID: id, UserID: u.ID, Label: "spare", State: "revoked"}
		}
		p := c.do("POST", "/settings/tokens/"+id+"/revoke", url.Values{csrfField: {c.csrf}, "_form": {"revoke-" + id}, "_key": {"k-" + id}})
		if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/settings" {
			t.Fatalf("revoke %s: %d %s", id, p.Status, p.Header.Get("Location"))
		}
		got, _ := h.api.lastSent("POST", "/v1/me/tokens/"+id+"/revoke")
		if got.User != "alice" || got.Body != "" {
			t.Errorf("sent %+v", got)
		}
		if p := c.do("GET", "/settings", nil); !strings.Contains(p.Body, says) {
			t.Errorf("revoke %s: no message %q", id, says)
		}
	}
	// Not hers (the API's 404): said, nothing else.
	h.api.routes["POST /v1/me/tokens/tok-bob/revoke"] = apiError(404, opsflow.Error{Code: "not_found", Message: "no such token: tok-bob"})
	p := c.do("POST", "/settings/tokens/tok-bob/revoke", url.Values{csrfField: {c.csrf}, "_form": {"revoke-tok-bob"}, "_key": {"k"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("someone else's: %d", p.Status)
	}
	if p := c.do("GET", "/settings", nil); !strings.Contains(p.Body, "Not applied: no such token: tok-bob") {
		t.Error("no message about a token not hers")
	}
}

// An administrator issues a person's first token on their page: the
// answer is that page with the secret on it, once; a missing reason is
// said next to it.
func TestIssueATokenOnAUsersPage(t *testing.T) {
	h, c := usersHarness(t)
	p := c.do("GET", "/admin/users/ben", nil)
	mustContain(t, "ben's page", between(p.Body, `id="tokens-title"`, "</section>"), `<a href="/admin/tokens?user=ben" id="user-tokens">Their tokens</a>`,
		`<form id="issue-token"`, `action="/admin/users/ben/tokens" data-once="1"`, `name="reason"`, `value="90d"`, "It acts as Ben Ode, with their roles")

	h.api.routes["POST /v1/admin/users/ben/tokens"] = apiError(422, opsflow.Error{Code: "invalid", Field: "reason", Message: "say why you issue ben a token"})
	form := url.Values{csrfField: {c.csrf}, "_form": {"issue-token"}, "_key": {"key-ben"}, "label": {"first token"}, "expires": {"7d"}}
	p = c.do("POST", "/admin/users/ben/tokens", form)
	if p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("without a reason: %d", p.Status)
	}
	issue := between(p.Body, `<form id="issue-token"`, "</form>")
	mustContain(t, "the reason", field(issue, "reason"), "say why you issue ben a token", `aria-invalid="true"`)
	mustContain(t, "the label", field(issue, "label"), `value="first token"`)

	h.api.routes["POST /v1/admin/users/ben/tokens"] = newTokenAnswer("ben", "first token", "root")
	form.Set("reason", "new starter, handed over in person")
	form.Set("_key", "key-ben-2")
	p = c.do("POST", "/admin/users/ben/tokens", form)
	if p.Status != http.StatusCreated {
		t.Fatalf("issue: %d", p.Status)
	}
	got, _ := h.api.lastSent("POST", "/v1/admin/users/ben/tokens")
	if got.User != "root" || got.Body != `{"expires":"7d","label":"first token","reason":"new starter, handed over in person"}` || got.Key != "key-ben-2" {
		t.Errorf("sent %+v", got)
	}
	mustContain(t, "ben's page with the token", p.Body, "<h1>Ben Ode", "A new API token for Ben Ode", `value="opsf_S3cretOnlyShownOnce"`, "It acts as Ben Ode, with their roles.")
	if p := c.do("GET", "/admin/users/ben", nil); strings.Contains(p.Body, "S3cret") {
		t.Error("the secret is shown again")
	}
	// Others may not.
	o := h.client()
	o.signIn("opsf_alice")
	if p := o.do("POST", "/admin/users/ben/tokens", url.Values{csrfField: {o.csrf}, "_form": {"issue-token"}, "_key": {"k"}, "label": {"x"}, "reason": {"x"}}); p.Status != http.StatusForbidden {
		t.Errorf("alice issues a token: %d", p.Status)
	}
	if got, _ := h.api.lastSent("POST", "/v1/admin/users/ben/tokens"); got.User != "root" {
		t.Errorf("sent for alice: %+v", got)
	}
}

// The Admin page's tokens: filtered by holder and state, the filters
// passed on to the API and kept by the pager and by Revoke's way back; a
// filter the API refuses is said next to it.
func TestAdminTokenFilters(t *testing.T) {
	h, c := adminHarness(t)
	p := c.do("GET", "/admin", nil)
	mustContain(t, "the overview's tokens", between(p.Body, `id="tokens-title"`, "</section>"),
		`<form method="get" action="/admin/tokens" class="filters" aria-label="Find tokens">`, `<option value="revoked">revoked</option>`)

	h.api.routes["GET /v1/admin/tokens"] = func(_ opsflow.User, _ []byte, r *http.Request) (int, any) {
		if st := r.URL.Query().Get("state"); st == "lost" {
			return 422, map[string]any{"error": opsflow.Error{Code: "invalid", Field: "state", Message: "state must be active, revoked or expired"}}
		}
		return 200, opsflow.Page[apiToken]{Items: []apiToken{{ID: "tok-a1", UserID: "alice", Label: "laptop", State: "active", IssuedBy: "root"}}, NextCursor: "c7"}
	}
	p = c.do("GET", "/admin/tokens?user=alice&state=active&x=y", nil)
	if q := h.api.query("GET", "/v1/admin/tokens"); q != "state=active&user=alice" {
		t.Errorf("the list asked ?%s", q)
	}
	mustContain(t, "the filtered list", p.Body, `name="user" type="search" value="alice"`, `<option value="active" selected>active</option>`,
		`href="/admin/tokens?cursor=c7&amp;state=active&amp;user=alice"`, `laptop <span class="by">issued by root</span>`,
		`name="_back" value="/admin/tokens?state=active&amp;user=alice"`)

	// Revoke comes back to the filtered list.
	h.api.routes["POST /v1/admin/tokens/tok-a1/revoke"] = func(opsflow.User, []byte, *http.Request) (int, any) {
		return 200, apiToken{ID: "tok-a1", UserID: "alice", State: "revoked"}
	}
	p = c.do("POST", "/admin/tokens/tok-a1/revoke", url.Values{csrfField: {c.csrf}, "_form": {"revoke-tok-a1"}, "_key": {"k"}, "_back": {"/admin/tokens?state=active&user=alice"}})
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/admin/tokens?state=active&user=alice" {
		t.Errorf("revoke: %d to %s", p.Status, p.Header.Get("Location"))
	}

	p = c.do("GET", "/admin/tokens?state=lost", nil)
	if p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("a bad state: %d", p.Status)
	}
	mustContain(t, "a bad state", between(p.Body, `id="q-state"`, "</div>"), `aria-invalid="true"`, "state must be active, revoked or expired")
	if strings.Contains(p.Body, "No token matches") || strings.Contains(p.Body, `id="token-tok-a1"`) {
		t.Error("a refused filter lists something, or says nothing matches")
	}
}
