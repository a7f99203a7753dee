package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/opsflow/opsflow"
)

// The Admin page lists what the API's admin routes answer, filtered as an
// administrator starts (stalled processes, failed deliveries), to the
// administrator alone.
func TestAdminPageIsAnAdministratorsOnly(t *testing.T) {
	h, c := adminHarness(t)
	p := c.do("GET", "/admin", nil)
	if p.Status != http.StatusOK {
		t.Fatalf("admin: %d %s", p.Status, between(p.Body, "<main", "</main>"))
	}
	mustContain(t, "the admin page", p.Body,
		`<a href="/onboardings/onb-1" class="id">onb-1</a>`, `class="badge kind-onboarding">onboarding</span>`,
		`<form id="retry-onb-1"`, `action="/admin/processes/onb-1/retry"`, `Retry<span class="visually-hidden"> onb-1</span>`,
		`action="/admin/processes/onb-1/abandon"`, `<label for="f-abandon-onb-1-reason">Why abandon onb-1</label>`,
		`action="/admin/notifications/d-7/retry"`, `<a href="/capas/capa-1" class="id">capa-1</a>`, `data-label="Attempts">3</td>`,
		`action="/admin/tokens/tok-a1/revoke"`, `<th scope="col">Holder</th>`, `name="_csrf" value="csrf-root"`,
		`href="/admin/processes?cursor=c2"`, `aria-label="Stalled processes: pages"`,
		`<span class="count overdue" aria-label="3 waiting: 1 stalled, 2 failed notifications">3</span>`) // the navigation's count
	if strings.Contains(p.Body, "/admin/tokens/tok-b2/revoke") {
		t.Error("a revoked token is offered to be revoked")
	}
	if strings.Contains(p.Body, "opsf_") {
		t.Error("a token's secret is in the page")
	}
	for path, want := range map[string]string{"GET /v1/admin/processes": "stalled=true", "GET /v1/admin/notifications": "state=failed"} {
		method, route, _ := strings.Cut(path, " ")
		if got, _ := h.api.lastSent(method, route); got.User != "root" {
			t.Errorf("%s sent as %q", path, got.User)
		}
		if q := h.api.query(method, route); q != want {
			t.Errorf("%s?%s, want %s", path, q, want)
		}
	}
	// A section's own page follows the API's cursor, and links back to the first.
	p = c.do("GET", "/admin/processes?cursor=c2", nil)
	mustContain(t, "the second page", p.Body, "<h1>Admin: stalled processes</h1>", `href="/admin/processes">First page</a>`, `<form id="retry-onb-1"`)
	if q := h.api.query("GET", "/v1/admin/processes"); q != "cursor=c2&stalled=true" {
		t.Errorf("the second page asked ?%s", q)
	}
	if strings.Contains(p.Body, "Failed notifications</h2>") {
		t.Error("a section's page shows the other sections")
	}
	if p := c.do("GET", "/admin/nosuch", nil); p.Status != http.StatusNotFound {
		t.Errorf("an unknown section: %d", p.Status)
	}

	// Others: no link, and the page (and its buttons) refused.
	n := len(h.api.sent)
	for _, tok := range []string{"opsf_alice", "opsf_bob", "opsf_carol"} {
		o := h.client()
		o.signIn(tok)
		if p := o.do("GET", "/capas", nil); strings.Contains(p.Body, `href="/admin"`) {
			t.Errorf("%s has a link to the Admin page", tok)
		}
		for _, path := range []string{"/admin", "/admin/tokens"} {
			if p := o.do("GET", path, nil); p.Status != http.StatusForbidden || !strings.Contains(p.Body, "for administrators") {
				t.Errorf("%s GET %s: %d", tok, path, p.Status)
			}
		}
		p := o.do("POST", "/admin/tokens/tok-a1/revoke", url.Values{csrfField: {o.csrf}, "_form": {"revoke-tok-a1"}, "_key": {"k"}})
		if p.Status != http.StatusForbidden {
			t.Errorf("%s revokes: %d", tok, p.Status)
		}
	}
	for _, s := range h.api.sent[n:] {
		if strings.HasPrefix(s.Path, "/v1/admin/") {
			t.Errorf("sent for a non-administrator: %+v", s)
		}
	}
}

// Each button posts its API route, as the administrator, with the body
// the route takes, and comes back to the page it was on.
func TestAdminButtonsPostTheirRoutes(t *testing.T) {
	h, c := adminHarness(t)
	ok := func(v any) func(opsflow.User, []byte, *http.Request) (int, any) {
		return func(opsflow.User, []byte, *http.Request) (int, any) { return 200, v }
	}
	h.api.routes["POST /v1/admin/processes/onb-1/retry"] = ok(map[string]any{"id": "onb-1"})
	h.api.routes["POST /v1/admin/processes/onb-1/abandon"] = ok(map[string]any{"id": "onb-1"})
	h.api.routes["POST /v1/admin/notifications/d-7/retry"] = ok(opsflow.Delivery{ID: "d-7", UserID: "alice", Channel: "email", State: "pending"})
	h.api.routes["POST /v1/admin/tokens/tok-a1/revoke"] = ok(map[string]any{"id": "tok-a1", "user_id": "alice", "state": "revoked"})
	for _, b := range []struct {
		action, form, back, reason string
		route, body, flash, to     string
	}{
		{"/admin/processes/onb-1/retry", "retry-onb-1", "/admin/processes", "",
			"/v1/admin/processes/onb-1/retry", `{}`, "onb-1 is retried", "/admin/processes"},
		{"/admin/processes/onb-1/abandon", "abandon-onb-1", "/admin", "duplicate of onb-2",
			"/v1/admin/processes/onb-1/abandon", `{"reason":"duplicate of onb-2"}`, "onb-1 is abandoned", "/admin"},
		{"/admin/notifications/d-7/retry", "resend-d-7", "/admin/notifications?cursor=c9", "",
			"/v1/admin/notifications/d-7/retry", ``, "The notification to alice by email is queued to be sent again", "/admin/notifications?cursor=c9"},
		{"/admin/tokens/tok-a1/revoke", "revoke-tok-a1", "https://evil.example/", "",
			"/v1/admin/tokens/tok-a1/revoke", ``, "Token tok-a1 of alice is revoked.", "/admin"},
	} {
		form := url.Values{csrfField: {c.csrf}, "_form": {b.form}, "_key": {"key-" + b.form}, "_back": {b.back}}
		if b.reason != "" {
			form.Set("reason", b.reason)
		}
		p := c.do("POST", b.action, form)
		if p.Status != http.StatusSeeOther || p.Header.Get("Location") != b.to {
			t.Errorf("%s: %d to %q, want %s", b.action, p.Status, p.Header.Get("Location"), b.to)
			continue
		}
		got, _ := h.api.lastSent("POST", b.route)
		if got.User != "root" || got.Body != b.body || got.Key != "key-"+b.form {
			t.Errorf("%s sent %+v, want body %q", b.action, got, b.body)
		}
		if p := c.do("GET", b.to, nil); !strings.Contains(p.Body, b.flash) {
			t.Errorf("%s: no message %q", b.action, b.flash)
		}
	}
}

// The API's refusals: a 422 next to the field it names, a 409 or 403 said
// on the form that was refused, a 409 about a row no longer listed said
// at the top of the page.
func TestAdminRefusalsAreShown(t *testing.T) {
	h, c := adminHarness(t)
	post := func(action, form string, vals ...string) page {
		v := url.Values{csrfField: {c.csrf}, "_form": {form}, "_key": {"k"}, "_back": {"/admin"}}
		for i := 0; i+1 < len(vals); i += 2 {
			v.Set(vals[i], vals[i+1])
		}
		return c.do("POST", action, v, "HX-Request", "true")
	}
	h.api.routes["POST /v1/admin/processes/onb-1/abandon"] = apiError(422, opsflow.Error{Code: "invalid", Field: "reason", Message: "say why the process is abandoned"})
	p := post("/admin/processes/onb-1/abandon", "abandon-onb-1", "reason", " ")
	if p.Status != http.StatusUnprocessableEntity || !strings.HasPrefix(strings.TrimSpace(p.Body), `<form id="abandon-onb-1"`) {
		t.Fatalf("abandon without a reason: %d %.200s", p.Status, p.Body)
	}
	mustContain(t, "the reason", field(p.Body, "reason"), "say why the process is abandoned", `aria-invalid="true"`, "autofocus")
	// Without htmx, the whole page, the abandon form unfolded.
	v := url.Values{csrfField: {c.csrf}, "_form": {"abandon-onb-1"}, "_key": {"k"}, "_back": {"/admin"}}
	p = c.do("POST", "/admin/processes/onb-1/abandon", v)
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, `<details class="more" open><summary>Abandon…`) {
		t.Errorf("the page with the refusal: %d", p.Status)
	}

	h.api.routes["POST /v1/admin/processes/onb-1/retry"] = apiError(409, opsflow.Error{Code: "conflict", State: "stalled",
		Message: "onb-1 stalled again: violates check constraint \"no_poison\""})
	p = post("/admin/processes/onb-1/retry", "retry-onb-1")
	if p.Status != http.StatusConflict || !strings.Contains(p.Body, `<div class="form-error" role="alert"><p>onb-1 stalled again`) {
		t.Errorf("a retry that stalls again: %d %s", p.Status, p.Body)
	}
	h.api.routes["POST /v1/admin/tokens/tok-a1/revoke"] = apiError(403, opsflow.Error{Code: "forbidden", Message: "this needs the admin role"})
	p = post("/admin/tokens/tok-a1/revoke", "revoke-tok-a1")
	if p.Status != http.StatusForbidden || !strings.Contains(p.Body, `role="alert"><p>this needs the admin role`) {
		t.Errorf("a refused revocation: %d %s", p.Status, p.Body)
	}
	// Someone else sent it meanwhile: the row is gone, the page says why.
	h.api.routes["POST /v1/admin/notifications/d-9/retry"] = apiError(409, opsflow.Error{Code: "conflict", State: "pending",
		Message: "delivery d-9 is pending; only a failed one is retried"})
	p = c.do("POST", "/admin/notifications/d-9/retry", url.Values{csrfField: {c.csrf}, "_form": {"resend-d-9"}, "_key": {"k"}, "_back": {"/admin/notifications"}})
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/admin/notifications" {
		t.Fatalf("a row gone: %d %s", p.Status, p.Header.Get("Location"))
	}
	if p := c.do("GET", "/admin/notifications", nil); !strings.Contains(p.Body, "Not applied: delivery d-9 is pending") {
		t.Error("no message about the row gone")
	}
}

// query is the query string of the last request the API was sent to path.
func (f *fakeAPI) query(method, path string) string {
	got, _ := f.lastSent(method, path)
	return got.Query
}

// adminHarness has every page's records and an administrator signed in.
func adminHarness(t *testing.T) (*harness, *client) {
	h := newHarness(t)
	h.addRecords()
	h.api.mirrorBodies()
	c := h.client()
	c.signIn("opsf_root")
	return h, c
}
