package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/postgres"
)

// TestWebHostileInputIsNever500: the pages answer bad paths, queries and
// forms — NUL bytes, invalid UTF-8, text far over any limit, cursors
// that were never issued, unknown IDs, path tricks — with a page that
// says what is wrong (4xx), never with an internal error. An
// administrator's session is used, so every page and form is reachable.
func TestWebHostileInputIsNever500(t *testing.T) {
	a := newApp(t)
	ctx := context.Background()
	secret, err := a.DB.StartSession(ctx, opsflow.NewSession{UserID: "root", Method: "token", TTL: time.Hour, Idle: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.DB.Session(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 70000)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path string, form url.Values) int {
		t.Helper()
		var body *strings.Reader
		if form != nil {
			form.Set("_csrf", s.CSRF)
			body = strings.NewReader(form.Encode())
		} else {
			body = strings.NewReader("")
		}
		req, err := http.NewRequest(method, a.URL+path, body)
		if err != nil {
			t.Fatalf("%s %q: %v", method, path, err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.AddCookie(&http.Cookie{Name: "opsflow_session", Value: secret})
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %.80q: %v", method, path, err)
		}
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Errorf("%s %.80q: %d", method, path, res.StatusCode)
		}
		return res.StatusCode
	}
	rootTokens, err := a.DB.ListTokens(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	// The session is good: the pages below are reached, not a sign-in.
	if st := send("GET", "/admin", nil); st != http.StatusOK {
		t.Fatalf("GET /admin with the session: %d", st)
	}
	bad := 0
	for _, p := range []string{
		"/capas/%00", "/capas/" + strings.Repeat("x", 5000), "/capas/capa-%FF%FE", "/capas/capa-nosuch/export",
		"/capas?cursor=%00", "/capas?cursor=never-issued", "/capas?limit=-1&state=%FF", "/capas?opened_from=yesterday",
		"/kaizen/%E2%80%AE", "/kaizen?cursor=zz&phase=%00", "/onboardings?overdue=maybe", "/onboardings/onb-%00",
		"/kpis/%00", "/kpis/" + long[:3000], "/kpis/nosuch/chart.png?from=yesterday", "/kpis?cursor=%00",
		"/reports/..%2F..%2Fetc%2Fpasswd", "/reports/%00.pdf", "/reports/rpt-nosuch.html", "/audit?from=notadate&to=%00",
		"/audit/export?from=x", "/admin/nosuch", "/admin/tokens?cursor=zzz", "/admin/processes?cursor=%00",
		"/?cursor=%00", "/settings?x=%00", "/settings/notifications?cursor=%00&state=%FF", "/assets/..%2Fweb.go", "/assets/%00",
		"/admin/users?role=%00&q=%FF", "/admin/users?cursor=never-issued", "/admin/users?role=wizard&q=" + long[:600], "/admin/users/%00",
		"/admin/users/" + long[:3000], "/admin/users/nobody-at-all", "/admin/users/%2E%2E%2Froot",
		"/admin/tokens?user=%00&state=%FF", "/admin/tokens?state=lost&user=" + long[:600], "/admin/tokens?cursor=never-issued&state=active",
		"/settings?cursor=%00", "/settings?cursor=never-issued",
	} {
		if st := send("GET", p, nil); st >= 400 {
			bad++
		}
	}
	for _, f := range []struct {
		path string
		form url.Values
	}{
		{"/capas", url.Values{"title": {"a\x00b"}, "description": {long}, "severity": {"NaN"}}},
		{"/capas/capa-nosuch/triage", url.Values{"severity": {"9e999"}, "comment": {"\xff\xfe"}}},
		{"/kaizen", url.Values{"kpi": {"\x00"}, "baseline.from": {"soon"}, "team": {long}}},
		{"/onboardings", url.Values{"hire.email": {"not an address"}, "start_date": {"0000-00-00"}}},
		{"/settings/profile", url.Values{"email": {"a@b\x00"}, "timezone": {"Mars/Olympus_Mons"}, "preferences.digest_hour": {"99"}}},
		{"/settings/signing-password", url.Values{"new_password": {"\x00"}, "new_password_again": {"x"}}},
		{"/reports", url.Values{"period": {"\x00"}, "time_zone": {long[:500]}}},
		{"/kpis/nosuch/measurements", url.Values{"value": {"Inf"}, "at": {"yesterday"}}},
		{"/kpis", url.Values{"key": {"\x00"}, "name": {long}, "direction": {"sideways"}, "target.value": {"NaN"}}},
		{"/kpis/nosuch/targets", url.Values{"value": {"1e999"}, "effective_from": {"soon"}}},
		{"/kpis/nosuch/definition", url.Values{"thresholds.amber": {"NaN"}, "thresholds.red": {"-Inf"}, "reason": {"\x00"}, "policy.risk.severity": {"1e99"}, "frequency": {"hourly"}, "rules.beyond_limits": {"sometimes"}, "rules.\x00": {"ignore"}}},
		{"/kpis/nosuch/baseline", url.Values{"locked": {"maybe"}, "n": {"-1"}, "from": {"0000-00-00"}, "to": {long[:200]}}},
		{"/kpis/nosuch/dividers", url.Values{"at": {"yesterday"}, "label": {long}}},
		{"/admin/processes/capa-nosuch/abandon", url.Values{"reason": {long}}},
		{"/admin/notifications/%00/retry", url.Values{}},
		{"/admin/tokens/tok-nosuch/revoke", url.Values{}},
		{"/admin/users", url.Values{"id": {"a\x00b"}, "name": {long}, "roles": {"wizard"}, "email": {"\xff"}}},
		{"/admin/users", url.Values{"id": {"root"}, "name": {"Not Root"}, "roles": {"owner"}}}, // taken: refused, root unchanged
		{"/admin/users", url.Values{"id": {long[:3000]}, "roles": {"owner"}}},
		{"/admin/users/root", url.Values{"name": {long}, "roles": {"wizard"}, "timezone": {"Mars/Olympus_Mons"}, "email": {"a@b\x00"}}},
		{"/admin/users/nobody-at-all", url.Values{"name": {"x"}, "roles": {"owner"}, "reason": {"\x00"}}},
		{"/admin/users/%00/unlock-signing", url.Values{"reason": {long}}},
		{"/admin/users/root/sso", url.Values{"issuer": {"javascript:alert(1)"}, "subject": {long}, "reason": {"\xff\xfe"}}},
		{"/admin/users/root/sso", url.Values{"issuer": {"https://login.example.com/" + long[:2000]}, "subject": {"s"}, "reason": {"x"}}},
		{"/admin/users/root/sso/unlink", url.Values{"reason": {"\x00"}}},
		{"/settings/tokens", url.Values{"label": {"a\x00b"}, "expires": {"90d"}}},
		{"/settings/tokens", url.Values{"label": {long}, "expires": {"\xff\xfe"}}},
		{"/settings/tokens", url.Values{"label": {"laptop"}, "expires": {"9999999999999999999d"}}},
		{"/settings/tokens", url.Values{"label": {"laptop"}, "expires": {"-1h"}, "roles": {"admin"}}},
		{"/settings/tokens/%00/revoke", url.Values{}},
		{"/settings/tokens/tok-nosuch/revoke", url.Values{}},
		{"/settings/tokens/" + long[:3000] + "/revoke", url.Values{}},
		{"/admin/users/root/tokens", url.Values{"label": {long}, "expires": {"\xff"}, "reason": {"\x00"}}},
		{"/admin/users/root/tokens", url.Values{"label": {"x"}, "expires": {"2999-01-01"}, "reason": {"x"}}},
		{"/admin/users/root/tokens", url.Values{"label": {"x"}, "reason": {"   "}}},
		{"/admin/users/nobody-at-all/tokens", url.Values{"label": {"x"}, "reason": {"x"}}},
		{"/admin/users/%00/tokens", url.Values{"label": {"x"}, "reason": {"x"}}},
	} {
		if st := send("POST", f.path, f.form); st >= 400 {
			bad++
		}
	}
	// Most of it is refused outright; the rest (an unknown cursor, a
	// filter that matches nothing) is answered with a page.
	if bad < 25 {
		t.Errorf("only %d of the hostile requests were refused", bad)
	}
	// and none of it was stored: no token was issued, none revoked.
	revoked := func(ts []postgres.Token) (n int) {
		for _, tk := range ts {
			if tk.RevokedAt != nil {
				n++
			}
		}
		return n
	}
	if after, err := a.DB.ListTokens(ctx, "root"); err != nil || len(after) != len(rootTokens) || revoked(after) != revoked(rootTokens) {
		t.Errorf("root's tokens after the hostile forms: %d (%d revoked), before %d (%d revoked); %v", len(after), revoked(after), len(rootTokens), revoked(rootTokens), err)
	}
	if p, err := a.DB.Account(ctx, "root"); err != nil || p.Timezone == "Mars/Olympus_Mons" || strings.Contains(p.Email, "\x00") || p.Name != "Ops Admin" || p.SSO != nil {
		t.Errorf("root's account after the hostile forms: %+v %v", p, err)
	}
}
