package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

// usersHarness is the admin harness with two people the fake API knows:
// ann, with a signing password (locked) and a sign-on identity, and ben,
// with neither.
func usersHarness(t *testing.T) (*harness, *client) {
	h, c := adminHarness(t)
	set, until := time.Date(2026, 9, 14, 8, 0, 0, 0, time.UTC), time.Now().Add(time.Hour).UTC()
	ann := opsflow.Account{Profile: opsflow.Profile{ID: "ann", Name: "Ann Lee", Roles: []opsflow.Role{opsflow.RoleOwner}, Email: "ann@example.com", Timezone: "Europe/Berlin"},
		SigningPasswordSet: true, SigningPasswordSetAt: &set, SigningLocked: true, SigningLockedUntil: &until,
		SSO: &opsflow.SSOLink{Issuer: "https://login.example.com", Subject: "00u-ann"}}
	ben := opsflow.Account{Profile: opsflow.Profile{ID: "ben", Name: "Ben Ode", Roles: []opsflow.Role{opsflow.RoleApprover, opsflow.RoleAuditor}, Timezone: "UTC"}}
	h.api.routes["GET /v1/users"] = func(_ opsflow.User, _ []byte, r *http.Request) (int, any) {
		if role := r.URL.Query().Get("role"); role == "wizard" {
			return 422, map[string]any{"error": opsflow.Error{Code: "invalid", Field: "role", Message: "role must be one of requester, owner, …"}}
		}
		return 200, opsflow.Page[opsflow.Account]{Items: []opsflow.Account{ann, ben}, NextCursor: "c-ben"}
	}
	for _, u := range []opsflow.Account{ann, ben} {
		h.api.routes["GET /v1/users/"+u.ID] = func(opsflow.User, []byte, *http.Request) (int, any) { return 200, u }
	}
	h.api.routes["GET /v1/users/zoe"] = apiError(404, opsflow.Error{Code: "not_found", Message: "no user zoe"})
	return h, c
}

// Only administrators have the people's pages and their forms; nothing of
// theirs reaches the API for anyone else.
func TestUsersPagesAreAnAdministratorsOnly(t *testing.T) {
	h, root := usersHarness(t)
	if p := root.do("GET", "/admin", nil); !strings.Contains(p.Body, `<a href="/admin/users">Users</a>`) {
		t.Errorf("the Admin page does not link the users: %s", between(p.Body, `class="subnav"`, "</nav>"))
	}
	n := len(h.api.sent)
	for _, tok := range []string{"opsf_alice", "opsf_bob", "opsf_carol"} {
		o := h.client()
		o.signIn(tok)
		if p := o.do("GET", "/capas", nil); strings.Contains(p.Body, `href="/admin`) {
			t.Errorf("%s has a link to the admin pages", tok)
		}
		for _, path := range []string{"/admin/users", "/admin/users?role=owner", "/admin/users/ann"} {
			if p := o.do("GET", path, nil); p.Status != http.StatusForbidden || !strings.Contains(p.Body, "for administrators") {
				t.Errorf("%s GET %s: %d", tok, path, p.Status)
			}
		}
		for _, path := range []string{"/admin/users", "/admin/users/ann", "/admin/users/ann/unlock-signing", "/admin/users/ann/sso", "/admin/users/ann/sso/unlink", "/admin/users/ann/tokens"} {
			form := url.Values{csrfField: {o.csrf}, "_form": {"x"}, "_key": {"k"}, "id": {"eve"}, "name": {"Eve"}, "roles": {"admin"}, "reason": {"x"}}
			if p := o.do("POST", path, form); p.Status != http.StatusForbidden {
				t.Errorf("%s POST %s: %d", tok, path, p.Status)
			}
		}
	}
	for _, s := range h.api.sent[n:] {
		if strings.HasPrefix(s.Path, "/v1/users") || strings.HasPrefix(s.Path, "/v1/admin/") {
			t.Errorf("sent for a non-administrator: %+v", s)
		}
	}
}

// The list: the API's answer as a table, its filters passed on, a pager,
// and a bad filter said next to it.
func TestUsersList(t *testing.T) {
	h, c := usersHarness(t)
	p := c.do("GET", "/admin/users", nil)
	if p.Status != http.StatusOK {
		t.Fatalf("users: %d %s", p.Status, between(p.Body, "<main", "</main>"))
	}
	mustContain(t, "the users page", p.Body, "<h1>Admin: users</h1>", `<a href="/admin/users" aria-current="page">Users</a>`,
		`<a href="/admin" aria-current="page">Admin`, // the top navigation's
		`<a href="/admin/users/ann" class="id">ann</a>`, `data-label="Roles">approver, auditor</td>`, `ann@example.com`,
		`data-label="Signing password">set <span class="by">14 Sep 2026</span> <span class="badge late">locked</span>`,
		`<span class="sso">00u-ann</span> <span class="by">at https://login.example.com</span>`, `data-label="Signing password">not set</td>`,
		`href="/admin/users?cursor=c-ben"`, `<summary>New user</summary>`, `<form id="new-user"`)
	mustContain(t, "Ben's row", between(p.Body, `id="user-ben"`, "</tr>"), `data-label="Single sign-on">—</td>`, `data-label="E-mail">—</td>`)

	p = c.do("GET", "/admin/users?role=owner&q=lee&cursor=c-ben&x=y", nil)
	if q := h.api.query("GET", "/v1/users"); q != "cursor=c-ben&q=lee&role=owner" {
		t.Errorf("the list asked ?%s", q)
	}
	mustContain(t, "the filtered page", p.Body, `<option value="owner" selected>owner</option>`, `name="q" type="search" value="lee"`,
		`href="/admin/users?q=lee&amp;role=owner">First page</a>`)

	p = c.do("GET", "/admin/users?role=wizard", nil)
	if p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("a bad role: %d", p.Status)
	}
	mustContain(t, "a bad role", between(p.Body, `id="q-role"`, "</div>"), `aria-invalid="true"`, "role must be one of")
}

// A new user: PUT /v1/users/{id} with the form's ID and body, create-only
// (If-None-Match: *); an ID that is taken is refused before anything is
// sent, or by the API if taken meanwhile; the API's 422 is put next to its
// field, what was typed stays.
func TestNewUserForm(t *testing.T) {
	h, c := usersHarness(t)
	form := func(vals ...string) url.Values {
		v := url.Values{csrfField: {c.csrf}, "_form": {"new-user"}, "_key": {"k"}}
		for i := 0; i+1 < len(vals); i += 2 {
			v.Add(vals[i], vals[i+1])
		}
		return v
	}
	puts := func() int {
		n := 0
		for _, s := range h.api.sent {
			if s.Method == http.MethodPut {
				n++
			}
		}
		return n
	}
	// An ID taken: 409 on the ID, typed kept, nothing written.
	p := c.do("POST", "/admin/users", form("id", "ann", "name", "Ann Other", "roles", "owner"), "HX-Request", "true")
	if p.Status != http.StatusConflict || !strings.HasPrefix(strings.TrimSpace(p.Body), `<form id="new-user"`) {
		t.Fatalf("an ID taken: %d %.300s", p.Status, p.Body)
	}
	mustContain(t, "the ID", field(p.Body, "id"), `value="ann"`, "user ann exists already (Ann Lee, owner)", `aria-invalid="true"`)
	mustContain(t, "the name", field(p.Body, "name"), `value="Ann Other"`)
	if n := puts(); n != 0 {
		t.Errorf("%d PUTs for an ID taken", n)
	}
	// No ID: said at once.
	p = c.do("POST", "/admin/users", form("name", "Zoe"), "HX-Request", "true")
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(field(p.Body, "id"), "enter the new user&#39;s ID") {
		t.Errorf("no ID: %d %s", p.Status, field(p.Body, "id"))
	}
	// The API's refusal, next to its field (the roles' checkboxes).
	h.api.routes["PUT /v1/users/zoe"] = apiError(422, opsflow.Error{Code: "invalid", Field: "roles", Message: "a new user needs at least one role"})
	p = c.do("POST", "/admin/users", form("id", " zoe ", "name", "Zoe Park", "email", "zoe@example.com"), "HX-Request", "true")
	if p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("no roles: %d", p.Status)
	}
	mustContain(t, "the roles", between(p.Body, `id="f-new-user-roles"`, "</fieldset>"), "a new user needs at least one role", `aria-invalid="true"`)
	mustContain(t, "the refused form", p.Body, `value="zoe@example.com"`, `value="Zoe Park"`)
	// Created: the body is the route's, the ID its path; on to their page.
	// Taken a moment ago by someone else: the create-only PUT's 409.
	h.api.routes["PUT /v1/users/zoe"] = func(_ opsflow.User, _ []byte, r *http.Request) (int, any) {
		if r.Header.Get("If-None-Match") != "*" {
			t.Errorf("a create without If-None-Match: * would change a user who exists")
		}
		return 409, map[string]any{"error": opsflow.Error{Code: "conflict", Field: "id", Message: "user zoe exists already (Zoe Quick): change them instead"}}
	}
	p = c.do("POST", "/admin/users", form("id", "zoe", "name", "Zoe Park", "roles", "owner"), "HX-Request", "true")
	if p.Status != http.StatusConflict || !strings.Contains(field(p.Body, "id"), "exists already (Zoe Quick)") {
		t.Errorf("taken meanwhile: %d %s", p.Status, field(p.Body, "id"))
	}
	h.api.routes["PUT /v1/users/zoe"] = func(_ opsflow.User, body []byte, _ *http.Request) (int, any) {
		var u opsflow.Profile
		_ = json.Unmarshal(body, &u)
		u.ID = "zoe"
		return 201, opsflow.Account{Profile: u}
	}
	p = c.do("POST", "/admin/users", form("id", "zoe", "name", "Zoe Park", "roles", "owner", "roles", "approver", "email", "zoe@example.com", "timezone", ""))
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/admin/users/zoe" {
		t.Fatalf("create: %d %s", p.Status, p.Header.Get("Location"))
	}
	got, _ := h.api.lastSent("PUT", "/v1/users/zoe")
	if got.User != "root" || got.Body != `{"email":"zoe@example.com","name":"Zoe Park","roles":["owner","approver"]}` {
		t.Errorf("sent %+v", got)
	}
	h.api.routes["GET /v1/users/zoe"] = func(opsflow.User, []byte, *http.Request) (int, any) {
		return 200, opsflow.Account{Profile: opsflow.Profile{ID: "zoe", Name: "Zoe Park", Roles: []opsflow.Role{opsflow.RoleOwner, opsflow.RoleApprover}, Timezone: "UTC"}}
	}
	if p := c.do("GET", "/admin/users/zoe", nil); !strings.Contains(p.Body, "User zoe is created: Zoe Park, owner, approver.") {
		t.Errorf("no message after the creation: %s", between(p.Body, "<main", "</h1>"))
	}
}

// A person's page: what they are, and a form for each change, each
// posted to its API route as the administrator; refusals next to their
// field, a conflict with the person as they are now.
func TestUserPageForms(t *testing.T) {
	h, c := usersHarness(t)
	p := c.do("GET", "/admin/users/ann", nil)
	if p.Status != http.StatusOK {
		t.Fatalf("ann's page: %d %s", p.Status, between(p.Body, "<main", "</main>"))
	}
	mustContain(t, "ann's page", p.Body, `<h1>Ann Lee <span class="id">ann</span></h1>`, `<a href="/admin/users" aria-current="page">Users</a>`,
		`id="user-roles">owner</dd>`, `set, on <time datetime="2026-09-14T08:00:00Z">14 Sep 2026</time>`, "Signing is <strong>locked</strong>",
		`Linked to subject <span class="sso">00u-ann</span> at https://login.example.com`,
		`<form id="user-profile"`, `action="/admin/users/ann"`, `value="Ann Lee"`, `value="owner" checked`,
		`<form id="unlock-signing"`, `action="/admin/users/ann/unlock-signing"`,
		`<form id="link-sso"`, `action="/admin/users/ann/sso"`, "Link to another sign-on identity",
		`<form id="unlink-sso"`, `action="/admin/users/ann/sso/unlink"`)
	if strings.Contains(p.Body, `value="approver" checked`) {
		t.Error("a role ann does not hold is ticked")
	}
	// Ben has no signing password and no link: nothing to unlock or unlink.
	p = c.do("GET", "/admin/users/ben", nil)
	mustContain(t, "ben's page", p.Body, "They have not set a signing password", "Not linked", `<form id="link-sso"`)
	for _, no := range []string{`<form id="unlock-signing"`, `<form id="unlink-sso"`} {
		if strings.Contains(p.Body, no) {
			t.Errorf("ben's page offers %s", no)
		}
	}
	if p := c.do("GET", "/admin/users/zoe", nil); p.Status != http.StatusNotFound {
		t.Errorf("no such user: %d", p.Status)
	}

	post := func(action, form string, vals ...string) page {
		v := url.Values{csrfField: {c.csrf}, "_form": {form}, "_key": {"key-" + form}}
		for i := 0; i+1 < len(vals); i += 2 {
			v.Add(vals[i], vals[i+1])
		}
		return c.do("POST", action, v, "HX-Request", "true")
	}
	// A role change without a reason: the API's 422 next to the reason,
	// the name typed kept.
	h.api.routes["PUT /v1/users/ben"] = apiError(422, opsflow.Error{Code: "invalid", Field: "reason", Message: "say why ben's roles change: the reason is recorded in the audit trail"})
	p = post("/admin/users/ben", "user-profile", "name", "Ben Ode-Lee", "email", "", "timezone", "UTC", "roles", "approver", "roles", "owner")
	if p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("without a reason: %d", p.Status)
	}
	mustContain(t, "the reason", field(p.Body, "reason"), "say why ben&#39;s roles change", `aria-invalid="true"`, "autofocus")
	mustContain(t, "the refused form", p.Body, `value="Ben Ode-Lee"`, `value="owner" checked`)
	got, _ := h.api.lastSent("PUT", "/v1/users/ben")
	if got.Body != `{"email":"","name":"Ben Ode-Lee","roles":["approver","owner"],"timezone":"UTC"}` {
		t.Errorf("sent %s: preferences should be left out (they are the person's), an emptied address sent as empty (left out, the API keeps it)", got.Body)
	}
	// None ticked is no role ([]), which the API refuses; not "unchanged".
	post("/admin/users/ben", "user-profile", "name", "Ben Ode", "reason", "x")
	if got, _ := h.api.lastSent("PUT", "/v1/users/ben"); !strings.Contains(got.Body, `"roles":[]`) {
		t.Errorf("none ticked: %s", got.Body)
	}
	h.api.routes["PUT /v1/users/ben"] = func(opsflow.User, []byte, *http.Request) (int, any) {
		return 200, opsflow.Account{Profile: opsflow.Profile{ID: "ben", Name: "Ben Ode", Roles: []opsflow.Role{opsflow.RoleApprover, opsflow.RoleOwner}}}
	}
	p = post("/admin/users/ben", "user-profile", "name", "Ben Ode", "roles", "approver", "roles", "owner", "reason", "joined the board")
	if p.Status != http.StatusOK || !strings.Contains(p.Header.Get("HX-Location"), `"path":"/admin/users/ben"`) {
		t.Errorf("saved: %d %v", p.Status, p.Header)
	}

	// Unlock, link and unlink: each its route, method and body.
	ok := func(v any) func(opsflow.User, []byte, *http.Request) (int, any) {
		return func(opsflow.User, []byte, *http.Request) (int, any) { return 200, v }
	}
	annNow := opsflow.Account{Profile: opsflow.Profile{ID: "ann", Name: "Ann Lee"}, SSO: &opsflow.SSOLink{Issuer: "https://id.example.org", Subject: "ann-2"}}
	h.api.routes["POST /v1/admin/users/ann/unlock-signing"] = ok(opsflow.SigningLock{})
	h.api.routes["PUT /v1/admin/users/ann/sso"] = ok(annNow)
	h.api.routes["POST /v1/admin/users/ann/sso/unlink"] = ok(opsflow.Account{Profile: annNow.Profile})
	for _, b := range []struct {
		action, form, method, route string
		vals                        []string
		body, flash                 string
	}{
		{"/admin/users/ann/unlock-signing", "unlock-signing", "POST", "/v1/admin/users/ann/unlock-signing", []string{"reason", "checked by phone"},
			`{"reason":"checked by phone"}`, "Signing is unlocked."},
		{"/admin/users/ann/sso", "link-sso", "PUT", "/v1/admin/users/ann/sso", []string{"issuer", "https://id.example.org", "subject", " ann-2 ", "reason", "new provider"},
			`{"issuer":"https://id.example.org","reason":"new provider","subject":"ann-2"}`, "ann is linked to https://id.example.org subject ann-2."},
		{"/admin/users/ann/sso/unlink", "unlink-sso", "POST", "/v1/admin/users/ann/sso/unlink", []string{"reason", "left the provider"},
			`{"reason":"left the provider"}`, "ann is not linked to a sign-on identity any more."},
	} {
		v := url.Values{csrfField: {c.csrf}, "_form": {b.form}, "_key": {"key-" + b.form}}
		for i := 0; i+1 < len(b.vals); i += 2 {
			v.Set(b.vals[i], b.vals[i+1])
		}
		p := c.do("POST", b.action, v)
		if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/admin/users/ann" {
			t.Errorf("%s: %d %s", b.action, p.Status, p.Header.Get("Location"))
			continue
		}
		got, _ := h.api.lastSent(b.method, b.route)
		if got.User != "root" || got.Body != b.body {
			t.Errorf("%s sent %+v, want %s", b.action, got, b.body)
		}
		if p := c.do("GET", "/admin/users/ann", nil); !strings.Contains(p.Body, b.flash) {
			t.Errorf("%s: no message %q", b.action, b.flash)
		}
	}

	// The identity is someone else's (409): said next to the subject, on
	// the page as it is now (ann's link as the API reads it afresh).
	h.api.routes["PUT /v1/admin/users/ben/sso"] = apiError(409, opsflow.Error{Code: "conflict", Field: "subject", Message: "this sign-on identity is user ann's; unlink it there first"})
	p = c.do("POST", "/admin/users/ben/sso", url.Values{csrfField: {c.csrf}, "_form": {"link-sso"}, "_key": {"k"},
		"issuer": {"https://login.example.com"}, "subject": {"00u-ann"}, "reason": {"a mistake"}})
	if p.Status != http.StatusConflict {
		t.Fatalf("an identity taken: %d", p.Status)
	}
	mustContain(t, "the subject", field(p.Body, "subject"), "user ann&#39;s; unlink it there first. As it stands now: ben holds approver, auditor; no signing password; not linked to a sign-on identity.",
		`value="00u-ann"`, `aria-invalid="true"`)
	mustContain(t, "the page", p.Body, "<h1>Ben Ode", "Not linked")
	// A missing field the API names is put there too.
	h.api.routes["PUT /v1/admin/users/ben/sso"] = apiError(422, opsflow.Error{Code: "invalid", Field: "issuer", Message: "the issuer (the provider's URL, as in its tokens' iss) is required"})
	p = post("/admin/users/ben/sso", "link-sso", "subject", "x", "reason", "y")
	mustContain(t, "the issuer", field(p.Body, "issuer"), "the issuer (the provider&#39;s URL", `aria-invalid="true"`)
	mustContain(t, "the subject", field(p.Body, "subject"), `value="x"`)
}
