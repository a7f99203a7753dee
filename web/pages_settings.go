package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/opsflow/opsflow"
)

// ---- settings: the signed-in person's own address, time zone,
// notification preferences and signing password

// The API's routes of one's own profile, tokens and notifications.
const (
	meRoute            = "/v1/me"
	signingRoute       = "/v1/me/signing-password"
	notificationsRoute = "/v1/notifications"
	myTokensRoute      = "/v1/me/tokens"
	revokeMyTokenRoute = "/v1/me/tokens/{id}/revoke"
)

type settingsView struct {
	P       opsflow.Account
	Profile *Form
	Signing *Form
	// Tokens are the person's API tokens, NewToken the form that creates
	// one (both absent when the API has no such routes); Issued is the
	// token just created, on the answer to the post that created it.
	Tokens   *tokenList
	NewToken *Form
	Issued   *issuedToken
}

// deliveryModes are a channel's choices.
var deliveryModes = []Option{
	{opsflow.DeliverImmediate, "At once"},
	{opsflow.DeliverDigest, "In the daily digest"},
	{opsflow.DeliverOff, "Off"},
}

// notifyKinds are the messages that may go out at once on a digest
// channel.
var notifyKinds = []Option{
	{opsflow.NotifyAssigned, "A task is given to you or your role"},
	{opsflow.NotifyReminder, "A task of yours is due soon"},
	{opsflow.NotifyOverdue, "A task of yours is overdue"},
	{opsflow.NotifyEscalated, "An overdue task is escalated to you"},
	{opsflow.NotifyApproval, "A record awaits your approval or signature"},
	{opsflow.NotifyClosed, "A process you take part in is closed"},
	{opsflow.NotifyProvisioningFailed, "An automatic onboarding step needs a person"},
	{opsflow.NotifyStalled, "A process is stalled (administrators)"},
}

// digestHours are the hours of the day, in the person's time zone.
var digestHours = func() []Option {
	out := make([]Option, 24)
	for h := range out {
		out[h] = Option{Value: itoa(h), Label: fmt.Sprintf("%02d:00", h)}
	}
	return out
}()

// profileForm sets what PUT /v1/me takes, starting from the profile as it
// is: the API replaces the preferences whole, so every one is on the form.
func profileForm(s *session, p opsflow.Profile) *Form {
	pr := p.Preferences
	hour := ""
	if pr.DigestHour != nil {
		hour = itoa(*pr.DigestHour)
	}
	secretHelp := "Each webhook message is signed with it: 16 characters or more."
	if pr.WebhookSecret != "" {
		secretHelp += " One is stored: leave this empty to keep it."
	}
	mode := func(name, label, value string) Field {
		return Field{Name: "preferences." + name, Label: label, Type: inSelect, Options: deliveryModes, Value: value}
	}
	return &Form{ID: "profile", Action: "/settings/profile", Submit: "Save these settings", CSRF: s.CSRF, Key: randomToken(),
		Fields: []Field{
			{Name: "email", Label: "E-mail address", Type: inEmail, Value: p.Email, Autocomplete: "email"},
			{Name: "timezone", Label: "Time zone", Type: inText, Value: p.Timezone, Autocomplete: "off",
				Help: "An IANA name such as Europe/Berlin: the times in your messages, and your digest hour, are in it."},
			{Name: "channels", Label: "What reaches you where", Type: inSet,
				Help: "Per channel: each message at once, one message a day (the digest), or nothing.", Fields: []Field{
					mode(opsflow.ChannelEmail, "E-mail", pr.Email),
					mode(opsflow.ChannelSlack, "Slack", pr.Slack),
					mode(opsflow.ChannelTeams, "Microsoft Teams", pr.Teams),
					mode(opsflow.ChannelWebhook, "Webhook", pr.Webhook),
					{Name: "preferences.digest_hour", Label: "The daily digest goes out at (your time)", Type: inSelect, Options: digestHours, Value: hour},
					{Name: "preferences.always_immediate", Label: "Sent at once even on a digest channel", Type: inChecks, Options: notifyKinds,
						Value: strings.Join(pr.AlwaysImmediate, "\n")},
				}},
			{Name: "addresses", Label: "Chat and webhook addresses", Type: inSet,
				Help: "A channel that is not off needs its address.", Fields: []Field{
					{Name: "preferences.slack_webhook", Label: "Slack incoming-webhook URL", Type: inURL, Value: pr.SlackWebhook, Autocomplete: "off"},
					{Name: "preferences.teams_webhook", Label: "Teams incoming-webhook URL", Type: inURL, Value: pr.TeamsWebhook, Autocomplete: "off"},
					{Name: "preferences.webhook_url", Label: "Webhook URL (signed JSON)", Type: inURL, Value: pr.WebhookURL, Autocomplete: "off"},
					{Name: "preferences.webhook_secret", Label: "Webhook secret", Type: inPassword, Autocomplete: "new-password", Help: secretHelp},
				}},
		}}
}

// signingForm sets the first signing password, or changes the one set
// (which needs the current one).
func signingForm(s *session, set bool) *Form {
	f := &Form{ID: "signing-password", Action: "/settings/signing-password", Submit: "Set my signing password", CSRF: s.CSRF, Key: randomToken(),
		Fields: []Field{
			{Name: "new_password", Label: "New signing password", Type: inPassword, Autocomplete: "new-password",
				Help: "A phrase only you know, not your name or user ID."},
			{Name: "new_password_again", Label: "The new signing password again", Type: inPassword, Autocomplete: "new-password", Local: true},
		}}
	if set {
		f.Submit = "Change my signing password"
		f.Fields = append([]Field{{Name: "current_password", Label: "Current signing password", Type: inPassword, Autocomplete: "current-password"}}, f.Fields...)
	}
	return f
}

func (a *App) settings(w http.ResponseWriter, r *http.Request, s *session) {
	out, err := a.buildSettings(r.Context(), s, nil, listQuery(r), nil)
	a.show(w, r, s, out, err)
}

// buildSettings builds the Settings page, its token list at q's cursor;
// st, when set, is a refused post of one of its forms, issued a token
// just created.
func (a *App) buildSettings(ctx context.Context, s *session, st *formState, q url.Values, issued *issuedToken) (*pageOut, error) {
	var p opsflow.Account
	if err := a.get(ctx, s, meRoute, nil, &p); err != nil {
		return nil, err
	}
	v := &settingsView{P: p, Profile: profileForm(s, p.Profile), Signing: signingForm(s, p.SigningPasswordSet), Issued: issued}
	out := &pageOut{page: "settings", title: "Settings", nav: "settings", data: v, forms: []*Form{v.Profile, v.Signing}}
	if a.API.Serves(http.MethodGet, myTokensRoute) {
		var page opsflow.Page[apiToken]
		if err := a.get(ctx, s, myTokensRoute, q, &page); err != nil {
			return nil, err
		}
		v.Tokens = &tokenList{Caption: "Your API tokens, newest first"}
		v.Tokens.Pager = newPager("/settings", q, page.NextCursor)
		v.Tokens.Pager.Label = "Your API tokens: pages"
		for _, t := range page.Items {
			row := tokenRow{apiToken: t, Current: t.ID == s.TokenID}
			if t.State == "active" {
				row.Revoke = revokeMyTokenForm(s, t, row.Current)
				out.forms = append(out.forms, row.Revoke)
			}
			v.Tokens.Items = append(v.Tokens.Items, row)
		}
		if p.SSO == nil {
			v.NewToken = newTokenForm(s, "new-token", "/settings/tokens", "Create a token")
			out.forms = append(out.forms, v.NewToken)
		}
	}
	st.apply(out.forms)
	return out, nil
}

// settingsPost is a form of the settings page, posted to PUT route.
func (a *App) settingsPost(s *session, route string) apiPost {
	return apiPost{method: http.MethodPut, route: route, path: route, home: "/settings",
		page: func(ctx context.Context, st *formState) (*pageOut, error) {
			return a.buildSettings(ctx, s, st, nil, nil)
		}}
}

// ---- API tokens: one's own on Settings, and the one an administrator
// issues on a person's page

// issuedToken is a token just issued, shown once: on the answer to the
// post that issued it, never in a cookie, a URL or a later page (only
// its hash is stored, so no later page could show it anyway).
type issuedToken struct {
	apiToken
	Secret string `json:"token"`
	// Mine says it is the signed-in person's own, For whose it is by name
	// when known; Back is the page the fallback page links back to.
	Mine bool   `json:"-"`
	For  string `json:"-"`
	Back string `json:"-"`
}

// issued reads the token a POST answered.
func issued(ans answer, mine bool, back string) (*issuedToken, error) {
	t := &issuedToken{Mine: mine, Back: back}
	if err := json.Unmarshal(ans.Body, t); err != nil {
		return nil, fmt.Errorf("web: decode a new token: %w", err)
	}
	if t.Secret == "" {
		return nil, errors.New("web: the API's answer to a new token holds no token")
	}
	return t, nil
}

// showIssued is the page that answers a token's creation: the form's own
// page with the secret on it, or, should that page not build, a page of
// the secret alone — the token exists, and its secret cannot be read
// again.
func showIssued(t *issuedToken, build func(*issuedToken) (*pageOut, error)) *pageOut {
	out, err := build(t)
	if err != nil {
		out := &pageOut{page: "issued", title: "Your new API token", nav: "settings", data: t}
		if !t.Mine {
			out.title, out.nav = "A new API token for "+t.UserID, "admin"
		}
		return out
	}
	return out
}

// newTokenForm asks for a token: what it is for and when it expires.
func newTokenForm(s *session, id, action, title string) *Form {
	return &Form{ID: id, Title: title, Action: action, Submit: "Create the token", CSRF: s.CSRF, Key: randomToken(), Plain: true,
		Fields: []Field{
			{Name: "label", Label: "What it is for", Type: inText, Autocomplete: "off", Help: "e.g. laptop, nightly export: the label tells the tokens apart."},
			{Name: "expires", Label: "Expires", Type: inText, Value: "90d", Autocomplete: "off",
				Help: fmt.Sprintf("A number of days (90d), hours (12h), a date (2027-06-30) or a time (RFC 3339); at most %d years ahead.", opsflow.MaxTokenYears)},
		}}
}

// revokeMyTokenForm revokes one of the person's tokens.
func revokeMyTokenForm(s *session, t apiToken, current bool) *Form {
	f := revokeForm(s, t.ID, "/settings/tokens/"+url.PathEscape(t.ID)+"/revoke", "")
	f.For = "token " + t.Label
	if current {
		f.Doc += " You signed in with this one: revoking it signs you out."
	}
	return f
}

// createMyToken creates a token for the signed-in person and answers
// with the Settings page showing it, once.
func (a *App) createMyToken(w http.ResponseWriter, r *http.Request, s *session) {
	p := a.settingsPost(s, myTokensRoute)
	p.method = http.MethodPost
	p.shown = func(ctx context.Context, ans answer) (*pageOut, error) {
		t, err := issued(ans, true, "/settings")
		if err != nil {
			return nil, err
		}
		return showIssued(t, func(t *issuedToken) (*pageOut, error) { return a.buildSettings(ctx, s, nil, nil, t) }), nil
	}
	a.submit(w, r, s, p)
}

// revokeMyToken revokes one of the person's tokens: POST
// /v1/me/tokens/{id}/revoke.
func (a *App) revokeMyToken(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	p := a.settingsPost(s, revokeMyTokenRoute)
	p.method, p.path, p.noBody = http.MethodPost, strings.Replace(revokeMyTokenRoute, "{id}", url.PathEscape(id), 1), true
	p.done = func(ans answer) (string, string) {
		var t apiToken
		_ = json.Unmarshal(ans.Body, &t)
		msg := fmt.Sprintf("Your token “%s” (%s) is revoked.", t.Label, t.ID)
		if id == s.TokenID {
			msg += " You had signed in with it: sign in again with another."
		}
		return msg, "/settings"
	}
	a.submit(w, r, s, p)
}

func (a *App) saveProfile(w http.ResponseWriter, r *http.Request, s *session) {
	p := a.settingsPost(s, meRoute)
	p.adjust = func(body map[string]any) {
		leftOut(body, "email", "")                                        // emptied: no address (left out, the API keeps it)
		leftOut(body, "preferences.always_immediate", []string{})         // none ticked is none, not the defaults
		leftOut(body, "preferences.webhook_secret", opsflow.MaskedSecret) // left empty: the stored one stays
	}
	p.done = func(answer) (string, string) { return "Your settings are saved.", "/settings" }
	a.submit(w, r, s, p)
}

func (a *App) setSigningPassword(w http.ResponseWriter, r *http.Request, s *session) {
	p := a.settingsPost(s, signingRoute)
	p.check = func(vals url.Values) error {
		if vals.Get("new_password") != vals.Get("new_password_again") {
			return opsflow.Invalid("new_password_again", "the two new signing passwords differ: type it again in both")
		}
		return nil
	}
	p.done = func(answer) (string, string) {
		return "Your signing password is set: you enter it each time you sign.", "/settings"
	}
	a.submit(w, r, s, p)
}

// ---- my notifications: what was sent to the signed-in person, on which
// channel, and whether it went out

type notificationsView struct {
	Items  []notificationRow
	Filter filterView
	States []Option
	Pager  pager
}

// notificationRow is one notification on one channel.
type notificationRow struct {
	opsflow.Delivery
	URL string // its process's page
}

// deliveryStates are the states a delivery is in, as a person reads them.
var deliveryStates = []Option{
	{opsflow.DeliveryPending, "waiting to be sent"},
	{opsflow.DeliverySent, "sent"},
	{opsflow.DeliveryFailed, "failed"},
	{opsflow.DeliveryDigest, "waiting for your digest"},
	{opsflow.DeliveryDigested, "sent in a digest"},
	{opsflow.DeliverySkipped, "not sent"},
}

// notifications lists the signed-in person's notifications, newest first,
// a page at a time: GET /v1/notifications.
func (a *App) notifications(w http.ResponseWriter, r *http.Request, s *session) {
	q := listQuery(r, "state")
	v := &notificationsView{Filter: filterView{Values: q}, States: deliveryStates}
	var page opsflow.Page[opsflow.Delivery]
	if err := a.getFiltered(r.Context(), s, notificationsRoute, &v.Filter, &page); err != nil {
		a.errorPage(w, r, statusOf(err), opsflow.ErrorMessage(err))
		return
	}
	for _, d := range page.Items {
		row := notificationRow{Delivery: d}
		if k, ok := kindByID(d.ProcessID); ok {
			row.URL = recordURL(k, d.ProcessID)
		}
		v.Items = append(v.Items, row)
	}
	v.Pager = newPager("/settings/notifications", q, page.NextCursor)
	a.render(w, r, http.StatusOK, "notifications", a.frame(w, r, s, "Your notifications", "settings"), v)
}

// StateLabel is a delivery state as a person reads it.
func (v notificationsView) StateLabel(state string) string {
	for _, o := range v.States {
		if o.Value == state {
			return o.Label
		}
	}
	return state
}
