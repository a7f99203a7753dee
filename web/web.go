// Package web is opsflow's web app: server-rendered pages for the people
// who run the processes — my work, the CAPA register and page, the
// onboarding and Kaizen boards, KPIs, reports and the audit view — served
// by the API's binary at /.
//
// It holds no rule of its own. Every change a form makes is sent to the
// HTTP API in-process, as the signed-in person, through the very route a
// client would call (the step table's route, its body, its preparer, its
// update), so it answers with the API's errors: a 422 is shown next to the
// field it names. Which forms a page shows is the domain's answer
// (opsflow.Gate): a person sees a form only for a step they may take now.
// Reads go through the API's GET routes too, so a read policy added there
// applies here; only what the API has no route for (the session, the
// navigation's counts) comes from the store.
//
// Pages are html/template with htmx (vendored, pinned, embedded: an
// air-gapped plant network has no CDN) for forms that answer without a
// page reload; every page and form also works without JavaScript.
package web

import (
	"context"
	"embed"
	"log/slog"
	"net/http"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	"github.com/opsflow/opsflow"
)

// API is the HTTP API, served in-process. *server.Server implements it.
type API interface {
	// ServeHTTP serves a request that carries its own credentials (the
	// token a person signs in with).
	http.Handler
	// ServeAs serves a request as u, whom the web app's session has
	// already authenticated.
	ServeAs(u opsflow.User, w http.ResponseWriter, r *http.Request)
	// Serves reports whether the API has a route, named as in its OpenAPI
	// document ("GET", "/v1/kpis/{key}/chart.png"): pages link to what
	// exists and say what is still to come.
	Serves(method, path string) bool
	// Body is the request body's type of a route, which a form is
	// turned into; nil when the route takes none.
	Body(method, path string) reflect.Type
}

// Store is what the web app reads beyond the API: sessions and counts.
// *postgres.DB implements it.
type Store interface {
	StartSession(ctx context.Context, n opsflow.NewSession) (string, error)
	Session(ctx context.Context, secret string) (opsflow.Session, error)
	EndSession(ctx context.Context, secret string) error
	InboxCount(ctx context.Context, u opsflow.User, now time.Time, soon time.Duration) (opsflow.InboxCount, error)
	AdminCount(ctx context.Context) (opsflow.AdminCount, error)
	GetProcesses(ctx context.Context, ids []string) ([]opsflow.Process, error)
}

// SignInLink is another way to sign in, shown on the sign-in page (single
// sign-on, once the security issue adds it): its handler authenticates
// the person and calls App.StartSession.
type SignInLink struct {
	Label string
	URL   string
}

// Config is what New needs.
type Config struct {
	Store  Store
	API    API
	Logger *slog.Logger
	// Now is the clock for "overdue" and "due soon"; time.Now if nil.
	Now func() time.Time
	// SessionTTL bounds a session (12 h, a long shift, if zero);
	// SessionIdle ends one unused for that long (2 h if zero).
	SessionTTL  time.Duration
	SessionIdle time.Duration
	// SignIn lists other ways to sign in than the API token.
	SignIn []SignInLink
}

// App is the web app. It is an http.Handler.
type App struct {
	Config
	mux   *http.ServeMux
	pages *pages
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// New returns the web app with every page registered.
func New(cfg Config) *App {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = 2 * time.Hour
	}
	a := &App{Config: cfg, mux: http.NewServeMux(), pages: mustParsePages()}
	a.routes()
	return a
}

// Owns reports whether path is the web app's rather than the API's: the
// API keeps /v1 (and its own few routes), the app has the rest.
func Owns(path string) bool {
	return path != "/v1" && !strings.HasPrefix(path, "/v1/")
}

// ServeHTTP makes the app an http.Handler.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			a.Logger.ErrorContext(r.Context(), "web: panic", "err", v, "path", r.URL.Path, "stack", string(debug.Stack()))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	h := w.Header()
	// The pages load only their own scripts and styles, are never framed
	// and do not leak their URLs (which name records) to other sites.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	a.mux.ServeHTTP(w, r)
}

func (a *App) routes() {
	m := a.mux
	m.HandleFunc("GET /assets/{name}", a.asset)
	m.HandleFunc("GET /signin", a.signInPage)
	m.HandleFunc("POST /signin", a.signIn)
	m.Handle("POST /signout", a.auth(a.signOut))

	m.Handle("GET /{$}", a.auth(a.myWork))
	m.Handle("GET /capas", a.auth(a.capaRegister))
	m.Handle("POST /capas", a.auth(a.createCAPA))
	m.Handle("GET /capas/{id}", a.auth(a.capaPage))
	m.Handle("GET /capas/{id}/export", a.auth(a.exportCAPA))
	m.Handle("GET /kaizen", a.auth(a.kaizenBoard))
	m.Handle("POST /kaizen", a.auth(a.createKaizen))
	m.Handle("GET /kaizen/{id}", a.auth(a.kaizenPage))
	m.Handle("GET /onboardings", a.auth(a.onboardingBoard))
	m.Handle("POST /onboardings", a.auth(a.createOnboarding))
	m.Handle("GET /onboardings/{id}", a.auth(a.hirePage))
	for _, ki := range opsflow.Kinds() {
		m.Handle("POST /"+ki.Collection+"/{id}/{step...}", a.auth(a.step(ki)))
	}
	m.Handle("GET /kpis", a.auth(a.kpiList))
	m.Handle("POST /kpis", a.auth(a.defineKPI))
	m.Handle("GET /kpis/{key}", a.auth(a.kpiPage))
	m.Handle("POST /kpis/{key}/measurements", a.auth(a.recordMeasurement))
	m.Handle("POST /kpis/{key}/targets", a.auth(a.setTarget))
	m.Handle("POST /kpis/{key}/definition", a.auth(a.changeKPI))
	m.Handle("POST /kpis/{key}/baseline", a.auth(a.setBaseline))
	m.Handle("POST /kpis/{key}/dividers", a.auth(a.addDivider))
	m.Handle("GET /kpis/{key}/chart.png", a.auth(a.kpiChart))
	m.Handle("GET /reports", a.auth(a.reports))
	m.Handle("POST /reports", a.auth(a.runReport))
	m.Handle("GET /reports/{file}", a.auth(a.reportFile))
	m.Handle("GET /settings", a.auth(a.settings))
	m.Handle("POST /settings/profile", a.auth(a.saveProfile))
	m.Handle("POST /settings/signing-password", a.auth(a.setSigningPassword))
	m.Handle("POST /settings/tokens", a.auth(a.createMyToken))
	m.Handle("POST /settings/tokens/{id}/revoke", a.auth(a.revokeMyToken))
	m.Handle("GET /settings/notifications", a.auth(a.notifications))
	m.Handle("GET /admin", a.auth(a.adminOnly(a.adminPage)))
	m.Handle("GET /admin/{section}", a.auth(a.adminOnly(a.adminPage)))
	m.Handle("POST /admin/processes/{id}/retry", a.auth(a.adminOnly(a.adminPost(retryProcessRoute, false,
		processDone(" is retried: its held changes are saved, and it takes steps again.")))))
	m.Handle("POST /admin/processes/{id}/abandon", a.auth(a.adminOnly(a.adminPost(abandonProcessRoute, false,
		processDone(" is abandoned; its trail records why.")))))
	m.Handle("POST /admin/notifications/{id}/retry", a.auth(a.adminOnly(a.adminPost(resendRoute, true, resendDone))))
	m.Handle("POST /admin/tokens/{id}/revoke", a.auth(a.adminOnly(a.adminPost(revokeTokenRoute, true, revokeDone))))
	m.Handle("GET /admin/users", a.auth(a.adminOnly(a.usersPage)))
	m.Handle("POST /admin/users", a.auth(a.adminOnly(a.createUser)))
	m.Handle("GET /admin/users/{id}", a.auth(a.adminOnly(a.userPage)))
	m.Handle("POST /admin/users/{id}", a.auth(a.adminOnly(a.userForm(http.MethodPut, userRoute, emptied, profileSaved))))
	m.Handle("POST /admin/users/{id}/unlock-signing", a.auth(a.adminOnly(a.userForm(http.MethodPost, unlockRoute, nil, signingUnlocked))))
	m.Handle("POST /admin/users/{id}/sso", a.auth(a.adminOnly(a.userForm(http.MethodPut, userSSORoute, nil, ssoLinked))))
	m.Handle("POST /admin/users/{id}/tokens", a.auth(a.adminOnly(a.issueToken)))
	m.Handle("POST /admin/users/{id}/sso/unlink", a.auth(a.adminOnly(a.userForm(http.MethodPost, userUnlinkRoute, nil, ssoUnlinked))))
	m.Handle("GET /audit", a.auth(a.audit))
	m.Handle("GET /audit/export", a.auth(a.auditExport))
	m.HandleFunc("/", a.notFound)
}

// notFound is the app's 404 page (anonymous visitors get it too: it says
// nothing about what exists).
func (a *App) notFound(w http.ResponseWriter, r *http.Request) {
	a.errorPage(w, r, http.StatusNotFound, "There is no such page.")
}
