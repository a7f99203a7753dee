package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opsflow/opsflow"
)

// ---- the admin page: what an administrator used curl for — processes
// stalled on a store error, notifications that failed after their retry
// budget, and the API tokens — each with the API's own admin routes.

// The API's admin routes, as its document names them.
const (
	adminProcessesRoute     = "/v1/admin/processes"
	adminNotificationsRoute = "/v1/admin/notifications"
	adminTokensRoute        = "/v1/admin/tokens"
	retryProcessRoute       = "/v1/admin/processes/{id}/retry"
	abandonProcessRoute     = "/v1/admin/processes/{id}/abandon"
	resendRoute             = "/v1/admin/notifications/{id}/retry"
	revokeTokenRoute        = "/v1/admin/tokens/{id}/revoke"
)

// The admin page's sections: /admin shows the first page of each,
// /admin/{section} one section with its pager.
const (
	secProcesses     = "processes"
	secNotifications = "notifications"
	secTokens        = "tokens"
)

var adminSections = []Option{
	{secProcesses, "Stalled processes"},
	{secNotifications, "Failed notifications"},
	{secTokens, "API tokens"},
}

// adminList is one section's rows and its pager.
type adminList[T any] struct {
	Items []T
	Pager pager
}

// tokenList is a table of API tokens: everyone's on the Admin page (with
// their holders and filters), one's own on Settings.
type tokenList struct {
	adminList[tokenRow]
	Filter  *filterView
	Holder  bool   // a column of whose each is
	Caption string // what the table holds, for screen readers
}

// sectionFilters are the list parameters a section's page passes on to
// its API route, besides the cursor.
var sectionFilters = map[string][]string{secTokens: {"user", "state"}}

// tokenStates are the states a token list filters by.
var tokenStates = []Option{{"active", "active"}, {"revoked", "revoked"}, {"expired", "expired"}}

type adminView struct {
	Section       string // "" on the overview
	Sections      []Option
	Processes     *adminList[stalledRow]
	Notifications *adminList[deliveryRow]
	Tokens        *tokenList
	TokenStates   []Option
}

// stalledRow is a process whose changes the store refused for good.
type stalledRow struct {
	ID, Title, URL string
	Kind           opsflow.KindInfo
	Stalled        opsflow.StallNote
	Retry, Abandon *Form
}

// deliveryRow is a notification that failed on one channel.
type deliveryRow struct {
	opsflow.Delivery
	URL    string // its process's page
	Resend *Form
}

// apiToken is an API token as GET /v1/admin/tokens answers it: never the
// token itself.
type apiToken struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Label      string     `json:"label"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	IssuedBy   string     `json:"issued_by"`
	State      string     `json:"state"`
}

type tokenRow struct {
	apiToken
	Revoke  *Form // an active token's
	Current bool  // the one this session signed in with
}

// adminOnly serves h to administrators; anyone else gets the 403 page
// (the navigation does not link it for them either).
func (a *App) adminOnly(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		if !s.User.HasAny(opsflow.RoleAdmin) {
			a.errorPage(w, r, http.StatusForbidden, "The Admin page is for administrators.")
			return
		}
		h(w, r, s)
	}
}

func (a *App) adminPage(w http.ResponseWriter, r *http.Request, s *session) {
	section := r.PathValue("section")
	if section != "" && !isSection(section) {
		a.notFound(w, r)
		return
	}
	q := url.Values{}
	if section != "" {
		q = listQuery(r, sectionFilters[section]...)
	}
	out, err := a.buildAdmin(r.Context(), s, section, q, nil)
	a.show(w, r, s, out, err)
}

func isSection(name string) bool { return sectionLabel(name) != "" }

func sectionLabel(name string) string {
	for _, o := range adminSections {
		if o.Value == name {
			return o.Label
		}
	}
	return ""
}

// adminURL is the page of a section ("" the overview), at query q.
func adminURL(section string, q url.Values) string {
	u := "/admin"
	if section != "" {
		u += "/" + section
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// buildAdmin builds the overview (section "") or one section at q's
// cursor; st, when set, is a refused post of one of its forms.
func (a *App) buildAdmin(ctx context.Context, s *session, section string, q url.Values, st *formState) (*pageOut, error) {
	v := &adminView{Section: section, Sections: adminNav}
	title := "Admin"
	if section != "" {
		title = "Admin: " + strings.ToLower(sectionLabel(section))
	}
	back := adminURL(section, q)
	var forms []*Form
	// list reads one section's first page (or q's page, on its own page).
	list := func(sec, route string, filter url.Values, into any) (pager, error) {
		lq := cloneValues(filter)
		if sec == section {
			for k, x := range q {
				lq[k] = x
			}
		}
		var page struct {
			Items      json.RawMessage `json:"items"`
			NextCursor string          `json:"next_cursor"`
		}
		if err := a.get(ctx, s, route, lq, &page); err != nil {
			return pager{}, err
		}
		if len(page.Items) == 0 {
			page.Items = json.RawMessage("[]") // an answer without items lists none
		}
		if err := json.Unmarshal(page.Items, into); err != nil {
			return pager{}, fmt.Errorf("web: decode %s: %w", route, err)
		}
		pq := url.Values{}
		if sec == section {
			pq = q
		}
		p := newPager(adminURL(sec, nil), pq, page.NextCursor)
		p.Label = sectionLabel(sec) + ": pages"
		return p, nil
	}
	if section == "" || section == secProcesses {
		var recs []processSummary
		p, err := list(secProcesses, adminProcessesRoute, url.Values{"stalled": {"true"}}, &recs)
		if err != nil {
			return nil, err
		}
		v.Processes = &adminList[stalledRow]{Pager: p}
		for _, rec := range recs {
			row := rec.row()
			row.Retry, row.Abandon = retryProcessForm(s, rec.ID, back), abandonProcessForm(s, rec.ID, back)
			v.Processes.Items = append(v.Processes.Items, row)
			forms = append(forms, row.Retry, row.Abandon)
		}
	}
	if section == "" || section == secNotifications {
		var ds []opsflow.Delivery
		p, err := list(secNotifications, adminNotificationsRoute, url.Values{"state": {opsflow.DeliveryFailed}}, &ds)
		if err != nil {
			return nil, err
		}
		v.Notifications = &adminList[deliveryRow]{Pager: p}
		for _, d := range ds {
			row := deliveryRow{Delivery: d, Resend: resendForm(s, d.ID, back)}
			if k, ok := kindByID(d.ProcessID); ok {
				row.URL = recordURL(k, d.ProcessID)
			}
			v.Notifications.Items = append(v.Notifications.Items, row)
			forms = append(forms, row.Resend)
		}
	}
	if section == "" || section == secTokens {
		// By holder and state: a filter the API refuses (422) is said
		// next to it, over an empty list.
		f := &filterView{Values: url.Values{}}
		if section == secTokens {
			f.Values = q
		}
		var page opsflow.Page[apiToken]
		if err := a.getFiltered(ctx, s, adminTokensRoute, f, &page); err != nil {
			return nil, err
		}
		v.Tokens = &tokenList{Filter: f, Holder: true, Caption: "API tokens, newest first"}
		v.Tokens.Pager = newPager(adminURL(secTokens, nil), f.Values, page.NextCursor)
		v.Tokens.Pager.Label = sectionLabel(secTokens) + ": pages"
		v.TokenStates = tokenStates
		for _, t := range page.Items {
			row := tokenRow{apiToken: t}
			if t.State == "active" {
				row.Revoke = revokeTokenForm(s, t.ID, back)
				forms = append(forms, row.Revoke)
			}
			v.Tokens.Items = append(v.Tokens.Items, row)
		}
	}
	st.apply(forms)
	out := &pageOut{page: "admin", title: title, nav: "admin", data: v, forms: forms}
	if v.Tokens != nil {
		out.status = v.Tokens.Filter.status()
	}
	return out, nil
}

// processSummary is what the admin list shows of a record of any kind.
type processSummary struct {
	ID      string                `json:"id"`
	Title   string                `json:"title"`
	Hire    struct{ Name string } `json:"hire"`
	Stalled *opsflow.StallNote    `json:"stalled"`
}

func (p processSummary) row() stalledRow {
	row := stalledRow{ID: p.ID, Title: p.Title}
	if row.Title == "" {
		row.Title = p.Hire.Name // an onboarding is its hire's
	}
	if p.Stalled != nil {
		row.Stalled = *p.Stalled
	}
	if k, ok := kindByID(p.ID); ok {
		row.Kind, row.URL = k, recordURL(k, p.ID)
	}
	return row
}

// kindByID is the kind of a process, from its ID's prefix.
func kindByID(id string) (opsflow.KindInfo, bool) {
	for _, k := range kinds {
		if strings.HasPrefix(id, k.Kind.IDPrefix()) {
			return k, true
		}
	}
	return opsflow.KindInfo{}, false
}

// rowForm is a form of one row of the admin page: a button, posted to
// /admin/{action} and back to the page it is on.
func rowForm(s *session, verb, id, action, submit, what, back string) *Form {
	return &Form{ID: domID(verb, id), Action: "/admin/" + action, Submit: submit, For: what,
		Style: styleInline, CSRF: s.CSRF, Key: randomToken(), Back: back}
}

func retryProcessForm(s *session, id, back string) *Form {
	return rowForm(s, "retry", id, "processes/"+url.PathEscape(id)+"/retry", "Retry", id, back)
}

// abandonProcessForm ends a stalled process; the API wants the reason.
func abandonProcessForm(s *session, id, back string) *Form {
	f := rowForm(s, "abandon", id, "processes/"+url.PathEscape(id)+"/abandon", "Abandon", id, back)
	f.Style = styleDanger
	f.Doc = "Ends it with its last saved record: the changes the store refused are dropped. Your reason goes in its audit trail."
	f.Fields = []Field{{Name: "reason", Label: "Why abandon " + id, Type: inText, Autocomplete: "off"}}
	return f
}

func resendForm(s *session, id, back string) *Form {
	return rowForm(s, "resend", id, "notifications/"+url.PathEscape(id)+"/retry", "Send again", "notification "+id, back)
}

func revokeTokenForm(s *session, id, back string) *Form {
	return revokeForm(s, id, "/admin/tokens/"+url.PathEscape(id)+"/revoke", back)
}

// revokeForm is a token's Revoke button, posted to action.
func revokeForm(s *session, id, action, back string) *Form {
	return &Form{ID: domID("revoke", id), Action: action, Submit: "Revoke", For: "token " + id, Style: styleDanger,
		CSRF: s.CSRF, Key: randomToken(), Back: back,
		Doc: "Whoever uses it is refused from now on, by every API instance at once. It cannot be undone: its holder needs a new token."}
}

// adminPost sends one row's button to its API route (as the API's
// document names it; {id} is the row's) and comes back to the page it
// was on (its _back), saying what was done.
func (a *App) adminPost(route string, noBody bool, done func(ans answer, id string) string) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		id := r.PathValue("id")
		section, q := adminPlace(r.PostFormValue("_back"))
		back := adminURL(section, q)
		a.submit(w, r, s, apiPost{method: http.MethodPost, route: route, path: strings.Replace(route, "{id}", url.PathEscape(id), 1), noBody: noBody, home: back,
			page: func(ctx context.Context, st *formState) (*pageOut, error) {
				return a.buildAdmin(ctx, s, section, q, st)
			},
			done: func(ans answer) (string, string) { return done(ans, id), back }})
	}
}

// adminPlace reads a form's _back: the admin section and page it was on.
func adminPlace(back string) (string, url.Values) {
	u, err := url.Parse(safeBack(back))
	if err != nil {
		return "", url.Values{}
	}
	section := strings.TrimPrefix(u.Path, "/admin/")
	if !isSection(section) {
		return "", url.Values{}
	}
	return section, pickQuery(u.Query(), sectionFilters[section]...)
}

// processDone says what a process's Retry or Abandon did; the API may
// answer 202 (taken, not yet applied), as for any step.
func processDone(what string) func(answer, string) string {
	return func(ans answer, id string) string {
		if ans.Status == http.StatusAccepted {
			return id + ": accepted, and being applied; it leaves this list in a moment."
		}
		return id + what
	}
}

func resendDone(ans answer, _ string) string {
	var d opsflow.Delivery
	_ = json.Unmarshal(ans.Body, &d)
	return fmt.Sprintf("The notification to %s by %s is queued to be sent again, with a fresh retry budget.", d.UserID, d.Channel)
}

func revokeDone(ans answer, _ string) string {
	var t apiToken
	_ = json.Unmarshal(ans.Body, &t)
	return fmt.Sprintf("Token %s of %s is revoked.", t.ID, t.UserID)
}
