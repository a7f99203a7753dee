package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opsflow/opsflow"
)

// Sessions: the browser holds a random secret in an HTTP-only,
// SameSite=Lax cookie (Secure when the request came over TLS); the store
// holds its hash, the person and the session's CSRF token (see
// opsflow.Session). Lax rather than Strict so that a link in a reminder
// mail opens the page signed in; a POST from another site carries no
// cookie, and every POST must echo the session's CSRF token besides.

const (
	sessionCookie = "opsflow_session"
	// preCookie is the sign-in form's own CSRF token (double submit): no
	// session exists yet to hold one, and a forged sign-in would sign the
	// victim in as the attacker.
	preCookie   = "opsflow_signin"
	flashCookie = "opsflow_flash"
	// csrfField is the hidden field of every form; htmx requests may send
	// the header instead.
	csrfField  = "_csrf"
	csrfHeader = "X-CSRF-Token"
)

// session is the signed-in person of a request.
type session struct {
	opsflow.Session
	secret string
}

// actor is the person as the actor of a step, for the gates.
func (s *session) actor() opsflow.Actor { return opsflow.ActorOf(s.User, time.Time{}) }

type handler func(w http.ResponseWriter, r *http.Request, s *session)

// auth requires a session. Without one, a page goes to the sign-in page
// (and back afterwards); a form post or an htmx request is told to.
func (a *App) auth(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store") // pages hold people's work: no shared cache keeps them
		s, err := a.session(r)
		if err != nil {
			if opsflow.ErrorCode(err) != opsflow.EUNAUTHORIZED {
				a.errorPage(w, r, statusOf(err), "The database did not answer; try again in a moment.")
				return
			}
			next := "/"
			if r.Method == http.MethodGet {
				next = r.URL.RequestURI()
			}
			target := "/signin?next=" + url.QueryEscape(next)
			if isHTMX(r) {
				// htmx follows HX-Redirect on a 2xx only.
				w.Header().Set("HX-Redirect", target)
				w.WriteHeader(http.StatusOK)
				return
			}
			if r.Method != http.MethodGet {
				a.setFlash(w, r, "error", "Your session has ended; sign in again. Nothing was changed.")
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			if err := checkOrigin(r); err != nil {
				a.errorPage(w, r, http.StatusForbidden, err.Error())
				return
			}
			got := r.Header.Get(csrfHeader)
			if got == "" {
				got = r.PostFormValue(csrfField)
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) != 1 {
				a.errorPage(w, r, http.StatusForbidden, "This form is out of date or did not come from opsflow (its security token does not match). Reload the page and try again.")
				return
			}
		}
		h(w, r, s)
	})
}

// session reads the request's session; an unauthorized error when there
// is none.
func (a *App) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, opsflow.Errorf(opsflow.EUNAUTHORIZED, "not signed in")
	}
	s, err := a.Store.Session(r.Context(), c.Value)
	if err != nil {
		return nil, err
	}
	return &session{Session: s, secret: c.Value}, nil
}

// checkOrigin refuses a POST another site's page sent: browsers say where
// a request comes from (Sec-Fetch-Site, Origin); a request that says
// nothing is left to the CSRF token.
func checkOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return opsflow.Forbidden("this form was sent from another site")
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return opsflow.Forbidden("this form was sent from another site (%s)", o)
		}
	}
	return nil
}

func secure(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

func (a *App) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteLaxMode}
	if maxAge > 0 {
		c.MaxAge = int(maxAge.Seconds())
	} else {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// safeNext keeps a post-sign-in destination on this site: a local path,
// never "//evil.example" or an absolute URL.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

type signInView struct {
	Pre, Next, Error string
	Links            []SignInLink
	Idle, TTL        string
}

// hours says a lifetime as people do: "2 hours", "30 minutes".
func hours(d time.Duration) string {
	if d%time.Hour == 0 {
		return plural(int(d/time.Hour), "hour")
	}
	return plural(int(d/time.Minute), "minute")
}

func (a *App) signInPage(w http.ResponseWriter, r *http.Request) {
	if _, err := a.session(r); err == nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	a.renderSignIn(w, r, http.StatusOK, "")
}

func (a *App) renderSignIn(w http.ResponseWriter, r *http.Request, status int, msg string) {
	pre := randomToken()
	a.setCookie(w, r, preCookie, pre, 30*time.Minute)
	w.Header().Set("Cache-Control", "no-store")
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostFormValue("next")
	}
	a.render(w, r, status, "signin", &layout{Title: "Sign in", Flash: a.takeFlash(w, r)},
		signInView{Pre: pre, Next: safeNext(next), Error: msg, Links: a.SignIn, Idle: hours(a.SessionIdle), TTL: hours(a.SessionTTL)})
}

// signIn checks the token by asking the API who it belongs to (the API's
// own authentication, in-process) and starts a session. The token is
// never put in a URL, a cookie or a page, and never stored: the session
// keeps only which token it was, so revoking it signs the person out.
func (a *App) signIn(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(preCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("_pre"))) != 1 || checkOrigin(r) != nil {
		a.renderSignIn(w, r, http.StatusForbidden, "The sign-in form expired or did not come from opsflow; please try again.")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" {
		a.renderSignIn(w, r, http.StatusUnprocessableEntity, "Enter your API token.")
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/v1/me", http.NoBody)
	if err != nil {
		a.renderSignIn(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	ans := record(a.API, req)
	if ans.Status != http.StatusOK {
		msg := "This token is not valid, or it has been revoked."
		if ans.Status != http.StatusUnauthorized {
			msg = "Signing in did not work just now (" + ans.err().Message + "); try again in a moment."
		}
		a.renderSignIn(w, r, ans.Status, msg)
		return
	}
	var u opsflow.User
	if err := json.Unmarshal(ans.Body, &u); err != nil {
		a.renderSignIn(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	if err := a.StartSession(w, r, opsflow.NewSession{UserID: u.ID, Method: "token", Token: token}); err != nil {
		a.renderSignIn(w, r, statusOf(err), "Signing in did not work just now; try again in a moment.")
		return
	}
	a.setCookie(w, r, preCookie, "", 0)
	a.Logger.InfoContext(r.Context(), "web: signed in", "user", u.ID, "method", "token")
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// StartSession starts a session for a person another handler has
// authenticated (the token form here; single sign-on later) and gives the
// browser its cookie.
func (a *App) StartSession(w http.ResponseWriter, r *http.Request, n opsflow.NewSession) error {
	n.TTL, n.Idle = a.SessionTTL, a.SessionIdle
	secret, err := a.Store.StartSession(r.Context(), n)
	if err != nil {
		return err
	}
	a.setCookie(w, r, sessionCookie, secret, a.SessionTTL)
	return nil
}

func (a *App) signOut(w http.ResponseWriter, r *http.Request, s *session) {
	if err := a.Store.EndSession(r.Context(), s.secret); err != nil {
		a.errorPage(w, r, statusOf(err), "Signing out did not work just now; try again.")
		return
	}
	a.setCookie(w, r, sessionCookie, "", 0)
	a.setFlash(w, r, "ok", "You are signed out.")
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// flash is a one-time message for the next page: what a step did, or why
// it was not applied.
type flash struct {
	Kind    string `json:"k"` // ok, error, conflict
	Message string `json:"m"`
}

func (a *App) setFlash(w http.ResponseWriter, r *http.Request, kind, msg string) {
	b, _ := json.Marshal(flash{Kind: kind, Message: msg})
	a.setCookie(w, r, flashCookie, base64.RawURLEncoding.EncodeToString(b), time.Minute)
}

func (a *App) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	a.setCookie(w, r, flashCookie, "", 0)
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	var f flash
	if err != nil || json.Unmarshal(b, &f) != nil || f.Message == "" {
		return nil
	}
	return &f
}

// isHTMX reports whether htmx sent the request (it swaps the answer into
// the page instead of loading it).
func isHTMX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }
