package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/opsflow/opsflow"
)

// ---- users: what an administrator did with PUT /v1/users/{id} and
// opsflow user …: the people, a person's name, address and roles, their
// signing lock and their sign-on identity, each through the API's own
// routes.

// The API's routes of people, as its document names them.
const (
	usersRoute      = "/v1/users"
	userRoute       = "/v1/users/{id}"
	unlockRoute     = "/v1/admin/users/{id}/unlock-signing"
	userSSORoute    = "/v1/admin/users/{id}/sso"
	userUnlinkRoute = "/v1/admin/users/{id}/sso/unlink"
	// userTokensRoute issues a token for a user (administrators).
	userTokensRoute = "/v1/admin/users/{id}/tokens"
)

// secUsers is the admin section of the people; it has pages of its own
// (the list and one per person), not a list on the overview.
const secUsers = "users"

// adminNav are the admin pages' sections, as their navigation lists them.
var adminNav = append(append([]Option{}, adminSections...), Option{secUsers, "Users"})

var roleOptions = opts(opsflow.Roles)

type usersView struct {
	Section  string
	Sections []Option
	Items    []userRow
	Filter   filterView
	Roles    []Option
	Pager    pager
	Create   *Form
}

// userRow is one person of the list.
type userRow struct {
	opsflow.Account
	URL string
}

// userURL is a person's admin page.
func userURL(id string) string { return "/admin/users/" + url.PathEscape(id) }

// usersPage lists the people: GET /v1/users, by role and text.
func (a *App) usersPage(w http.ResponseWriter, r *http.Request, s *session) {
	out, err := a.buildUsers(r.Context(), s, listQuery(r, "role", "q"), nil)
	a.show(w, r, s, out, err)
}

func (a *App) buildUsers(ctx context.Context, s *session, q url.Values, st *formState) (*pageOut, error) {
	v := &usersView{Section: secUsers, Sections: adminNav, Filter: filterView{Values: q}, Roles: roleOptions, Create: newUserForm(s)}
	var page opsflow.Page[opsflow.Account]
	if err := a.getFiltered(ctx, s, usersRoute, &v.Filter, &page); err != nil {
		return nil, err
	}
	for _, u := range page.Items {
		v.Items = append(v.Items, userRow{Account: u, URL: userURL(u.ID)})
	}
	v.Pager = newPager("/admin/users", q, page.NextCursor)
	out := &pageOut{page: "users", title: "Admin: users", nav: "admin", data: v, forms: []*Form{v.Create}, status: v.Filter.status()}
	st.apply(out.forms)
	return out, nil
}

// newUserForm creates a user: PUT /v1/users/{id} for an ID not taken.
// The ID is the route's, not the body's: the app reads it itself.
func newUserForm(s *session) *Form {
	return &Form{ID: "new-user", Title: "New user", Action: "/admin/users", Submit: "Create the user", CSRF: s.CSRF, Key: randomToken(),
		Doc: "They sign in with an API token, which you issue on their page once they are created, or, once linked there, through single sign-on. Their creation goes in their audit trail.",
		Fields: []Field{
			{Name: "id", Label: "User ID", Type: inText, Autocomplete: "off", Local: true,
				Help: "How tasks, trails and tokens name them, e.g. ann.lee; it never changes."},
			{Name: "name", Label: "Name", Type: inText, Autocomplete: "off"},
			{Name: "roles", Label: "Roles", Type: inChecks, Options: roleOptions},
			{Name: "email", Label: "E-mail address (optional)", Type: inEmail, Autocomplete: "off"},
			{Name: "timezone", Label: "Time zone (optional)", Type: inText, Autocomplete: "off", Help: "An IANA name such as Europe/Berlin; UTC when left empty."},
		}}
}

// createUser creates a user from the list page. PUT also changes an
// existing user, so it goes with If-None-Match: *, which the API answers
// with a conflict for an ID that is taken (even one taken a moment ago by
// another administrator) rather than overwrite that person's name and
// address; a taken ID is said first with who has it.
func (a *App) createUser(w http.ResponseWriter, r *http.Request, s *session) {
	id := strings.TrimSpace(r.PostFormValue("id"))
	p := a.userPost(s, http.MethodPut, userRoute, id, "/admin/users", func(ctx context.Context, st *formState) (*pageOut, error) {
		return a.buildUsers(ctx, s, url.Values{}, st)
	})
	p.check = func(url.Values) error {
		if id == "" {
			return opsflow.Invalid("id", "enter the new user's ID")
		}
		switch ans := a.call(r.Context(), s, http.MethodGet, p.path, nil, nil, ""); {
		case ans.ok():
			var u opsflow.Account
			_ = json.Unmarshal(ans.Body, &u)
			return &opsflow.Error{Code: opsflow.ECONFLICT, Field: "id", Message: fmt.Sprintf("user %s exists already (%s, %s): change them on their page", id, u.Name, roleList(u.Roles))}
		case ans.Status != http.StatusNotFound:
			return ans.err()
		}
		return nil
	}
	p.header = http.Header{"If-None-Match": {"*"}}
	p.done = func(ans answer) (string, string) {
		var u opsflow.Account
		_ = json.Unmarshal(ans.Body, &u)
		return fmt.Sprintf("User %s is created: %s, %s.", u.ID, u.Name, roleList(u.Roles)), userURL(u.ID)
	}
	a.submit(w, r, s, p)
}

// userPost is a form of the people's pages, posted to the API's route
// (as its document names it) for user id; page rebuilds the form's page.
func (a *App) userPost(s *session, method, route, id, home string, page func(context.Context, *formState) (*pageOut, error)) apiPost {
	return apiPost{method: method, route: route, path: strings.Replace(route, "{id}", url.PathEscape(id), 1), home: home, page: page}
}

// roleNames are roles as the forms and pages write them.
func roleNames(rs []opsflow.Role) []string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = string(r)
	}
	return names
}

func roleList(rs []opsflow.Role) string { return strings.Join(roleNames(rs), ", ") }

// ---- one person

type userView struct {
	Section  string
	Sections []Option
	A        opsflow.Account
	Profile  *Form // name, address, time zone and roles
	Unlock   *Form // signing, once a signing password is set
	Link     *Form // a sign-on identity
	Unlink   *Form // the one linked
	Token    *Form // issue them a token
	// Issued is the token just issued, on the answer to the post that
	// issued it; Tokens links their tokens on the Admin page.
	Issued *issuedToken
	Tokens string
}

func (a *App) userPage(w http.ResponseWriter, r *http.Request, s *session) {
	out, err := a.buildUser(r.Context(), s, r.PathValue("id"), nil, nil)
	a.show(w, r, s, out, err)
}

// buildUser builds a person's page from GET /v1/users/{id}: as they are
// now, also after a refused post (a 409 shows where they stand); issued
// is a token just issued for them.
func (a *App) buildUser(ctx context.Context, s *session, id string, st *formState, issued *issuedToken) (*pageOut, error) {
	var u opsflow.Account
	if err := a.get(ctx, s, strings.Replace(userRoute, "{id}", url.PathEscape(id), 1), nil, &u); err != nil {
		return nil, err
	}
	if st != nil && st.Error != nil && st.Error.Code == opsflow.ECONFLICT {
		// Refused for how things stand: say how they stand now, as a
		// step's conflict does.
		st.Error.Message = strings.TrimSuffix(st.Error.Message, ".") + ". As it stands now: " + standing(u)
	}
	if issued != nil {
		issued.For = u.Name
	}
	v := &userView{Section: secUsers, Sections: adminNav, A: u, Profile: userProfileForm(s, u), Link: linkSSOForm(s, u), Issued: issued,
		Tokens: adminURL(secTokens, url.Values{"user": {u.ID}})}
	out := &pageOut{page: "user", title: "Admin: " + u.Name, nav: "admin", data: v, forms: []*Form{v.Profile, v.Link}}
	if a.API.Serves(http.MethodPost, userTokensRoute) {
		v.Token = issueTokenForm(s, u)
		out.forms = append(out.forms, v.Token)
	}
	if u.SigningPasswordSet {
		v.Unlock = unlockSigningForm(s, u)
		out.forms = append(out.forms, v.Unlock)
	}
	if u.SSO != nil {
		v.Unlink = unlinkSSOForm(s, u)
		out.forms = append(out.forms, v.Unlink)
	}
	st.apply(out.forms)
	return out, nil
}

// standing says where a person stands: roles, signing, sign-on.
func standing(u opsflow.Account) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s holds %s; ", u.ID, roleList(u.Roles))
	switch {
	case u.SigningLocked:
		b.WriteString("signing is locked; ")
	case u.SigningPasswordSet:
		b.WriteString("a signing password is set; ")
	default:
		b.WriteString("no signing password; ")
	}
	if u.SSO != nil {
		fmt.Fprintf(&b, "linked to %s.", u.SSO)
	} else {
		b.WriteString("not linked to a sign-on identity.")
	}
	return b.String()
}

func userAction(u opsflow.Account, action string) string {
	if action == "" {
		return userURL(u.ID)
	}
	return userURL(u.ID) + "/" + action
}

// userProfileForm changes name, address, time zone and roles: PUT
// /v1/users/{id}. The person's notification preferences are theirs: the
// form leaves them out, and the API keeps them.
func userProfileForm(s *session, u opsflow.Account) *Form {
	return &Form{ID: "user-profile", Title: "Change name, address or roles", Action: userAction(u, ""), Submit: "Save", CSRF: s.CSRF, Key: randomToken(),
		Doc: "Each change goes in their audit trail; a change of roles needs a reason there.",
		Fields: []Field{
			{Name: "name", Label: "Name", Type: inText, Value: u.Name, Autocomplete: "off"},
			{Name: "email", Label: "E-mail address", Type: inEmail, Value: u.Email, Autocomplete: "off", Help: "Empty: no e-mail reaches them."},
			{Name: "timezone", Label: "Time zone", Type: inText, Value: u.Timezone, Autocomplete: "off"},
			{Name: "roles", Label: "Roles", Type: inChecks, Options: roleOptions, Value: strings.Join(roleNames(u.Roles), "\n")},
			{Name: "reason", Label: "Why the roles change", Type: inText, Autocomplete: "off", Help: "Needed when the roles change: it is recorded in the audit trail."},
		}}
}

// unlockSigningForm lifts a signing lock: POST
// /v1/admin/users/{id}/unlock-signing.
func unlockSigningForm(s *session, u opsflow.Account) *Form {
	return &Form{ID: "unlock-signing", Title: "Unlock signing", Action: userAction(u, "unlock-signing"), Submit: "Unlock signing", CSRF: s.CSRF, Key: randomToken(),
		Doc:    "Lifts a lock after wrong signing passwords and clears the count of failures. Make sure it is them first; your reason goes in their audit trail.",
		Fields: []Field{{Name: "reason", Label: "Why unlock", Type: inText, Autocomplete: "off"}}}
}

// linkSSOForm links the person to their identity at the provider: PUT
// /v1/admin/users/{id}/sso.
func linkSSOForm(s *session, u opsflow.Account) *Form {
	f := &Form{ID: "link-sso", Title: "Link to a sign-on identity", Action: userAction(u, "sso"), Submit: "Link", CSRF: s.CSRF, Key: randomToken(),
		Doc: "They then sign on through the company's provider as this user, and their name and roles follow its claims. Your reason goes in their audit trail.",
		Fields: []Field{
			{Name: "issuer", Label: "Issuer", Type: inURL, Autocomplete: "off", Help: "The provider's URL, exactly as its tokens' iss claim."},
			{Name: "subject", Label: "Subject", Type: inText, Autocomplete: "off", Help: "Their ID at the provider, its tokens' sub claim."},
			{Name: "reason", Label: "Why", Type: inText, Autocomplete: "off"},
		}}
	if u.SSO != nil {
		f.Title, f.Submit = "Link to another sign-on identity", "Link instead"
		f.Fields[0].Value = u.SSO.Issuer
	}
	return f
}

// unlinkSSOForm removes the link: POST /v1/admin/users/{id}/sso/unlink.
func unlinkSSOForm(s *session, u opsflow.Account) *Form {
	return &Form{ID: "unlink-sso", Title: "Unlink from the sign-on identity", Action: userAction(u, "sso/unlink"), Submit: "Unlink", Style: styleDanger, CSRF: s.CSRF, Key: randomToken(),
		Doc:    "The provider's claim to this account is refused from then on: they sign in with an API token.",
		Fields: []Field{{Name: "reason", Label: "Why unlink", Type: inText, Autocomplete: "off"}}}
}

// userForm serves a form of a person's page: its API route for user
// {id}, back to the page, saying what was done.
func (a *App) userForm(method, route string, adjust func(map[string]any), done func(u opsflow.Account) string) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		id := r.PathValue("id")
		p := a.userPost(s, method, route, id, userURL(id), func(ctx context.Context, st *formState) (*pageOut, error) {
			return a.buildUser(ctx, s, id, st, nil)
		})
		p.adjust = adjust
		p.done = func(ans answer) (string, string) {
			var u opsflow.Account
			_ = json.Unmarshal(ans.Body, &u)
			return done(u), userURL(id)
		}
		a.submit(w, r, s, p)
	}
}

// emptied sends what the profile form left empty as empty, which the API
// reads as such, rather than leaving it out, which it reads as unchanged:
// none ticked is no roles ([], refused), no address is no address.
func emptied(body map[string]any) {
	leftOut(body, "roles", []string{})
	leftOut(body, "email", "")
}

func profileSaved(u opsflow.Account) string {
	return fmt.Sprintf("%s is saved: %s, %s.", u.ID, u.Name, roleList(u.Roles))
}

func signingUnlocked(opsflow.Account) string { return "Signing is unlocked." }

func ssoLinked(u opsflow.Account) string {
	if u.SSO == nil {
		return "Not linked."
	}
	return fmt.Sprintf("%s is linked to %s.", u.ID, u.SSO)
}

func ssoUnlinked(u opsflow.Account) string {
	return fmt.Sprintf("%s is not linked to a sign-on identity any more.", u.ID)
}

// issueTokenForm issues the person a token (their first, say): POST
// /v1/admin/users/{id}/tokens, with a reason for their audit trail.
func issueTokenForm(s *session, u opsflow.Account) *Form {
	f := newTokenForm(s, "issue-token", userAction(u, "tokens"), "Issue a token")
	f.Submit = "Issue the token"
	f.Doc = "It acts as " + u.Name + ", with their roles (issuing it changes neither), until it expires or is revoked. It is shown once, on the next page: hand it over safely. Your reason goes in their audit trail."
	f.Fields = append(f.Fields, Field{Name: "reason", Label: "Why", Type: inText, Autocomplete: "off", Help: "e.g. their first token, handed over in person."})
	return f
}

// issueToken issues a token for the person of the page and answers with
// their page showing it, once.
func (a *App) issueToken(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	p := a.userPost(s, http.MethodPost, userTokensRoute, id, userURL(id), func(ctx context.Context, st *formState) (*pageOut, error) {
		return a.buildUser(ctx, s, id, st, nil)
	})
	p.shown = func(ctx context.Context, ans answer) (*pageOut, error) {
		t, err := issued(ans, false, userURL(id))
		if err != nil {
			return nil, err
		}
		return showIssued(t, func(t *issuedToken) (*pageOut, error) { return a.buildUser(ctx, s, id, nil, t) }), nil
	}
	a.submit(w, r, s, p)
}
