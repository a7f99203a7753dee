package server_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/server"
)

// TestUsersList: administrators list the people, by role and by text in
// their ID, name or address, a page at a time; each with their signing
// state and sign-on identity, never a webhook secret. Others are refused,
// and a bad filter is a 422 naming it.
func TestUsersList(t *testing.T) {
	a := newApp(t)
	pre := "ul-" + uniq() + "-"
	for _, u := range []map[string]any{
		{"id": pre + "ann", "name": "Ann Lee", "roles": []string{"owner"}, "email": "ann.lee@Example.com",
			"preferences": map[string]any{"webhook": "immediate", "webhook_url": "https://hooks.example.com/ann", "webhook_secret": "a secret of twenty chars"}},
		{"id": pre + "ben", "name": "Ben Ode", "roles": []string{"approver", "owner"}},
		{"id": pre + "cy", "name": "Cy Twombly", "roles": []string{"auditor"}},
	} {
		id := u["id"].(string)
		delete(u, "id")
		a.Must(http.StatusCreated, "root", "PUT", "/v1/users/"+id, u)
	}
	list := func(q url.Values) (ids []string, next string, items []opsflow.Account) {
		t.Helper()
		var page opsflow.Page[opsflow.Account]
		a.Must(http.StatusOK, "root", "GET", "/v1/users?"+q.Encode(), nil).JSON(t, &page)
		for _, it := range page.Items {
			ids = append(ids, it.ID)
		}
		return ids, page.NextCursor, page.Items
	}
	ids, _, items := list(url.Values{"q": {pre}})
	if !slices.Equal(ids, []string{pre + "ann", pre + "ben", pre + "cy"}) {
		t.Fatalf("q=%s: %v", pre, ids)
	}
	ann := items[0]
	if ann.Name != "Ann Lee" || ann.Email != "ann.lee@Example.com" || ann.Preferences.WebhookSecret != opsflow.MaskedSecret ||
		ann.SigningPasswordSet || ann.SigningLocked || ann.SSO != nil || !opsflow.SameRoles(ann.Roles, []opsflow.Role{opsflow.RoleOwner}) {
		t.Errorf("ann as listed: %+v", ann)
	}
	for q, want := range map[string][]string{
		"role=owner&q=" + pre:           {pre + "ann", pre + "ben"},
		"role=auditor&q=" + pre:         {pre + "cy"},
		"q=" + pre + "BEN":              {pre + "ben"},
		"q=ANN.LEE@EXAMPLE":             {pre + "ann"}, // the address, in any case
		"q=twombly":                     {pre + "cy"},  // the name
		"role=hr&q=" + pre:              nil,
		"q=" + url.QueryEscape(pre+"%"): nil, // a wildcard typed is text
	} {
		v, _ := url.ParseQuery(q)
		if got, _, _ := list(v); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	}
	// Everyone, a page at a time, each once, in ID order; the test users
	// are among them, with the signing password the harness set.
	var all []string
	var root opsflow.Account
	q := url.Values{"limit": {"7"}}
	for range 1000 {
		ids, next, items := list(q)
		all = append(all, ids...)
		for _, it := range items {
			if it.ID == "root" {
				root = it
			}
		}
		if next == "" {
			break
		}
		q.Set("cursor", next)
	}
	if !slices.IsSorted(all) || len(slices.Compact(slices.Clone(all))) != len(all) || !slices.Contains(all, pre+"cy") || !slices.Contains(all, "alice") {
		t.Errorf("paged through %d users, not each once in order: %v", len(all), all)
	}
	if !root.SigningPasswordSet || root.SigningPasswordSetAt == nil {
		t.Errorf("root's signing password is not said to be set: %+v", root)
	}

	// Administrators only.
	for _, u := range []string{"alice", "carol", "hana"} {
		a.Must(http.StatusForbidden, u, "GET", "/v1/users", nil)
	}
	for q, field := range map[string]string{"role=wizard": "role", "limit=0": "limit", "limit=500": "limit", "cursor=never-issued": "cursor",
		"q=" + url.QueryEscape("a\x00b"): "q"} {
		if e := a.Must(http.StatusUnprocessableEntity, "root", "GET", "/v1/users?"+q, nil).Err(t); e.Field != field {
			t.Errorf("%s: %+v, want field %s", q, e, field)
		}
	}

	// No role at all is refused, not read as "unchanged".
	if e := a.Must(http.StatusUnprocessableEntity, "root", "PUT", "/v1/users/"+pre+"cy", map[string]any{"roles": []string{}, "reason": "x"}).Err(t); e.Field != "roles" {
		t.Errorf("roles []: %+v", e)
	}
	// An administrator renaming someone keeps where they are reached.
	a.Must(http.StatusOK, "root", "PUT", "/v1/users/"+pre+"ann", map[string]any{"name": "Ann Lee-Park", "email": "ann.lee@Example.com"})
	p, err := a.DB.Profile(context.Background(), pre+"ann")
	if err != nil || p.Name != "Ann Lee-Park" || p.Preferences.Webhook != "immediate" || p.Preferences.WebhookSecret != "a secret of twenty chars" {
		t.Errorf("after a rename: %+v %v", p, err)
	}
}

// TestLinkSSOThroughTheAPI: an administrator links a local account to
// its owner's identity at the provider, through the API, and the person
// signs on as that account; the identity cannot be given to a second
// user (409); an unknown user is a 404; a missing issuer, subject or
// reason a 422 naming it. Each change is on the user's audit stream as
// the command line records it, with the administrator as the actor.
func TestLinkSSOThroughTheAPI(t *testing.T) {
	a, idp, _ := ssoApp(t)
	ctx := context.Background()
	lena := "lena-" + uniq()
	a.Must(http.StatusCreated, "root", "PUT", "/v1/users/"+lena, map[string]any{"name": "Lena Local", "roles": []string{"requester"}})
	her := person{sub: "sub-" + lena, username: lena, name: "Lena Lindqvist", groups: []string{"quality"}}
	shared.tokens[lena] = idToken(t, idp, her)
	t.Cleanup(func() { delete(shared.tokens, lena) })
	a.Must(http.StatusForbidden, lena, "GET", "/v1/me", nil) // not linked yet: refused

	sso := "/v1/admin/users/" + lena + "/sso"
	link := map[string]any{"issuer": idp.Issuer(), "subject": her.sub, "reason": "moves to single sign-on"}
	a.Must(http.StatusForbidden, "alice", "PUT", sso, link)
	for field, body := range map[string]map[string]any{
		"issuer":  {"subject": her.sub, "reason": "x"},
		"subject": {"issuer": idp.Issuer(), "reason": "x"},
		"reason":  {"issuer": idp.Issuer(), "subject": her.sub, "reason": " "},
	} {
		if e := a.Must(http.StatusUnprocessableEntity, "root", "PUT", sso, body).Err(t); e.Field != field {
			t.Errorf("without %s: %+v", field, e)
		}
	}
	if e := a.Must(http.StatusUnprocessableEntity, "root", "PUT", sso, map[string]any{"issuer": "login.example.com", "subject": "x", "reason": "x"}).Err(t); e.Field != "issuer" {
		t.Errorf("an issuer that is no URL: %+v", e)
	}
	if e := a.Must(http.StatusUnprocessableEntity, "root", "PUT", sso, map[string]any{"issuer": idp.Issuer(), "subject": strings.Repeat("s", 5000), "reason": "x"}).Err(t); e.Field != "subject" {
		t.Errorf("a subject no provider sends: %+v", e)
	}
	a.Must(http.StatusNotFound, "root", "PUT", "/v1/admin/users/nobody-"+uniq()+"/sso", link)

	var acc opsflow.Account
	a.Must(http.StatusOK, "root", "PUT", sso, link).JSON(t, &acc)
	if acc.ID != lena || acc.SSO == nil || acc.SSO.Issuer != idp.Issuer() || acc.SSO.Subject != her.sub {
		t.Fatalf("linked: %+v", acc)
	}
	var me opsflow.Account
	a.Must(http.StatusOK, lena, "GET", "/v1/me", nil).JSON(t, &me)
	if me.ID != lena || me.Name != "Lena Lindqvist" || me.SSO == nil || me.SSO.Subject != her.sub {
		t.Errorf("signed on as %+v; want her account, linked", me)
	}
	// Linked, her access is the provider's to manage: she mints no token
	// of her own (it would outlive a change there); an administrator may.
	if e := a.Must(http.StatusForbidden, lena, "POST", "/v1/me/tokens", map[string]any{"label": "laptop"}).Err(t); !strings.Contains(e.Message, "single sign-on") {
		t.Errorf("a linked person's own token: %+v", e)
	}
	a.Must(http.StatusCreated, "root", "POST", "/v1/admin/users/"+lena+"/tokens", map[string]any{"label": "build server", "reason": "the nightly export runs as her"})
	// The same again changes nothing; to a second user it is a conflict,
	// and the first keeps it.
	a.Must(http.StatusOK, "root", "PUT", sso, link)
	e := a.Must(http.StatusConflict, "root", "PUT", "/v1/admin/users/dave/sso", link).Err(t)
	if e.Code != opsflow.ECONFLICT || e.Field != "subject" || !strings.Contains(e.Message, lena) {
		t.Errorf("one identity for two users: %+v", e)
	}
	if d := a.Must(http.StatusOK, "root", "GET", "/v1/users/dave", nil).Map(t); d["sso"] != nil {
		t.Errorf("dave got the identity: %v", d["sso"])
	}

	// Unlinked, with a reason (in the body): the claim is refused again.
	a.Must(http.StatusForbidden, "bob", "POST", sso+"/unlink", map[string]any{"reason": "x"})
	if e := a.Must(http.StatusUnprocessableEntity, "root", "POST", sso+"/unlink", nil).Err(t); e.Field != "reason" {
		t.Errorf("an unlink without a body: %+v", e)
	}
	if e := a.Must(http.StatusUnprocessableEntity, "root", "POST", sso+"/unlink", map[string]any{"reason": ""}).Err(t); e.Field != "reason" {
		t.Errorf("an unlink without a reason: %+v", e)
	}
	a.Must(http.StatusNotFound, "root", "POST", "/v1/admin/users/nobody-"+uniq()+"/sso/unlink", map[string]any{"reason": "x"})
	var unlinked opsflow.Account
	a.Must(http.StatusOK, "root", "POST", sso+"/unlink", map[string]any{"reason": "left the company's provider"}).JSON(t, &unlinked)
	if unlinked.ID != lena || unlinked.SSO != nil {
		t.Errorf("unlinked: %+v", unlinked)
	}
	shared.tokens[lena] = idToken(t, idp, her)
	a.Must(http.StatusForbidden, lena, "GET", "/v1/me", nil)
	a.Must(http.StatusOK, "root", "POST", sso+"/unlink", map[string]any{"reason": "again"}) // nothing to unlink: nothing changes

	events, err := a.DB.AuditEvents(ctx, opsflow.UserStream(lena))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		got = append(got, e.Action)
		switch e.Action {
		case "user.sso_linked":
			if e.ActorID != "root" || e.ActorRole != "admin" || e.Field != "sso" || e.Old != "none" || e.New != idp.Issuer()+" subject "+her.sub || e.Reason != "moves to single sign-on" {
				t.Errorf("the link's event: %+v", e)
			}
		case "user.sso_unlinked":
			if e.ActorID != "root" || e.Old != idp.Issuer()+" subject "+her.sub || e.New != "none" || e.Reason != "left the company's provider" {
				t.Errorf("the unlink's event: %+v", e)
			}
		}
	}
	if s := strings.Join(got, " "); s != "user.created user.sso_linked user.renamed user.roles_changed token.issued user.sso_unlinked" {
		t.Errorf("user stream: %s", s)
	}
	if brk := opsflow.VerifyChain(events); brk != nil {
		t.Errorf("user stream: %+v", brk)
	}
}

// TestMeSaysWhetherASigningPasswordIsSet: GET /v1/me (and an
// administrator's GET /v1/users/{id}) say whether the person has a
// signing password, since when, and whether signing is locked.
func TestMeSaysWhetherASigningPasswordIsSet(t *testing.T) {
	a := newAppWith(t, func(c *server.Config) {
		c.Signing = opsflow.SigningPolicy{MaxFailures: 1, Lockout: time.Hour}
	})
	sam, _ := a.newSamReyes()
	var me opsflow.Account
	a.Must(http.StatusOK, sam, "GET", "/v1/me", nil).JSON(t, &me)
	if me.ID != sam || me.SigningPasswordSet || me.SigningPasswordSetAt != nil || me.SigningLocked {
		t.Fatalf("before: %+v", me)
	}
	before := time.Now().UTC().Add(-time.Minute)
	a.Must(http.StatusNoContent, sam, "PUT", "/v1/me/signing-password", map[string]any{"new_password": "sam's first phrase"})
	a.Must(http.StatusOK, sam, "GET", "/v1/me", nil).JSON(t, &me)
	if !me.SigningPasswordSet || me.SigningPasswordSetAt == nil || me.SigningPasswordSetAt.Before(before) || me.SigningLocked {
		t.Fatalf("after: %+v", me)
	}
	// A wrong current password locks signing (one try, here): said too.
	a.Must(http.StatusForbidden, sam, "PUT", "/v1/me/signing-password", map[string]any{"current_password": "not it", "new_password": "sam's second phrase"})
	var acc opsflow.Account
	a.Must(http.StatusOK, "root", "GET", "/v1/users/"+sam, nil).JSON(t, &acc)
	if !acc.SigningPasswordSet || !acc.SigningLocked || acc.SigningLockedUntil == nil || !acc.SigningLockedUntil.After(time.Now()) {
		t.Errorf("locked: %+v", acc)
	}
	a.Must(http.StatusOK, "root", "POST", "/v1/admin/users/"+sam+"/unlock-signing", map[string]any{"reason": "identity checked"})
	a.Must(http.StatusOK, sam, "GET", "/v1/me", nil).JSON(t, &me)
	if !me.SigningPasswordSet || me.SigningLocked || me.SigningLockedUntil != nil {
		t.Errorf("unlocked: %+v", me)
	}
}
