package server_test

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/sso"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/server"
)

// person is a user of the test identity provider, with the claims a
// company's provider would send: a user name, a display name, groups.
type person struct {
	sub, username, name string
	groups              []string
}

func (p person) ID() string { return p.sub }

func (p person) Userinfo([]string) ([]byte, error) { return []byte(`{}`), nil }

func (p person) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	return struct {
		*mockoidc.IDTokenClaims
		PreferredUsername string   `json:"preferred_username"`
		Name              string   `json:"name"`
		Groups            []string `json:"groups"`
	}{base, p.username, p.name, p.groups}, nil
}

// sessions is the tests' SessionIssuer: it records who signed in and
// sends the browser on, as the web app's sessions will (with a cookie of
// their own).
type sessions struct {
	mu    sync.Mutex
	users []opsflow.User
}

func (s *sessions) IssueSession(w http.ResponseWriter, r *http.Request, u opsflow.User, method, returnTo string) error {
	s.mu.Lock()
	s.users = append(s.users, u)
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "test_session", Value: u.ID + "/" + method, Path: "/", HttpOnly: true})
	http.Redirect(w, r, returnTo, http.StatusFound)
	return nil
}

// ssoApp is an API trusting a real OpenID provider (oauth2-proxy's
// mockoidc, in-process on a loopback port): groups map to roles.
func ssoApp(t *testing.T) (*app, *mockoidc.MockOIDC, *sessions) {
	t.Helper()
	idp, p, key := ssoProvider(t)
	ss := &sessions{}
	a := newAppWith(t, func(c *server.Config) { c.SSO, c.Sessions, c.SSOCookieKey = p, ss, key })
	return a, idp, ss
}

// ssoProvider starts the provider and opsflow's side of it.
func ssoProvider(t *testing.T) (*mockoidc.MockOIDC, *sso.Provider, []byte) {
	t.Helper()
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })
	roles, err := sso.ParseRoleMap("quality=owner,requester; reviewers=approver")
	if err != nil {
		t.Fatal(err)
	}
	p, err := sso.New(context.Background(), sso.Config{Issuer: idp.Issuer(), ClientID: idp.ClientID, ClientSecret: idp.ClientSecret,
		Scopes: []string{"openid", "profile", "groups"}, RolesClaim: "groups", RoleMap: roles})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return idp, p, key
}

// idToken signs p in at the provider directly (as another client of the
// same issuer would) and returns the ID token, a JWT for the API.
func idToken(t *testing.T, idp *mockoidc.MockOIDC, p person) string {
	t.Helper()
	idp.QueueUser(p)
	cfg := oauth2.Config{ClientID: idp.ClientID, ClientSecret: idp.ClientSecret, RedirectURL: "http://127.0.0.1/cb",
		Endpoint: oauth2.Endpoint{AuthURL: idp.AuthorizationEndpoint(), TokenURL: idp.TokenEndpoint()}, Scopes: []string{"openid", "profile", "groups"}}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(cfg.AuthCodeURL("st", oauth2.SetAuthURLParam("nonce", "n")))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	tok, err := cfg.Exchange(context.Background(), loc.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	return raw
}

// TestSSOBearerTokens: a JWT from the configured issuer authenticates API
// calls; its person is provisioned on first use (audited) with the roles
// their groups map to, which follow the issuer afterwards; no mapped
// role, a reserved ID, another issuer's or a tampered token are refused.
func TestSSOBearerTokens(t *testing.T) {
	a, idp, _ := ssoApp(t)
	ctx := context.Background()
	nina := "nina-" + uniq()
	tok := idToken(t, idp, person{sub: "sub-" + nina, username: nina, name: "Nina Berg", groups: []string{"quality", "staff"}})
	shared.tokens[nina] = tok
	t.Cleanup(func() { delete(shared.tokens, nina) })
	var me opsflow.Profile
	a.Must(http.StatusOK, nina, "GET", "/v1/me", nil).JSON(t, &me)
	if me.ID != nina || me.Name != "Nina Berg" || !opsflow.SameRoles(me.Roles, []opsflow.Role{opsflow.RoleRequester, opsflow.RoleOwner}) {
		t.Fatalf("provisioned as %+v", me)
	}
	// She acts as herself: the CAPA she reports is hers.
	var c struct {
		ReportedBy string `json:"reported_by"`
	}
	a.Must(http.StatusCreated, nina, "POST", "/v1/capas", capaBody("Reported through SSO", "alice")).JSON(t, &c)
	if c.ReportedBy != nina {
		t.Errorf("reported by %s", c.ReportedBy)
	}
	// Her groups change at the issuer: her roles follow, audited.
	shared.tokens[nina] = idToken(t, idp, person{sub: "sub-" + nina, username: nina, name: "Nina Berg", groups: []string{"reviewers"}})
	a.Must(http.StatusOK, nina, "GET", "/v1/me", nil).JSON(t, &me)
	if !opsflow.SameRoles(me.Roles, []opsflow.Role{opsflow.RoleApprover}) {
		t.Errorf("roles after the groups changed: %v", me.Roles)
	}
	events, err := a.DB.AuditEvents(ctx, opsflow.UserStream(nina))
	if err != nil || len(events) != 2 || events[0].Action != "user.provisioned" || events[1].Action != "user.roles_changed" ||
		!strings.Contains(events[0].Reason, idp.Issuer()) {
		t.Errorf("user stream: %+v %v", events, err)
	}

	for name, p := range map[string]person{
		"no mapped role":   {sub: "s1-" + nina, username: "x-" + nina, groups: []string{"staff"}},
		"a reserved ID":    {sub: "s2-" + nina, username: "admin", groups: []string{"quality"}},
		"a local account":  {sub: "s3-" + nina, username: "alice", groups: []string{"quality"}},
		"another subject":  {sub: "s4-" + nina, username: nina, groups: []string{"quality"}},
		"no user ID claim": {sub: "s5-" + nina, groups: []string{"quality"}},
	} {
		shared.tokens["sso-refused"] = idToken(t, idp, p)
		if r := a.Do("sso-refused", "GET", "/v1/me", nil); r.Status != http.StatusForbidden {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	delete(shared.tokens, "sso-refused")
	// A tampered token, or one from another issuer, is no credential.
	parts := strings.Split(tok, ".")
	for _, bad := range []string{parts[0] + "." + parts[1] + "x." + parts[2], otherIssuerToken(t)} {
		shared.tokens["sso-bad"] = bad
		a.Must(http.StatusUnauthorized, "sso-bad", "GET", "/v1/me", nil)
	}
	delete(shared.tokens, "sso-bad")
}

// TestSSOLinksALocalAccount: a person with a local account signs on
// through the provider as the same user once an administrator links the
// account to their identity at the provider (opsflow user link-sso);
// before that, and after an unlink, the claim to the account is refused.
// Linked, their roles follow the provider; every change is audited.
func TestSSOLinksALocalAccount(t *testing.T) {
	a, idp, _ := ssoApp(t)
	ctx := context.Background()
	lena := "lena-" + uniq()
	if err := a.DB.EnsureUser(ctx, opsflow.User{ID: lena, Name: "Lena Local", Roles: []opsflow.Role{opsflow.RoleRequester}}); err != nil {
		t.Fatal(err)
	}
	her := person{sub: "sub-" + lena, username: lena, name: "Lena Lindqvist", groups: []string{"quality"}}
	shared.tokens[lena] = idToken(t, idp, her)
	t.Cleanup(func() { delete(shared.tokens, lena) })
	a.Must(http.StatusForbidden, lena, "GET", "/v1/me", nil) // a local account is never taken over by a claim

	admin := opsflow.Actor{ID: "root", Name: "Root Admin", Roles: []opsflow.Role{opsflow.RoleAdmin}}
	link := postgres.SSOLink{Issuer: idp.Issuer(), Subject: her.sub}
	if _, err := a.DB.LinkSSO(ctx, lena, link, admin, ""); opsflow.ErrorCode(err) != opsflow.EINVALID {
		t.Errorf("a link without a reason: %v", err)
	}
	if _, err := a.DB.LinkSSO(ctx, lena, link, admin, "moves to single sign-on"); err != nil {
		t.Fatal(err)
	}
	var me opsflow.Profile
	a.Must(http.StatusOK, lena, "GET", "/v1/me", nil).JSON(t, &me)
	if me.ID != lena || me.Name != "Lena Lindqvist" || !opsflow.SameRoles(me.Roles, []opsflow.Role{opsflow.RoleOwner, opsflow.RoleRequester}) {
		t.Errorf("signed on as %+v; want her account with the provider's name and roles", me)
	}
	if _, err := a.DB.LinkSSO(ctx, "alice", link, admin, "a mistake"); opsflow.ErrorCode(err) != opsflow.ECONFLICT {
		t.Errorf("one identity linked to two users: %v", err)
	}
	if old, err := a.DB.LinkSSO(ctx, lena, link, admin, "again"); err != nil || old != link {
		t.Errorf("the same link again: %v %v", old, err)
	}
	if _, err := a.DB.LinkSSO(ctx, lena, postgres.SSOLink{}, admin, "left the company's provider"); err != nil {
		t.Fatal(err)
	}
	shared.tokens[lena] = idToken(t, idp, her)
	a.Must(http.StatusForbidden, lena, "GET", "/v1/me", nil)

	events, err := a.DB.AuditEvents(ctx, opsflow.UserStream(lena))
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, " "); got != "user.created user.sso_linked user.renamed user.roles_changed user.sso_unlinked" {
		t.Errorf("user stream: %s", got)
	}
}

// otherIssuerToken is a valid ID token of another provider.
func otherIssuerToken(t *testing.T) string {
	other, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Shutdown() //nolint:errcheck
	return idToken(t, other, person{sub: "x", username: "mallory", groups: []string{"quality"}})
}

// TestSSOBrowserLogin: the authorization code flow end to end with an
// HTTP client through the real provider: PKCE (S256), state and nonce;
// the person is provisioned and handed to the session issuer, which sends
// the browser where it was going. A forged state or a replayed code does
// not sign in.
func TestSSOBrowserLogin(t *testing.T) {
	a, idp, ss := ssoApp(t)
	omar := "omar-" + uniq()
	idp.QueueUser(person{sub: "sub-" + omar, username: omar, name: "Omar Haddad", groups: []string{"reviewers"}})
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) *http.Response {
		t.Helper()
		res, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	res := get(a.URL + "/auth/login?return_to=/v1/me")
	authorize, _ := url.Parse(res.Header.Get("Location"))
	q := authorize.Query()
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(authorize.String(), idp.AuthorizationEndpoint()) ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" ||
		q.Get("redirect_uri") != a.URL+"/auth/callback" {
		t.Fatalf("login: %d %s", res.StatusCode, authorize)
	}
	res = get(authorize.String()) // the provider signs the person in
	callback := res.Header.Get("Location")
	if !strings.HasPrefix(callback, a.URL+"/auth/callback?") {
		t.Fatalf("the provider sent the browser to %q", callback)
	}
	// A forged state is refused (and ends the attempt).
	forged, _ := url.Parse(callback)
	fq := forged.Query()
	fq.Set("state", "forged")
	forged.RawQuery = fq.Encode()
	if res := get(forged.String()); res.StatusCode != http.StatusBadRequest {
		t.Errorf("forged state: %d", res.StatusCode)
	}
	// Again, properly: login, provider, callback.
	idp.QueueUser(person{sub: "sub-" + omar, username: omar, name: "Omar Haddad", groups: []string{"reviewers"}})
	res = get(get(get(a.URL + "/auth/login?return_to=/v1/me").Header.Get("Location")).Header.Get("Location"))
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/v1/me" {
		t.Fatalf("callback: %d → %q", res.StatusCode, res.Header.Get("Location"))
	}
	ss.mu.Lock()
	got := append([]opsflow.User(nil), ss.users...)
	ss.mu.Unlock()
	if len(got) != 1 || got[0].ID != omar || got[0].Name != "Omar Haddad" || !opsflow.SameRoles(got[0].Roles, []opsflow.Role{opsflow.RoleApprover}) {
		t.Fatalf("sessions issued: %+v", got)
	}
	if p, err := a.DB.Profile(context.Background(), omar); err != nil || p.Name != "Omar Haddad" {
		t.Errorf("provisioned: %+v %v", p, err)
	}
	// A callback replayed (the same code, no flow cookie any more) does
	// not sign in again.
	if res := get(callback); res.StatusCode == http.StatusFound {
		t.Errorf("a replayed callback signed in")
	}
	// An open redirect is not possible: return_to stays on this server.
	loc, _ := url.Parse(get(a.URL + "/auth/login?return_to=//evil.example/x").Header.Get("Location"))
	if loc.Host == "evil.example" {
		t.Errorf("return_to left the server")
	}
}
