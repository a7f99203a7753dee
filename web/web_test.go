package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

// These tests run the web app against an in-memory store and a fake API
// (canned answers per route): no database, no Temporal, milliseconds.

var (
	alice = opsflow.User{ID: "alice", Name: "Alice Martin", Roles: []opsflow.Role{opsflow.RoleOwner, opsflow.RoleRequester}}
	bob   = opsflow.User{ID: "bob", Name: "Bob Chen", Roles: []opsflow.Role{opsflow.RoleApprover}}
	carol = opsflow.User{ID: "carol", Name: "Carol Nguyen", Roles: []opsflow.Role{opsflow.RoleAuditor}}
	root  = opsflow.User{ID: "root", Name: "Ops Admin", Roles: []opsflow.Role{opsflow.RoleAdmin}}
)

var tokens = map[string]opsflow.User{"opsf_alice": alice, "opsf_bob": bob, "opsf_carol": carol, "opsf_root": root}

type memStore struct {
	mu       sync.Mutex
	sessions map[string]opsflow.Session
	records  map[string]opsflow.Process
}

func (m *memStore) StartSession(_ context.Context, n opsflow.NewSession) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var u opsflow.User
	for _, x := range tokens {
		if x.ID == n.UserID {
			u = x
		}
	}
	secret := randomToken()
	m.sessions[secret] = opsflow.Session{User: u, Method: n.Method, CSRF: "csrf-" + u.ID, ExpiresAt: time.Now().Add(n.TTL)}
	if n.Token != "" {
		s := m.sessions[secret]
		s.TokenID = "tok-" + u.ID // which token it was: the store keeps its ID
		m.sessions[secret] = s
	}
	return secret, nil
}

func (m *memStore) Session(_ context.Context, secret string) (opsflow.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[secret]
	if !ok {
		return s, opsflow.Errorf(opsflow.EUNAUTHORIZED, "no session")
	}
	return s, nil
}

func (m *memStore) EndSession(_ context.Context, secret string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, secret)
	return nil
}

func (m *memStore) AdminCount(context.Context) (opsflow.AdminCount, error) {
	return opsflow.AdminCount{Stalled: 1, Failed: 2}, nil
}

func (m *memStore) InboxCount(context.Context, opsflow.User, time.Time, time.Duration) (opsflow.InboxCount, error) {
	return opsflow.InboxCount{Open: 3, Overdue: 1}, nil
}

func (m *memStore) GetProcesses(_ context.Context, ids []string) ([]opsflow.Process, error) {
	var out []opsflow.Process
	for _, id := range ids {
		if p, ok := m.records[id]; ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// fakeAPI answers from canned routes and records what it was sent.
type fakeAPI struct {
	mu     sync.Mutex
	routes map[string]func(u opsflow.User, body []byte, r *http.Request) (int, any)
	sent   []sent
	// bodies are the body types of routes besides POST /v1/capas, by
	// "METHOD /path" as the API's document names them; serves are the
	// routes it says it serves.
	bodies map[string]reflect.Type
	serves map[string]bool
}

type sent struct {
	User         string
	Method, Path string
	Body         string
	Key          string
	Query        string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	u, ok := tokens[tok]
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": opsflow.Error{Code: opsflow.EUNAUTHORIZED, Message: "invalid or revoked token"}})
		return
	}
	f.ServeAs(u, w, r)
}

func (f *fakeAPI) ServeAs(u opsflow.User, w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.sent = append(f.sent, sent{User: u.ID, Method: r.Method, Path: r.URL.Path, Body: string(body), Key: r.Header.Get("Idempotency-Key"), Query: r.URL.RawQuery})
	h := f.routes[r.Method+" "+r.URL.Path]
	f.mu.Unlock()
	if h == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no such route"}})
		return
	}
	status, v := h(u, body, r)
	writeJSON(w, status, v)
}

func (f *fakeAPI) Serves(method, path string) bool { return f.serves[method+" "+path] }

func (f *fakeAPI) Body(method, path string) reflect.Type {
	if method == http.MethodPost && path == "/v1/capas" {
		return reflect.TypeFor[opsflow.CAPARequest]()
	}
	return f.bodies[method+" "+path]
}

func (f *fakeAPI) last() sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.sent) - 1; i >= 0; i-- {
		if f.sent[i].Method == http.MethodPost {
			return f.sent[i]
		}
	}
	return sent{}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(status int, e opsflow.Error) func(opsflow.User, []byte, *http.Request) (int, any) {
	return func(opsflow.User, []byte, *http.Request) (int, any) { return status, map[string]any{"error": e} }
}

// reportedCAPA is a CAPA just reported by alice, who owns it.
func reportedCAPA() opsflow.CAPA {
	due := time.Now().Add(48 * time.Hour).UTC()
	return opsflow.CAPA{ID: "capa-1", Title: "Housing cracks", Type: "corrective", State: opsflow.CAPAReported, Owner: "alice", ReportedBy: "alice",
		Source: opsflow.CAPASource{Type: "complaint"}, Problem: opsflow.Problem{What: "cracks"}, Cycle: 1, OpenedAt: time.Now().UTC(),
		Containment: []opsflow.ContainmentAction{}, Actions: []opsflow.Action{}, Extensions: []opsflow.Extension{}, Signatures: []opsflow.Signature{},
		Tasks: []opsflow.Task{{ID: "triage-1", Kind: opsflow.CAPATaskPhase, Title: "Score the risk", Assignee: "alice", State: opsflow.TaskOpen, DueAt: &due, Weight: 1}}}
}

type harness struct {
	t     *testing.T
	app   *App
	api   *fakeAPI
	store *memStore
	srv   *httptest.Server
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	c := reportedCAPA()
	rec, _ := json.Marshal(c)
	api := &fakeAPI{routes: map[string]func(opsflow.User, []byte, *http.Request) (int, any){
		"GET /v1/me": func(u opsflow.User, _ []byte, _ *http.Request) (int, any) { return 200, u },
		"GET /v1/capas/capa-1": func(opsflow.User, []byte, *http.Request) (int, any) {
			return 200, json.RawMessage(rec)
		},
		"GET /v1/capas/capa-1/audit": func(opsflow.User, []byte, *http.Request) (int, any) {
			return 200, map[string]any{"items": []opsflow.AuditEvent{{Seq: 1, At: time.Now(), ActorID: "alice", ActorName: "Alice Martin", ActorRole: "requester",
				Action: "capa.reported", Field: "state", New: "reported", Reason: "corrective: Housing cracks"}}}
		},
		"GET /v1/capas": func(opsflow.User, []byte, *http.Request) (int, any) {
			return 200, opsflow.Page[json.RawMessage]{Items: []json.RawMessage{rec}}
		},
		"GET /v1/me/tokens": func(opsflow.User, []byte, *http.Request) (int, any) {
			return 200, opsflow.Page[apiToken]{Items: []apiToken{}}
		},
		"GET /v1/tasks": func(opsflow.User, []byte, *http.Request) (int, any) {
			return 200, opsflow.Page[opsflow.TaskRow]{Items: []opsflow.TaskRow{{Task: c.Tasks[0], ProcessID: c.ID, ProcessKind: opsflow.KindCAPA, ProcessTitle: c.Title}}}
		},
	}}
	store := &memStore{sessions: map[string]opsflow.Session{}, records: map[string]opsflow.Process{
		c.ID: {ID: c.ID, Kind: opsflow.KindCAPA, State: string(c.State), Record: rec}}}
	app := New(Config{Store: store, API: api, Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	return &harness{t: t, app: app, api: api, store: store, srv: srv}
}

// client is a browser without redirects followed, with a cookie jar.
type client struct {
	h    *harness
	http *http.Client
	csrf string
}

func (h *harness) client() *client {
	jar := &jar{cookies: map[string]*http.Cookie{}}
	return &client{h: h, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type jar struct {
	mu      sync.Mutex
	cookies map[string]*http.Cookie
}

func (j *jar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range cs {
		if c.MaxAge < 0 {
			delete(j.cookies, c.Name)
		} else {
			j.cookies[c.Name] = c
		}
	}
}

func (j *jar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*http.Cookie
	for _, c := range j.cookies {
		out = append(out, c)
	}
	return out
}

type page struct {
	Status int
	Header http.Header
	Body   string
}

func (c *client) do(method, path string, form url.Values, headers ...string) page {
	c.h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.h.srv.URL+path, body)
	if err != nil {
		c.h.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{Status: res.StatusCode, Header: res.Header, Body: string(b)}
}

// signIn signs in with a token through the sign-in form.
func (c *client) signIn(token string) page {
	c.h.t.Helper()
	p := c.do("GET", "/signin", nil)
	pre := between(p.Body, `name="_pre" value="`, `"`)
	res := c.do("POST", "/signin", url.Values{"_pre": {pre}, "token": {token}, "next": {"/capas"}})
	if u, ok := tokens[token]; ok {
		c.csrf = "csrf-" + u.ID
	}
	return res
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}

func TestSignInOut(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	if p := c.do("GET", "/capas/capa-1", nil); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/signin?next=%2Fcapas%2Fcapa-1" {
		t.Fatalf("anonymous page: %d %s", p.Status, p.Header.Get("Location"))
	}
	if p := c.signIn("opsf_nobody"); p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, "not valid") || strings.Contains(p.Body, "opsf_nobody") {
		t.Fatalf("bad token: %d, token echoed: %v", p.Status, strings.Contains(p.Body, "opsf_nobody"))
	}
	// A sign-in form from elsewhere (no matching pre-session token) fails.
	if p := c.do("POST", "/signin", url.Values{"_pre": {"forged"}, "token": {"opsf_alice"}}); p.Status != http.StatusForbidden {
		t.Fatalf("forged sign-in: %d", p.Status)
	}
	p := c.signIn("opsf_alice")
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/capas" {
		t.Fatalf("sign-in: %d %s", p.Status, p.Header.Get("Location"))
	}
	cookie := p.Header.Get("Set-Cookie")
	for _, want := range []string{sessionCookie + "=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(strings.Join(p.Header.Values("Set-Cookie"), "\n"), want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(strings.Join(p.Header.Values("Set-Cookie"), ""), "opsf_alice") || strings.Contains(p.Header.Get("Location"), "opsf_") {
		t.Error("the token is in a cookie or a URL")
	}
	home := c.do("GET", "/", nil)
	if home.Status != 200 || !strings.Contains(home.Body, "Alice Martin") || !strings.Contains(home.Body, "My work") || strings.Contains(home.Body, "opsf_alice") {
		t.Fatalf("my work: %d", home.Status)
	}
	if !strings.Contains(home.Header.Get("Content-Security-Policy"), "script-src 'self'") || home.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", home.Header)
	}
	// Signing out needs the CSRF token, and ends the session.
	if p := c.do("POST", "/signout", url.Values{}); p.Status != http.StatusForbidden {
		t.Fatalf("sign-out without CSRF: %d", p.Status)
	}
	if p := c.do("POST", "/signout", url.Values{csrfField: {c.csrf}}); p.Status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", p.Status)
	}
	if p := c.do("GET", "/", nil); p.Status != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", p.Status)
	}
	if len(h.store.sessions) != 0 {
		t.Error("the session outlived sign-out")
	}
}

func TestSecureCookieOverTLS(t *testing.T) {
	h := newHarness(t)
	srv := httptest.NewTLSServer(h.app)
	defer srv.Close()
	cl := srv.Client()
	res, err := cl.Get(srv.URL + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if c := res.Header.Get("Set-Cookie"); !strings.Contains(c, "Secure") {
		t.Errorf("cookie over TLS: %s", c)
	}
}

func TestEveryPostNeedsItsCSRFToken(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	c.signIn("opsf_alice")
	form := url.Values{"severity": {"4"}, "occurrence": {"3"}, "detection": {"4"}, "_form": {"triage"}, "_key": {"k1"}}
	if p := c.do("POST", "/capas/capa-1/triage", form); p.Status != http.StatusForbidden {
		t.Fatalf("without the token: %d", p.Status)
	}
	form.Set(csrfField, "csrf-bob")
	if p := c.do("POST", "/capas/capa-1/triage", form); p.Status != http.StatusForbidden {
		t.Fatalf("with another session's token: %d", p.Status)
	}
	form.Set(csrfField, c.csrf)
	if p := c.do("POST", "/capas/capa-1/triage", form, "Origin", "https://evil.example"); p.Status != http.StatusForbidden {
		t.Fatalf("from another site: %d", p.Status)
	}
	if n := len(h.api.sent); n > 0 && h.api.last().Method == "POST" {
		t.Fatalf("a refused post reached the API: %+v", h.api.last())
	}
}

func TestStepSendsTheStepsBodyAsThePerson(t *testing.T) {
	h := newHarness(t)
	h.api.routes["POST /v1/capas/capa-1/triage"] = func(opsflow.User, []byte, *http.Request) (int, any) {
		return 200, map[string]string{"id": "capa-1"}
	}
	c := h.client()
	c.signIn("opsf_alice")
	form := url.Values{csrfField: {c.csrf}, "_form": {"triage"}, "_key": {"key-1"}, "severity": {" 4 "}, "occurrence": {"3"}, "detection": {"4"}, "comment": {""}}
	p := c.do("POST", "/capas/capa-1/triage", form)
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/capas/capa-1" {
		t.Fatalf("step: %d %s", p.Status, p.Header.Get("Location"))
	}
	got := h.api.last()
	if got.User != "alice" || got.Path != "/v1/capas/capa-1/triage" || got.Key != "key-1" {
		t.Errorf("sent %+v", got)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(got.Body), &body); err != nil || body["severity"] != 4.0 || body["detection"] != 4.0 || len(body) != 3 {
		t.Errorf("body %s (%v)", got.Body, err)
	}
	// The next page says it was done.
	if p := c.do("GET", "/capas/capa-1", nil); !strings.Contains(p.Body, "Score the risk (reported → triage): done.") {
		t.Error("no message after the step")
	}
	// htmx is told where to go, and swaps the page in without a reload.
	p = c.do("POST", "/capas/capa-1/triage", form, "HX-Request", "true")
	if p.Status != 200 || !strings.Contains(p.Header.Get("HX-Location"), `"path":"/capas/capa-1"`) {
		t.Errorf("htmx step: %d %v", p.Status, p.Header)
	}
}

func TestRefusedStepShowsTheFieldErrorAndKeepsWhatWasTyped(t *testing.T) {
	h := newHarness(t)
	h.api.routes["POST /v1/capas/capa-1/triage"] = apiError(422, opsflow.Error{Code: "invalid", Field: "severity", Message: "severity must be from 1 to 5, not 9"})
	c := h.client()
	c.signIn("opsf_alice")
	form := url.Values{csrfField: {c.csrf}, "_form": {"triage"}, "_key": {"key-1"}, "severity": {"9"}, "occurrence": {"3"}, "detection": {"4"}, "comment": {"three returns"}}
	p := c.do("POST", "/capas/capa-1/triage", form, "HX-Request", "true")
	if p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", p.Status)
	}
	if !strings.HasPrefix(strings.TrimSpace(p.Body), `<form id="triage"`) {
		t.Fatalf("htmx gets the form alone: %.200s", p.Body)
	}
	field := between(p.Body, `name="severity"`, `</div>`)
	for _, want := range []string{`value="9"`, `aria-invalid="true"`, "severity must be from 1 to 5, not 9", "autofocus"} {
		if !strings.Contains(field, want) {
			t.Errorf("severity field lacks %s: %s", want, field)
		}
	}
	if !strings.Contains(p.Body, "three returns") {
		t.Error("the comment typed is lost")
	}
	if strings.Contains(p.Body, `value="key-1"`) {
		t.Error("a refused post's Idempotency-Key is reused: the corrected post would be refused as a different request")
	}
	// Without htmx the whole page comes back, the form open with the error.
	p = c.do("POST", "/capas/capa-1/triage", form)
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, "<html") || !strings.Contains(p.Body, "severity must be from 1 to 5") {
		t.Errorf("plain post: %d", p.Status)
	}
	// A form's own decoding error names the field too, without a round trip.
	form.Set("occurrence", "three")
	p = c.do("POST", "/capas/capa-1/triage", form, "HX-Request", "true")
	if f := between(p.Body, `name="occurrence"`, `</div>`); !strings.Contains(f, "enter a whole number") {
		t.Errorf("occurrence: %s", f)
	}
}

func TestConflictSaysWhereTheRecordStands(t *testing.T) {
	h := newHarness(t)
	h.api.routes["POST /v1/capas/capa-1/triage"] = apiError(409, opsflow.Error{Code: "conflict", State: "triage", Message: "triage is not possible while the CAPA is triage"})
	c := h.client()
	c.signIn("opsf_alice")
	form := url.Values{csrfField: {c.csrf}, "_form": {"triage"}, "_key": {"k"}, "severity": {"4"}}
	if p := c.do("POST", "/capas/capa-1/triage", form); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/capas/capa-1" {
		t.Fatalf("conflict: %d %s", p.Status, p.Header.Get("Location"))
	}
	p := c.do("GET", "/capas/capa-1", nil)
	if !strings.Contains(p.Body, "Not applied: triage is not possible while the CAPA is triage. The CAPA is triage now") {
		t.Errorf("no conflict message: %s", between(p.Body, "<main", "</main>"))
	}
}

func TestOnlyTheStepsThePersonMayTakeAreOffered(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		token string
		sees  []string
		not   []string
	}{
		{"opsf_alice", []string{`id="triage"`, `id="add-containment"`, "Cancel this CAPA"}, []string{`id="decide"`, "Inspection pack"}},
		{"opsf_bob", []string{`id="triage"`, "Cancel this CAPA"}, []string{`id="add-containment"`, `id="decide"`, "Inspection pack"}},
		{"opsf_carol", []string{"Nothing for you at this stage", "Inspection pack"}, []string{`id="triage"`, "Cancel this CAPA", `<form id=`}},
	} {
		cl := h.client()
		cl.signIn(c.token)
		p := cl.do("GET", "/capas/capa-1", nil)
		for _, s := range c.sees {
			if !strings.Contains(p.Body, s) {
				t.Errorf("%s does not see %s", c.token, s)
			}
		}
		for _, s := range c.not {
			if strings.Contains(p.Body, s) {
				t.Errorf("%s sees %s", c.token, s)
			}
		}
	}
}

func TestMyWorkOffersTheMovesOfEachTask(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	c.signIn("opsf_alice")
	p := c.do("GET", "/", nil)
	for _, want := range []string{"Score the risk", "Housing cracks", `/capas/capa-1/tasks/triage-1/start`, `name="_back" value="/"`, "Open to take the step",
		`<span class="count" aria-label="3 to do">3</span>`} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("my work lacks %s", want)
		}
	}
	// A phase task completes with its step, not by a task move.
	if strings.Contains(p.Body, "/capas/capa-1/tasks/triage-1/complete") {
		t.Error("a phase task offers complete")
	}
}

func TestReportCAPAFormBuildsTheRequest(t *testing.T) {
	h := newHarness(t)
	h.api.routes["POST /v1/capas"] = func(_ opsflow.User, body []byte, _ *http.Request) (int, any) {
		return 201, map[string]string{"id": "capa-2", "title": "Burr on edge"}
	}
	c := h.client()
	c.signIn("opsf_alice")
	form := url.Values{csrfField: {c.csrf}, "_form": {"report"}, "_key": {"k"}, "title": {"Burr on edge"}, "type": {"corrective"},
		"source.type": {"ncr"}, "source.refs": {"NCR-7\r\nNCR-8\n"}, "problem.what": {"burr"}, "problem.how_many": {"12"},
		"containment[0].description": {""}, "containment[0].owner": {""}, "containment[1].description": {"sort stock"}, "containment[1].owner": {"dave"}, "containment[1].due_days": {"2"}}
	p := c.do("POST", "/capas", form)
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/capas/capa-2" {
		t.Fatalf("report: %d %s", p.Status, p.Header.Get("Location"))
	}
	var req opsflow.CAPARequest
	if err := json.Unmarshal([]byte(h.api.last().Body), &req); err != nil {
		t.Fatal(err)
	}
	if req.Title != "Burr on edge" || len(req.Source.Refs) != 2 || req.Problem.HowMany != 12 || len(req.Containment) != 1 ||
		req.Containment[0].Owner != "dave" || req.Containment[0].Days != 2 {
		t.Errorf("request %+v", req)
	}
}

func TestFormDecoding(t *testing.T) {
	type row struct {
		Name string `json:"name"`
		N    int    `json:"n,omitempty"`
	}
	type body struct {
		Title   string     `json:"title"`
		Ok      *bool      `json:"ok"`
		Check   bool       `json:"check"`
		Price   *float64   `json:"price,omitempty"`
		When    *time.Time `json:"when,omitempty"`
		Tags    []string   `json:"tags"`
		Rows    []row      `json:"rows"`
		Nested  struct{ A string }
		Ignored map[string]any `json:"ignored"`
		Sig     struct {
			Password string `json:"signing_password"`
		} `json:"signature"`
		opsflow.Due
	}
	vals := url.Values{"title": {"  Hello  "}, "ok": {"false"}, "check": {"true"}, "price": {"1,5"}, "when": {"2026-12-01T09:30"},
		"tags": {"a\nb", "c"}, "rows[0].name": {""}, "rows[3].name": {"x"}, "rows[3].n": {"2"}, "rows[7].name": {"y"},
		"Nested.A": {"z"}, "due_days": {"3"}, "signature.signing_password": {" two spaces "}}
	b, renames, err := decodeForm(reflect.TypeFor[body](), vals)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	_ = json.Unmarshal(b, &got)
	want := `{"Nested":{"A":"z"},"check":true,"due_days":3,"ok":false,"price":1.5,"rows":[{"n":2,"name":"x"},{"name":"y"}],"signature":{"signing_password":" two spaces "},"tags":["a","b","c"],"title":"Hello","when":"2026-12-01T09:30:00Z"}`
	if string(b) != want {
		t.Errorf("decoded\n %s\nwant\n %s", b, want)
	}
	if renames["rows[0]"] != "rows[3]" || renames["rows[1]"] != "rows[7]" {
		t.Errorf("renames %v", renames)
	}
	if to, ok := renamed(renames, "rows[1].name"); !ok || to != "rows[7].name" {
		t.Errorf("renamed: %s", to)
	}
	for field, bad := range map[string]url.Values{"price": {"price": {"cheap"}}, "when": {"when": {"soon"}}, "rows[0].n": {"rows[0].n": {"2.5"}}, "ok": {"ok": {"maybe"}}} {
		_, _, err := decodeForm(reflect.TypeFor[body](), bad)
		if e := asError(err); e.Code != opsflow.EINVALID || e.Field != field {
			t.Errorf("%v: %+v", bad, e)
		}
	}
}

// Every step of every step table has a form, and every input of every
// form names a field of the step's body: the API's 422 names the same
// paths, so it lands next to the input.
func TestFormsMatchTheStepTable(t *testing.T) {
	for _, ki := range opsflow.Kinds() {
		for _, st := range ki.Steps {
			f := formFor(ki, st, ki.Kind.IDPrefix()+"1", "t1", "csrf")
			if isTaskStep(st) {
				if _, ok := taskFields[f.Verb]; !ok {
					t.Errorf("%s %s has no form", ki.Kind, st.Path)
				}
			} else if _, ok := stepFields[ki.Kind][st.Path]; !ok {
				t.Errorf("%s %s has no form", ki.Kind, st.Path)
			}
			if f.Submit == "Save" && st.Path != "triage" {
				t.Errorf("%s %s has no button label", ki.Kind, st.Path)
			}
			for _, name := range inputNames(f.Fields) {
				if st.Body == nil || !hasPath(st.Body, name) {
					t.Errorf("%s %s: input %q is not a field of its body %v", ki.Kind, st.Path, name, st.Body)
				}
			}
		}
	}
	// The forms posted to routes of their own, against the bodies the
	// fake API mirrors (the server's tests check them against its own).
	h := newHarness(t)
	h.api.mirrorBodies()
	for _, p := range CheckForms(h.api) {
		t.Error(p)
	}
}

func TestPlacingErrors(t *testing.T) {
	f := formFor(kindInfo(opsflow.KindCAPA), opsflow.CAPAStep.AddContainment.Step(), "capa-1", "", "x")
	for field, want := range map[string]string{
		"actions[1].description": "actions[1].description",
		"actions[0].due":         "actions[0].due_days",
		"actions":                "group",
		"something.else":         "summary",
	} {
		f.Error = &opsflow.Error{Code: "invalid", Field: field, Message: "wrong"}
		v := f.view()
		got := "summary"
		if len(v.Summary) == 0 {
			got = ""
			for _, it := range v.Items {
				if g := it.Group; g != nil {
					if g.Error != "" {
						got = "group"
					}
					for _, r := range g.Rows {
						for _, in := range r.Inputs {
							if in.Error != "" {
								got = in.Name
							}
						}
					}
				}
			}
		}
		if got != want {
			t.Errorf("error on %s shown at %s, want %s", field, got, want)
		}
	}
}

// The vendored htmx is the pinned release: a changed file fails here.
func TestHTMXIsThePinnedRelease(t *testing.T) {
	b, err := assetFS.ReadFile("assets/htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != htmxSHA256 {
		t.Errorf("htmx.min.js sha256 %s, want %s (htmx.org %s)", got, htmxSHA256, htmxVersion)
	}
	h := newHarness(t)
	res, err := http.Get(h.srv.URL + assetURL("htmx.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") || !strings.Contains(res.Header.Get("Content-Type"), "javascript") {
		t.Errorf("asset: %d %v", res.StatusCode, res.Header)
	}
}

func TestOwnsLeavesTheAPIItsPaths(t *testing.T) {
	for path, want := range map[string]bool{"/": true, "/capas/x": true, "/v1": false, "/v1/capas": false, "/v1x": true} {
		if Owns(path) != want {
			t.Errorf("Owns(%s) = %v", path, !want)
		}
	}
	for next, want := range map[string]string{"/capas": "/capas", "//evil.example": "/", "https://evil.example": "/", `/\evil`: "/", "": "/"} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q", next, got)
		}
	}
}

func TestDomID(t *testing.T) {
	for in, want := range map[string]string{"f|report|title": "f-report-title", "f|triage|actions[0].due_days": "f-triage-actions-0-due_days",
		"onb-1|tasks/contract/complete": "onb-1-tasks-contract-complete", "|x": "x", "a..b|": "a-b", "complete-action|c1-action-5": "complete-action-c1-action-5"} {
		if got := domID(strings.Split(in, "|")...); got != want {
			t.Errorf("domID(%q) = %q, want %q", in, got, want)
		}
	}
}
