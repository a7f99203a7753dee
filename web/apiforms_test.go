package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

// The bodies of the routes the settings, report and measurement forms
// post to, as the server declares them (its own tests check the forms
// against the real ones with CheckForms).
type (
	profileBody struct {
		Email       *string              `json:"email,omitempty"`
		Timezone    string               `json:"timezone,omitempty"`
		Preferences *opsflow.Preferences `json:"preferences,omitempty"`
	}
	signingBody struct {
		Current string `json:"current_password,omitempty"`
		New     string `json:"new_password"`
	}
	runReportBody struct {
		Period   string `json:"period"`
		TimeZone string `json:"time_zone,omitempty"`
	}
	adminActionBody struct {
		Reason string `json:"reason"`
	}
	kpiPatchBody struct {
		Name        *string                 `json:"name,omitempty"`
		Description *string                 `json:"description,omitempty"`
		Owner       *string                 `json:"owner,omitempty"`
		Frequency   *opsflow.Frequency      `json:"frequency,omitempty"`
		Missing     *opsflow.MissingRule    `json:"missing,omitempty"`
		Method      *string                 `json:"method,omitempty"`
		Source      *string                 `json:"source,omitempty"`
		Thresholds  *opsflow.Thresholds     `json:"thresholds,omitempty"`
		Policy      *opsflow.ResponsePolicy `json:"policy,omitempty"`
		Rules       opsflow.ChartRules      `json:"rules,omitempty"`
		Reason      string                  `json:"reason,omitempty"`
	}
	baselineBody struct {
		Locked bool       `json:"locked"`
		N      int        `json:"n,omitempty"`
		From   *time.Time `json:"from,omitempty"`
		To     *time.Time `json:"to,omitempty"`
		Reason string     `json:"reason,omitempty"`
	}
	dividerBody struct {
		At    time.Time `json:"at"`
		Label string    `json:"label"`
	}
	userBody struct {
		Name        string               `json:"name,omitempty"`
		Roles       []opsflow.Role       `json:"roles,omitempty"`
		Email       *string              `json:"email,omitempty"`
		Timezone    string               `json:"timezone,omitempty"`
		Preferences *opsflow.Preferences `json:"preferences,omitempty"`
		Reason      string               `json:"reason,omitempty"`
	}
	ssoLinkBody struct {
		Issuer  string `json:"issuer"`
		Subject string `json:"subject"`
		Reason  string `json:"reason"`
	}
	tokenBody struct {
		Label   string `json:"label"`
		Expires string `json:"expires,omitempty"`
	}
	adminTokenBody struct {
		tokenBody
		Reason string `json:"reason"`
	}
	measurementBody struct {
		ID     string    `json:"id,omitempty"`
		Value  *float64  `json:"value,omitempty"`
		At     time.Time `json:"at,omitzero"`
		Source string    `json:"source,omitempty"`
	}
)

// mirrorBodies makes the fake serve those routes with those bodies.
func (f *fakeAPI) mirrorBodies() {
	f.bodies = map[string]reflect.Type{
		"PATCH /v1/kpis/{key}":                     reflect.TypeFor[kpiPatchBody](),
		"POST /v1/kpis/{key}/baseline":             reflect.TypeFor[baselineBody](),
		"POST /v1/kpis/{key}/dividers":             reflect.TypeFor[dividerBody](),
		"PUT /v1/me":                               reflect.TypeFor[profileBody](),
		"PUT /v1/me/signing-password":              reflect.TypeFor[signingBody](),
		"POST /v1/reports":                         reflect.TypeFor[runReportBody](),
		"POST /v1/kpis/{key}/measurements":         reflect.TypeFor[measurementBody](),
		"POST /v1/kpis":                            reflect.TypeFor[kpiBody](),
		"POST /v1/kpis/{key}/targets":              reflect.TypeFor[kpiTargetBody](),
		"POST /v1/capas":                           reflect.TypeFor[opsflow.CAPARequest](),
		"POST /v1/admin/processes/{id}/retry":      reflect.TypeFor[adminActionBody](),
		"POST /v1/admin/processes/{id}/abandon":    reflect.TypeFor[adminActionBody](),
		"PUT /v1/users/{id}":                       reflect.TypeFor[userBody](),
		"POST /v1/admin/users/{id}/unlock-signing": reflect.TypeFor[adminActionBody](),
		"PUT /v1/admin/users/{id}/sso":             reflect.TypeFor[ssoLinkBody](),
		"POST /v1/admin/users/{id}/sso/unlink":     reflect.TypeFor[adminActionBody](),
		"POST /v1/me/tokens":                       reflect.TypeFor[tokenBody](),
		"POST /v1/admin/users/{id}/tokens":         reflect.TypeFor[adminTokenBody](),
	}
	f.serves = map[string]bool{}
	for k := range f.bodies {
		f.serves[k] = true
	}
	f.serves["GET /v1/reports"] = true
	f.serves["POST /v1/admin/notifications/{id}/retry"] = true // no body: a button alone
	f.serves["POST /v1/admin/tokens/{id}/revoke"] = true
	f.serves["POST /v1/me/tokens/{id}/revoke"] = true
	f.serves["GET /v1/me/tokens"] = true
}

// lastSent is the last request the API was sent to path, as method.
func (f *fakeAPI) lastSent(method, path string) (sent, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.sent) - 1; i >= 0; i-- {
		if f.sent[i].Method == method && f.sent[i].Path == path {
			return f.sent[i], true
		}
	}
	return sent{}, false
}

// field is the HTML of the input named name, up to the end of its field.
func field(body, name string) string { return between(body, `name="`+name+`"`, `</div>`) }

func mustContain(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func TestSettingsPage(t *testing.T) {
	h := newHarness(t)
	h.api.mirrorBodies()
	profile := opsflow.Profile{ID: "alice", Name: "Alice Martin", Roles: alice.Roles, Email: "alice@example.com", Timezone: "Europe/Berlin",
		Preferences: opsflow.Preferences{Email: opsflow.DeliverImmediate, Slack: opsflow.DeliverOff, Teams: opsflow.DeliverOff, Webhook: opsflow.DeliverOff,
			DigestHour: opsflow.Ptr(7), AlwaysImmediate: []string{opsflow.NotifyEscalated, opsflow.NotifyApproval}, WebhookSecret: opsflow.MaskedSecret}}
	h.api.routes["GET /v1/me"] = func(opsflow.User, []byte, *http.Request) (int, any) { return 200, profile }
	c := h.client()
	c.signIn("opsf_alice")

	p := c.do("GET", "/settings", nil)
	if p.Status != http.StatusOK {
		t.Fatalf("settings: %d", p.Status)
	}
	mustContain(t, "the settings page", p.Body, "<h1>Your settings</h1>", `href="/settings" aria-current="page"`, `value="alice@example.com"`,
		`value="Europe/Berlin"`, `<legend>What reaches you where</legend>`, `<option value="7" selected>07:00</option>`,
		`value="escalated" checked`, `value="approval_requested" checked`, "One is stored: leave this empty to keep it.",
		`autocomplete="new-password"`)
	// No signing password yet: the page says so, and the form sets the
	// first, without asking for a current one.
	mustContain(t, "the signing password's state", between(p.Body, `id="signing-state"`, "</p>"), "<strong>not set</strong>")
	mustContain(t, "the signing password form", between(p.Body, `<form id="signing-password"`, "</form>"), "Set my signing password")
	if strings.Contains(p.Body, `name="current_password"`) {
		t.Error("the first signing password is asked for a current one")
	}
	if strings.Contains(p.Body, `value="assigned" checked`) || strings.Contains(p.Body, opsflow.MaskedSecret) {
		t.Error("an unticked kind is ticked, or the stored secret's mask is in the page")
	}
	// One set: when, whether signing is locked, and the form changes it.
	set, until := time.Date(2026, 10, 2, 9, 30, 0, 0, time.UTC), time.Now().Add(time.Hour).UTC()
	h.api.routes["GET /v1/me"] = func(opsflow.User, []byte, *http.Request) (int, any) {
		return 200, opsflow.Account{Profile: profile, SigningPasswordSet: true, SigningPasswordSetAt: &set, SigningLocked: true, SigningLockedUntil: &until}
	}
	p = c.do("GET", "/settings", nil)
	mustContain(t, "the signing password's state", between(p.Body, `id="signing-state"`, "</p>"),
		"<strong>set</strong>", `on <time datetime="2026-10-02T09:30:00Z">2 Oct 2026</time>`, "<strong>locked</strong> until", "an administrator can unlock it")
	mustContain(t, "the signing password form", between(p.Body, `<form id="signing-password"`, "</form>"),
		"Change my signing password", `autocomplete="current-password"`, `autocomplete="new-password"`)
	h.api.routes["GET /v1/me"] = func(opsflow.User, []byte, *http.Request) (int, any) { return 200, profile }

	// Everyone has the page, and the link to it.
	for _, tok := range []string{"opsf_bob", "opsf_carol"} {
		o := h.client()
		o.signIn(tok)
		if p := o.do("GET", "/capas", nil); !strings.Contains(p.Body, `<a href="/settings" >Settings</a>`) {
			t.Errorf("%s has no link to the settings", tok)
		}
	}

	// Saved: the API gets every preference, as the form set it.
	h.api.routes["PUT /v1/me"] = func(_ opsflow.User, body []byte, _ *http.Request) (int, any) { return 200, profile }
	form := url.Values{csrfField: {c.csrf}, "_form": {"profile"}, "_key": {"k1"}, "email": {"alice@example.org"}, "timezone": {"Europe/Paris"},
		"preferences.email": {"digest"}, "preferences.slack": {"off"}, "preferences.teams": {"off"}, "preferences.webhook": {"off"},
		"preferences.digest_hour": {"6"}, "preferences.always_immediate": {"escalated"}, "preferences.webhook_secret": {""}}
	p = c.do("POST", "/settings/profile", form)
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/settings" {
		t.Fatalf("save: %d %s", p.Status, p.Header.Get("Location"))
	}
	got, _ := h.api.lastSent("PUT", "/v1/me")
	var body profileBody
	if err := json.Unmarshal([]byte(got.Body), &body); err != nil {
		t.Fatal(err)
	}
	pr := body.Preferences
	if pr == nil || body.Email == nil {
		t.Fatalf("sent %s: no preferences or no email", got.Body)
	}
	if got.User != "alice" || *body.Email != "alice@example.org" || body.Timezone != "Europe/Paris" || pr.Email != "digest" || pr.Hour() != 6 ||
		len(pr.AlwaysImmediate) != 1 || pr.WebhookSecret != opsflow.MaskedSecret {
		t.Errorf("sent %s", got.Body)
	}
	if p := c.do("GET", "/settings", nil); !strings.Contains(p.Body, "Your settings are saved.") {
		t.Error("no message after saving")
	}
	// None ticked is none, not the API's defaults.
	form.Del("preferences.always_immediate")
	c.do("POST", "/settings/profile", form)
	if got, _ := h.api.lastSent("PUT", "/v1/me"); !strings.Contains(got.Body, `"always_immediate":[]`) {
		t.Errorf("none ticked: %s", got.Body)
	}
	// An address emptied is removed (left out, the API would keep it).
	form.Set("email", "")
	c.do("POST", "/settings/profile", form)
	if got, _ := h.api.lastSent("PUT", "/v1/me"); !strings.Contains(got.Body, `"email":""`) {
		t.Errorf("address emptied: %s", got.Body)
	}
	form.Set("email", "alice@example.org")

	// Refused: the error is next to the field the API names, what was
	// typed stays, and a secret typed is never sent back.
	h.api.routes["PUT /v1/me"] = apiError(422, opsflow.Error{Code: "invalid", Field: "preferences.slack_webhook", Message: "slack_webhook is needed to deliver on that channel"})
	form.Set("preferences.slack", "immediate")
	form.Set("preferences.webhook_secret", "a secret of twenty chars")
	p = c.do("POST", "/settings/profile", form, "HX-Request", "true")
	if p.Status != http.StatusUnprocessableEntity || !strings.HasPrefix(strings.TrimSpace(p.Body), `<form id="profile"`) {
		t.Fatalf("refused: %d %.200s", p.Status, p.Body)
	}
	mustContain(t, "the Slack address", field(p.Body, "preferences.slack_webhook"), `aria-invalid="true"`, "slack_webhook is needed", "autofocus")
	mustContain(t, "the refused form", p.Body, `value="Europe/Paris"`, `<option value="immediate" selected>At once</option>`)
	if strings.Contains(p.Body, "a secret of twenty chars") {
		t.Error("the webhook secret typed is sent back")
	}
}

func TestSigningPasswordForm(t *testing.T) {
	h := newHarness(t)
	h.api.mirrorBodies()
	c := h.client()
	c.signIn("opsf_bob")
	form := func(current, pw, again string) url.Values {
		return url.Values{csrfField: {c.csrf}, "_form": {"signing-password"}, "_key": {"k"},
			"current_password": {current}, "new_password": {pw}, "new_password_again": {again}}
	}
	// Typed twice differently: said at once, nothing sent.
	p := c.do("POST", "/settings/signing-password", form("", "my long phrase one", "my long phrase 0ne"))
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(field(p.Body, "new_password_again"), "differ") {
		t.Fatalf("typed twice differently: %d %s", p.Status, field(p.Body, "new_password_again"))
	}
	if _, ok := h.api.lastSent("PUT", "/v1/me/signing-password"); ok {
		t.Error("a password typed twice differently was sent")
	}
	if strings.Contains(p.Body, "my long phrase") {
		t.Error("a password typed is in the page")
	}
	// The API's rule, next to its field.
	h.api.routes["PUT /v1/me/signing-password"] = apiError(422, opsflow.Error{Code: "invalid", Field: "new_password", Message: "a signing password needs at least 10 characters"})
	p = c.do("POST", "/settings/signing-password", form("", "short", "short"), "HX-Request", "true")
	mustContain(t, "the new password", field(p.Body, "new_password"), "at least 10 characters", `aria-invalid="true"`, `type="password" value=""`)
	// Once one is set, the form changes it, with the current one: a wrong
	// current password is refused (403) next to it.
	set := time.Date(2026, 10, 2, 9, 30, 0, 0, time.UTC)
	h.api.routes["GET /v1/me"] = func(u opsflow.User, _ []byte, _ *http.Request) (int, any) {
		return 200, opsflow.Account{Profile: opsflow.Profile{ID: u.ID, Name: u.Name, Roles: u.Roles, Timezone: "UTC"}, SigningPasswordSet: true, SigningPasswordSetAt: &set}
	}
	h.api.routes["PUT /v1/me/signing-password"] = apiError(403, opsflow.Error{Code: "forbidden", Field: "current_password", Message: "wrong signing password: nothing was signed (1 of 5 attempts before signing locks)"})
	p = c.do("POST", "/settings/signing-password", form("not it", "my long phrase one", "my long phrase one"), "HX-Request", "true")
	if p.Status != http.StatusForbidden || !strings.Contains(field(p.Body, "current_password"), "wrong signing password") || strings.Contains(p.Body, "not it") {
		t.Errorf("a wrong current password: %d %s", p.Status, field(p.Body, "current_password"))
	}
	// Set: the API gets the two fields it takes, and no third.
	h.api.routes["PUT /v1/me/signing-password"] = func(opsflow.User, []byte, *http.Request) (int, any) { return 204, nil }
	p = c.do("POST", "/settings/signing-password", form("", "my long phrase one", "my long phrase one"))
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/settings" {
		t.Fatalf("set: %d", p.Status)
	}
	got, _ := h.api.lastSent("PUT", "/v1/me/signing-password")
	if got.User != "bob" || got.Body != `{"new_password":"my long phrase one"}` || got.Key != "" {
		t.Errorf("sent %+v", got)
	}
}

// A signature refused for want of a signing password says where to set one.
func TestSigningWithoutAPasswordPointsToTheSettings(t *testing.T) {
	h := newHarness(t)
	h.api.routes["POST /v1/capas/capa-1/triage"] = apiError(403, opsflow.Error{Code: "forbidden", Field: "signature.signing_password",
		Message: "you have no signing password yet: set one with PUT /v1/me/signing-password (or ask an administrator: opsflow user set-signing-password)"})
	c := h.client()
	c.signIn("opsf_alice")
	p := c.do("POST", "/capas/capa-1/triage", url.Values{csrfField: {c.csrf}, "_form": {"triage"}, "_key": {"k"}, "severity": {"4"}}, "HX-Request", "true")
	if !strings.Contains(p.Body, "set one on your Settings page") || strings.Contains(p.Body, "PUT /v1/me") {
		t.Errorf("no pointer to the settings: %s", p.Body)
	}
}

func TestReportsPageRunsAMonthsReport(t *testing.T) {
	h := newHarness(t)
	h.api.mirrorBodies()
	rep := opsflow.Report{ID: "rpt-2026-10", Period: "2026-10", GeneratedAt: time.Now(), GeneratedBy: "bob", Content: opsflow.ReportContent{Title: "October"}}
	h.api.routes["GET /v1/reports"] = func(opsflow.User, []byte, *http.Request) (int, any) {
		return 200, opsflow.Page[opsflow.Report]{Items: []opsflow.Report{rep}}
	}
	last := time.Now().UTC().AddDate(0, 0, -time.Now().UTC().Day()).Format("2006-01")
	for tok, may := range map[string]bool{"opsf_bob": true, "opsf_alice": false, "opsf_carol": false} {
		cl := h.client()
		cl.signIn(tok)
		p := cl.do("GET", "/reports", nil)
		if p.Status != 200 || !strings.Contains(p.Body, "/reports/rpt-2026-10.html") {
			t.Fatalf("%s: %d", tok, p.Status)
		}
		if got := strings.Contains(p.Body, "Run a month&#39;s report now"); got != may {
			t.Errorf("%s is offered to run a report: %v", tok, got)
		}
		if may && !strings.Contains(field(p.Body, "period"), `type="month" value="`+last+`" placeholder="YYYY-MM"`) {
			t.Errorf("the month offered: %s", field(p.Body, "period"))
		}
	}
	c := h.client()
	c.signIn("opsf_bob")
	form := url.Values{csrfField: {c.csrf}, "_form": {"run-report"}, "_key": {"k1"}, "period": {"2099-01"}, "time_zone": {"Europe/Berlin"}}
	h.api.routes["POST /v1/reports"] = apiError(422, opsflow.Error{Code: "invalid", Field: "period", Message: "2099-01 has not ended yet"})
	p := c.do("POST", "/reports", form)
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(field(p.Body, "period"), "has not ended yet") ||
		!strings.Contains(field(p.Body, "period"), `value="2099-01"`) || !strings.Contains(field(p.Body, "time_zone"), `value="Europe/Berlin"`) {
		t.Errorf("refused: %d %s", p.Status, field(p.Body, "period"))
	}
	h.api.routes["POST /v1/reports"] = func(opsflow.User, []byte, *http.Request) (int, any) { return 201, rep }
	form.Set("period", "2026-10")
	p = c.do("POST", "/reports", form)
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/reports" {
		t.Fatalf("run: %d %s", p.Status, p.Header.Get("Location"))
	}
	if got, _ := h.api.lastSent("POST", "/v1/reports"); got.Body != `{"period":"2026-10","time_zone":"Europe/Berlin"}` || got.Key != "k1" {
		t.Errorf("sent %+v", got)
	}
	if p := c.do("GET", "/reports", nil); !strings.Contains(p.Body, "The report for 2026-10 is made.") {
		t.Error("no message after the run")
	}
	// Whom the API refuses is told so, plainly (the form is not theirs).
	h.api.routes["POST /v1/reports"] = apiError(403, opsflow.Error{Code: "forbidden", Message: "this needs the approver or admin role"})
	a := h.client()
	a.signIn("opsf_alice")
	p = a.do("POST", "/reports", url.Values{csrfField: {a.csrf}, "_form": {"run-report"}, "_key": {"k2"}, "period": {"2026-10"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("refused to alice: %d", p.Status)
	}
	if p := a.do("GET", "/reports", nil); !strings.Contains(p.Body, "Not applied: this needs the approver or admin role") {
		t.Error("alice is not told why")
	}
}

func TestKPIPageRecordsAMeasurement(t *testing.T) {
	h := newHarness(t)
	h.addRecords()
	h.api.mirrorBodies()
	for tok, may := range map[string]bool{"opsf_alice": true, "opsf_bob": true, "opsf_carol": false} {
		cl := h.client()
		cl.signIn(tok)
		p := cl.do("GET", "/kpis/scrap", nil)
		if got := strings.Contains(p.Body, `<form id="record-measurement"`); got != may {
			t.Errorf("%s is offered to record a measurement: %v", tok, got)
		}
	}
	c := h.client()
	c.signIn("opsf_alice")
	form := url.Values{csrfField: {c.csrf}, "_form": {"record-measurement"}, "_key": {"k1"}, "value": {"four"}, "at": {"2026-11-20T06:00"}, "source": {"shift log"}}
	// Not a number: said by the form's own decoding, nothing sent.
	p := c.do("POST", "/kpis/scrap/measurements", form)
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(field(p.Body, "value"), "enter a number") || !strings.Contains(field(p.Body, "source"), `value="shift log"`) {
		t.Errorf("not a number: %d %s", p.Status, field(p.Body, "value"))
	}
	if _, ok := h.api.lastSent("POST", "/v1/kpis/scrap/measurements"); ok {
		t.Error("a value that is no number was sent")
	}
	// The API's 422, next to its field.
	h.api.routes["POST /v1/kpis/scrap/measurements"] = apiError(422, opsflow.Error{Code: "invalid", Field: "at", Message: "at is in the future"})
	form.Set("value", "4,2")
	p = c.do("POST", "/kpis/scrap/measurements", form, "HX-Request", "true")
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(field(p.Body, "at"), "at is in the future") || !strings.Contains(field(p.Body, "value"), `value="4,2"`) {
		t.Errorf("refused: %d %s", p.Status, field(p.Body, "at"))
	}
	h.api.routes["POST /v1/kpis/scrap/measurements"] = func(opsflow.User, []byte, *http.Request) (int, any) {
		return 201, map[string]any{"items": []opsflow.Measurement{{KPI: "scrap", Value: 4.2, At: time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)}}, "added": 1}
	}
	p = c.do("POST", "/kpis/scrap/measurements", form)
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/kpis/scrap" {
		t.Fatalf("record: %d %s", p.Status, p.Header.Get("Location"))
	}
	got, _ := h.api.lastSent("POST", "/v1/kpis/scrap/measurements")
	if got.Body != `{"at":"2026-11-20T06:00:00Z","source":"shift log","value":4.2}` || got.Key != "k1" {
		t.Errorf("sent %+v", got)
	}
	if p := c.do("GET", "/kpis/scrap", nil); !strings.Contains(p.Body, "Measurement recorded: 4.2 at 2026-11-20 06:00 UTC.") {
		t.Error("no message after recording")
	}
}
