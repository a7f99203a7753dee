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

// The bodies of the KPI routes the KPI forms post to, as the server
// declares them (its own tests check the forms against the real ones).
type (
	kpiTargetBody struct {
		Value         *float64   `json:"value"`
		EffectiveFrom *time.Time `json:"effective_from,omitempty"`
		Reason        string     `json:"reason,omitempty"`
	}
	kpiBody struct {
		Key         string                  `json:"key"`
		Name        string                  `json:"name"`
		Description string                  `json:"description,omitempty"`
		Unit        string                  `json:"unit"`
		Direction   opsflow.Direction       `json:"direction"`
		Owner       string                  `json:"owner,omitempty"`
		Frequency   opsflow.Frequency       `json:"frequency,omitempty"`
		Target      *kpiTargetBody          `json:"target,omitempty"`
		Thresholds  *opsflow.Thresholds     `json:"thresholds,omitempty"`
		Policy      *opsflow.ResponsePolicy `json:"policy,omitempty"`
		Rules       opsflow.ChartRules      `json:"rules,omitempty"`
	}
)

// mayOffer checks, for each token, whether path offers the form id.
func mayOffer(t *testing.T, h *harness, path, id string, may map[string]bool) {
	t.Helper()
	for tok, want := range may {
		cl := h.client()
		cl.signIn(tok)
		p := cl.do("GET", path, nil)
		if p.Status != http.StatusOK {
			t.Fatalf("%s %s: %d", tok, path, p.Status)
		}
		if got := strings.Contains(p.Body, `<form id="`+id+`"`); got != want {
			t.Errorf("%s is offered %s on %s: %v", tok, id, path, got)
		}
	}
}

func TestKPIListDefinesAKPI(t *testing.T) {
	h := newHarness(t)
	h.addRecords()
	h.api.mirrorBodies()
	// Owners, approvers and admins define KPIs (POST /v1/kpis); an auditor does not.
	mayOffer(t, h, "/kpis", "define-kpi", map[string]bool{"opsf_alice": true, "opsf_bob": true, "opsf_root": true, "opsf_carol": false})

	c := h.client()
	c.signIn("opsf_bob")
	p := c.do("GET", "/kpis", nil)
	mustContain(t, "the New KPI form", p.Body, "<summary>New KPI</summary>", `<legend>Target and thresholds (optional)</legend>`,
		`<option value="monthly" selected>monthly</option>`, `<option value="lower">Lower is better`, `<option value="capa">Open a CAPA</option>`,
		`<label for="f-define-kpi-target-effective_from"`)
	form := url.Values{csrfField: {c.csrf}, "_form": {"define-kpi"}, "_key": {"k1"}, "key": {"scrap"}, "name": {"Scrap"}, "unit": {"%"},
		"direction": {"lower"}, "owner": {"alice"}, "frequency": {"weekly"}, "description": {"scrapped / started"},
		"target.value": {"4"}, "target.effective_from": {"2026-01-01"}, "thresholds.amber": {"4.5"}, "thresholds.red": {"4"},
		"policy.action": {"capa"}, "policy.sponsor": {""}, "policy.capa_type": {""}}
	// Not a number JSON carries: said by the form's own decoding, nothing sent.
	for _, v := range []string{"NaN", "Inf", "1e999"} {
		form.Set("target.value", v)
		p = c.do("POST", "/kpis", form, "HX-Request", "true")
		if p.Status != http.StatusUnprocessableEntity || !strings.Contains(field(p.Body, "target.value"), "enter a number") {
			t.Errorf("%s: %d %s", v, p.Status, field(p.Body, "target.value"))
		}
	}
	if _, ok := h.api.lastSent("POST", "/v1/kpis"); ok {
		t.Error("a value that is no number was sent")
	}
	form.Set("target.value", "4")
	// The API's 422, next to its field; what was typed stays.
	h.api.routes["POST /v1/kpis"] = apiError(422, opsflow.Error{Code: "invalid", Field: "thresholds.red", Message: "lower is better for this KPI: amber (4.5) must be below red (4)"})
	p = c.do("POST", "/kpis", form, "HX-Request", "true")
	if p.Status != http.StatusUnprocessableEntity || !strings.HasPrefix(strings.TrimSpace(p.Body), `<form id="define-kpi"`) {
		t.Fatalf("refused: %d %.200s", p.Status, p.Body)
	}
	mustContain(t, "the red threshold", field(p.Body, "thresholds.red"), "must be below red", `aria-invalid="true"`, `value="4"`)
	mustContain(t, "the refused form", p.Body, `value="scrap"`, `<option value="weekly" selected>`, `<option value="capa" selected>`)
	// Without htmx, the whole page with the form open.
	if p = c.do("POST", "/kpis", form); p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, `<details class="start" open>`) {
		t.Errorf("refused, whole page: %d", p.Status)
	}

	// Defined: the API gets the body, and the person the KPI's page.
	h.api.routes["POST /v1/kpis"] = func(opsflow.User, []byte, *http.Request) (int, any) {
		return 201, opsflow.KPI{Key: "scrap", Name: "Scrap", Unit: "%", Direction: opsflow.LowerIsBetter, OwnerID: "alice"}
	}
	form.Set("thresholds.red", "5.5")
	p = c.do("POST", "/kpis", form)
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/kpis/scrap" {
		t.Fatalf("define: %d %s", p.Status, p.Header.Get("Location"))
	}
	got, _ := h.api.lastSent("POST", "/v1/kpis")
	var body kpiBody
	if err := json.Unmarshal([]byte(got.Body), &body); err != nil {
		t.Fatal(err)
	}
	if got.User != "bob" || got.Key != "k1" || body.Key != "scrap" || body.Owner != "alice" || body.Direction != "lower" || body.Frequency != "weekly" ||
		body.Target == nil || *body.Target.Value != 4 || !body.Target.EffectiveFrom.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		*body.Thresholds.Amber != 4.5 || *body.Thresholds.Red != 5.5 || body.Policy.Action != "capa" || body.Policy.Sponsor != "" || body.Policy.CAPAType != "" {
		t.Errorf("sent %s", got.Body)
	}
	if p := c.do("GET", "/kpis/scrap", nil); !strings.Contains(p.Body, "KPI scrap is defined: Scrap.") {
		t.Error("no message after defining")
	}
	// Left out, the optional parts are not sent at all.
	form = url.Values{csrfField: {c.csrf}, "_form": {"define-kpi"}, "_key": {"k2"}, "key": {"scrap"}, "name": {"Scrap"}, "unit": {"%"}, "direction": {"lower"},
		"frequency": {"monthly"}, "target.value": {""}, "target.effective_from": {""}, "policy.action": {"none"}}
	c.do("POST", "/kpis", form)
	if got, _ := h.api.lastSent("POST", "/v1/kpis"); got.Body != `{"direction":"lower","frequency":"monthly","key":"scrap","name":"Scrap","policy":{"action":"none"},"unit":"%"}` {
		t.Errorf("sent %s", got.Body)
	}
}

func TestKPIPageSetsATarget(t *testing.T) {
	h := newHarness(t)
	h.addRecords()
	h.api.mirrorBodies()
	// The KPI's owner (alice), approvers and admins set its targets.
	mayOffer(t, h, "/kpis/scrap", "set-target", map[string]bool{"opsf_alice": true, "opsf_bob": true, "opsf_root": true, "opsf_carol": false})
	set := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := kpiRecord{KPI: opsflow.KPI{Key: "scrap", Name: "Scrap", Unit: "%", Direction: opsflow.LowerIsBetter, OwnerID: "carol"},
		Targets: []opsflow.KPITarget{{Value: 4, EffectiveFrom: set, Reason: "2026 plan", SetBy: "bob", SetAt: set}}}
	h.api.routes["GET /v1/kpis/scrap"] = func(opsflow.User, []byte, *http.Request) (int, any) { return 200, k }
	// Owning the KPI is what counts, not the owner role.
	mayOffer(t, h, "/kpis/scrap", "set-target", map[string]bool{"opsf_carol": true, "opsf_alice": false})

	c := h.client()
	c.signIn("opsf_carol")
	p := c.do("GET", "/kpis/scrap", nil)
	mustContain(t, "the targets", p.Body, `<h2 id="t-title">Targets</h2>`, `<th scope="col">From</th>`, "2026-01-01", "4 %", "2026 plan",
		`<label for="f-set-target-value">Target (%)</label>`)
	form := url.Values{csrfField: {c.csrf}, "_form": {"set-target"}, "_key": {"k1"}, "value": {"3.5"}, "effective_from": {"2026-01-01"}, "reason": {"2027 plan"}}
	h.api.routes["POST /v1/kpis/scrap/targets"] = apiError(409, opsflow.Error{Code: "conflict", Field: "effective_from",
		Message: "a different target is already set from this date; set a new one from a later date"})
	p = c.do("POST", "/kpis/scrap/targets", form, "HX-Request", "true")
	if p.Status != http.StatusConflict || !strings.Contains(field(p.Body, "effective_from"), "from a later date") || !strings.Contains(field(p.Body, "reason"), `value="2027 plan"`) {
		t.Errorf("conflict: %d %s", p.Status, field(p.Body, "effective_from"))
	}
	h.api.routes["POST /v1/kpis/scrap/targets"] = apiError(422, opsflow.Error{Code: "invalid", Field: "value", Message: "value is required"})
	p = c.do("POST", "/kpis/scrap/targets", form, "HX-Request", "true")
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(field(p.Body, "value"), "value is required") {
		t.Errorf("refused: %d %s", p.Status, field(p.Body, "value"))
	}

	form.Set("effective_from", "2027-01-01")
	next := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	h.api.routes["POST /v1/kpis/scrap/targets"] = func(opsflow.User, []byte, *http.Request) (int, any) {
		k.Targets = append(k.Targets, opsflow.KPITarget{Value: 3.5, EffectiveFrom: next, Reason: "2027 plan", SetBy: "carol", SetAt: time.Now()})
		return 200, k
	}
	p = c.do("POST", "/kpis/scrap/targets", form)
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/kpis/scrap" {
		t.Fatalf("set: %d %s", p.Status, p.Header.Get("Location"))
	}
	if got, _ := h.api.lastSent("POST", "/v1/kpis/scrap/targets"); got.Body != `{"effective_from":"2027-01-01T00:00:00Z","reason":"2027 plan","value":3.5}` || got.Key != "k1" || got.User != "carol" {
		t.Errorf("sent %+v", got)
	}
	p = c.do("GET", "/kpis/scrap", nil)
	mustContain(t, "the KPI page after", p.Body, "Target set: 3.5 from 2027-01-01.", "2027-01-01", "3.5 %")
}

func TestKPIPageChangesItsLimits(t *testing.T) {
	h := newHarness(t)
	h.addRecords()
	h.api.mirrorBodies()
	amber := 4.5
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	k := kpiRecord{KPI: opsflow.KPI{Key: "scrap", Name: "Scrap", Unit: "%", Direction: opsflow.LowerIsBetter, OwnerID: "carol"},
		Thresholds: opsflow.Thresholds{Amber: &amber},
		Baseline:   opsflow.ChartBaseline{Locked: true, N: 12, LockedBy: "bob"},
		Dividers:   []opsflow.KPIDivider{{At: at, Label: "SOP-MLD-12 v4 in force", CreatedBy: "bob"}}}
	h.api.routes["GET /v1/kpis/scrap"] = func(opsflow.User, []byte, *http.Request) (int, any) { return 200, k }
	// Its owner (carol), approvers and admins; not others.
	for _, id := range []string{"change-kpi", "set-baseline", "add-divider"} {
		mayOffer(t, h, "/kpis/scrap", id, map[string]bool{"opsf_carol": true, "opsf_bob": true, "opsf_root": true, "opsf_alice": false})
	}

	c := h.client()
	c.signIn("opsf_carol")
	p := c.do("GET", "/kpis/scrap", nil)
	mustContain(t, "the limits", p.Body, `<h2 id="l-title">Definition and control limits</h2>`, "<dd>4.5</dd>", "locked on the first 12 values by bob",
		"SOP-MLD-12 v4 in force", "2026-03-01")
	if !strings.Contains(field(p.Body, "thresholds.amber"), `value="4.5"`) {
		t.Errorf("the amber threshold is not filled in: %s", field(p.Body, "thresholds.amber"))
	}
	// The baseline form says what the baseline is: locked on 12 values.
	if !strings.Contains(p.Body, "Change the baseline") || !strings.Contains(field(p.Body, "n"), `value="12"`) {
		t.Errorf("the baseline form is not filled in: %s", field(p.Body, "n"))
	}

	// Each form sends its route's body, as the signed-in person.
	for _, tc := range []struct{ path, api, form, want string }{
		{"/kpis/scrap/definition", "PATCH /v1/kpis/scrap", "change-kpi", `{"missing":{"enabled":false},"name":"Scrap","policy":{"action":"capa","capa_type":"preventive","risk":{"detection":2,"occurrence":3,"severity":4}},"reason":"October review","rules":{"beyond_limits":"violation","eight_on_one_side":"violation"},"thresholds":{"amber":4.6,"red":5.5}}`},
		{"/kpis/scrap/baseline", "POST /v1/kpis/scrap/baseline", "set-baseline", `{"locked":true,"n":20,"reason":"October review"}`},
		{"/kpis/scrap/dividers", "POST /v1/kpis/scrap/dividers", "add-divider", `{"at":"2026-11-01T00:00:00Z","label":"new mould"}`},
	} {
		form := url.Values{csrfField: {c.csrf}, "_form": {tc.form}, "_key": {"k-" + tc.form}, "reason": {"October review"}}
		switch tc.form {
		case "change-kpi":
			form.Set("name", "Scrap")
			form.Set("thresholds.amber", "4.6")
			form.Set("thresholds.red", "5.5")
			form.Set("policy.action", "capa")
			form.Set("policy.capa_type", "preventive")
			form.Set("policy.risk.severity", "4")
			form.Set("policy.risk.occurrence", "3")
			form.Set("policy.risk.detection", "2")
			form.Set("rules.beyond_limits", "violation")
			form.Set("rules.eight_on_one_side", "violation")
			form.Set("rules.nosuch.deeper", "ignore") // not a rule's input: left out
		case "set-baseline":
			form.Set("locked", "on")
			form.Set("n", "20")
		case "add-divider":
			form.Del("reason")
			form.Set("at", "2026-11-01")
			form.Set("label", "new mould")
		}
		h.api.routes[tc.api] = func(opsflow.User, []byte, *http.Request) (int, any) { return 200, k }
		p := c.do("POST", tc.path, form)
		if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/kpis/scrap" {
			t.Errorf("%s: %d %s", tc.form, p.Status, p.Header.Get("Location"))
		}
		method, path, _ := strings.Cut(tc.api, " ")
		key := "k-" + tc.form
		if method == http.MethodPatch {
			key = "" // a PATCH is idempotent by itself
		}
		if got, _ := h.api.lastSent(method, path); got.Body != tc.want || got.User != "carol" || got.Key != key {
			t.Errorf("%s sent %+v, want %s", tc.form, got, tc.want)
		}
	}

	// A refusal stands next to the field it names, what was typed kept.
	h.api.routes["POST /v1/kpis/scrap/dividers"] = apiError(422, opsflow.Error{Code: "invalid", Field: "label", Message: "label is required"})
	form := url.Values{csrfField: {c.csrf}, "_form": {"add-divider"}, "_key": {"k2"}, "at": {"2026-11-01"}}
	p = c.do("POST", "/kpis/scrap/dividers", form, "HX-Request", "true")
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(field(p.Body, "label"), "label is required") || !strings.Contains(field(p.Body, "at"), `value="2026-11-01"`) {
		t.Errorf("refused: %d %s", p.Status, field(p.Body, "label"))
	}
}

func TestMyNotificationsPage(t *testing.T) {
	h := newHarness(t)
	now := time.Now().UTC()
	sentAt := now.Add(-2 * time.Hour)
	first := []opsflow.Delivery{
		{ID: "d-9", UserID: "alice", Channel: "slack", State: opsflow.DeliveryFailed, Attempts: 5, LastError: "404 no_service",
			Kind: opsflow.NotifyOverdue, Subject: "Score the risk", ProcessID: "capa-1", At: now.Add(-time.Hour)},
		{ID: "d-8", UserID: "alice", Channel: "email", State: opsflow.DeliverySent, Attempts: 1, SentAt: &sentAt,
			Kind: opsflow.NotifyAssigned, Subject: "Score the risk", ProcessID: "capa-1", At: now.Add(-2 * time.Hour)},
	}
	second := []opsflow.Delivery{{ID: "d-1", UserID: "alice", Channel: "email", State: opsflow.DeliveryDigested, Kind: opsflow.NotifyReminder,
		Subject: "Clean vents", ProcessID: "kzn-1", At: now.Add(-48 * time.Hour)}}
	h.api.routes["GET /v1/notifications"] = func(_ opsflow.User, _ []byte, r *http.Request) (int, any) {
		switch q := r.URL.Query(); {
		case q.Get("state") == "nope":
			return 422, map[string]any{"error": opsflow.Error{Code: "invalid", Field: "state", Message: "state must be one of pending, sent, failed"}}
		case q.Get("cursor") == "c2":
			return 200, opsflow.Page[opsflow.Delivery]{Items: second}
		}
		return 200, opsflow.Page[opsflow.Delivery]{Items: first, NextCursor: "c2"}
	}
	c := h.client()
	c.signIn("opsf_alice")
	if p := c.do("GET", "/settings", nil); !strings.Contains(p.Body, `<a href="/settings/notifications">Your notifications</a>`) {
		t.Error("the settings page does not link the notifications")
	}
	p := c.do("GET", "/settings/notifications", nil)
	if p.Status != http.StatusOK {
		t.Fatalf("notifications: %d", p.Status)
	}
	mustContain(t, "the first page", p.Body, "<h1>Your notifications</h1>", `href="/settings" aria-current="page"`, `<th scope="col">Last error</th>`,
		`<label for="q-state">State</label>`, `id="notification-d-9"`, "404 no_service", `state-failed">failed</span>`, "5 attempts",
		`state-sent">sent</span>`, `<a href="/capas/capa-1" class="id">capa-1</a>`, `href="/settings/notifications?cursor=c2" rel="next">Next page</a>`)
	if strings.Index(p.Body, "notification-d-9") > strings.Index(p.Body, "notification-d-8") {
		t.Error("not in the API's order, newest first")
	}
	if got, _ := h.api.lastSent("GET", "/v1/notifications"); got.User != "alice" || got.Query != "" {
		t.Errorf("asked %+v", got)
	}
	p = c.do("GET", "/settings/notifications?cursor=c2", nil)
	mustContain(t, "the second page", p.Body, `id="notification-d-1"`, "sent in a digest", `<a href="/kaizen/kzn-1" class="id">kzn-1</a>`,
		`<a href="/settings/notifications">First page</a>`)
	if strings.Contains(p.Body, "notification-d-9") || strings.Contains(p.Body, "Next page") {
		t.Error("the second page shows the first's rows, or a next page")
	}
	// A filter is passed on, and kept on the pager's links.
	c.do("GET", "/settings/notifications?state=failed&other=x", nil)
	if got, _ := h.api.lastSent("GET", "/v1/notifications"); got.Query != "state=failed" {
		t.Errorf("asked %q", got.Query)
	}
	p = c.do("GET", "/settings/notifications?state=failed", nil)
	mustContain(t, "the filtered page", p.Body, `<option value="failed" selected>failed</option>`, `href="/settings/notifications?cursor=c2&amp;state=failed"`)
	// A bad filter is said next to it, not a failed page.
	p = c.do("GET", "/settings/notifications?state=nope", nil)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "state must be one of") || !strings.Contains(p.Body, `aria-invalid="true"`) {
		t.Errorf("a bad filter: %d", p.Status)
	}
}
