// Package server is opsflow's HTTP API: Echo routes (all listed in
// routes.go), one file per resource, and one place (errors.go) that maps
// error codes to HTTP statuses. Writes go to Temporal as Updates; reads come
// from the PostgreSQL read model.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.temporal.io/sdk/client"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/sso"
	"github.com/opsflow/opsflow/web"
)

// Store is what the API reads from PostgreSQL. *postgres.DB implements it.
// Each process adds the reads it needs in its own file (capaStore, …).
type Store interface {
	coreStore
	idempotencyStore
	capaStore
	kaizenStore
	onboardingStore
	peopleStore
	kpiLoopStore
	signingStore
	tokenStore
	accessLogStore
	ssoStore
	web.Store
}

type coreStore interface {
	Ping(ctx context.Context) error
	CountStalled(ctx context.Context) (int, error)
	Authenticate(ctx context.Context, token string) (opsflow.User, error)
	GetProcess(ctx context.Context, kind opsflow.Kind, id string) (opsflow.Process, error)
	ListProcesses(ctx context.Context, f opsflow.ProcessFilter) (opsflow.Page[opsflow.Process], error)
	ListTasks(ctx context.Context, f opsflow.TaskFilter) (opsflow.Page[opsflow.TaskRow], error)
	AuditEvents(ctx context.Context, stream string) ([]opsflow.AuditEvent, error)
	VerifyAudit(ctx context.Context, stream string) (opsflow.VerifyReport, error)
}

// Config is what New needs.
type Config struct {
	Store     Store
	Temporal  client.Client
	TaskQueue string
	Logger    *slog.Logger
	// Now is the clock for derived values such as "overdue"; time.Now if nil.
	Now func() time.Time
	// Day is the length of a "day" in process timers (due dates, windows,
	// offsets given in days). 24h in production; tests and demos shorten it
	// so a 90-day window passes in 90 seconds. It is passed to each new
	// workflow, which keeps it for its whole life.
	Day time.Duration
	// Checkpoints, when set, holds GET /v1/audit/verify's chains against
	// the signed checkpoints published outside the database.
	Checkpoints CheckpointVerifier
	// ReadPolicy says which kinds all staff may read (the rest of who
	// reads what is fixed: opsflow.ReadPolicy); nil is
	// opsflow.DefaultReadPolicy.
	ReadPolicy *opsflow.ReadPolicy
	// Signing is the lockout of signing passwords (zero fields:
	// opsflow.DefaultSigningPolicy).
	Signing opsflow.SigningPolicy
	// RateLimits are the budgets of writes and exports per credential;
	// nil is DefaultWriteLimit and DefaultExportLimit.
	RateLimits *RateLimits
	// SSO, when set, accepts JWT bearer tokens from its issuer and serves
	// the browser login (/auth/login, /auth/callback), whose end hands the
	// person to Sessions (the web app's). SSOCookieKey seals the login's
	// state (16, 24 or 32 bytes; the same on every API instance);
	// SSOSecureCookie marks its cookie Secure (behind HTTPS).
	SSO             *sso.Provider
	Sessions        sso.SessionIssuer
	SSOCookieKey    []byte
	SSOSecureCookie bool
	// RequestTimeout bounds each request, including a wait for a workflow
	// update (which gets the timeout less 3 s, to answer 202 or 503 when
	// the outcome is late); 15 s if zero.
	RequestTimeout time.Duration
	// Middleware runs outermost, before the request ID and the access log
	// (tracing and RED metrics from internal/telemetry): it sees every
	// request, with its final status.
	Middleware []echo.MiddlewareFunc
}

// Server is the HTTP API. It is an http.Handler.
type Server struct {
	Config
	echo     *echo.Echo
	log      *slog.Logger
	inflight inflight
	pollers  pollerCheck
	tokens   tokenCache
	// writeLimiter and exportLimiter are the budgets per credential.
	writeLimiter, exportLimiter *limiter
	// access batches reads for the access log (accesslog.go).
	access accessLogger
	// ops are the routes (see apiRoutes); prepare the steps whose input
	// the API prepares.
	ops     []op
	prepare map[string]preparer
	// web is the web app, served at / (see web.go).
	web *web.App
	// The generated OpenAPI document, built once.
	docOnce sync.Once
	docJSON []byte
	docErr  error
}

// New returns the API with every route registered.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 15 * time.Second
	}
	if cfg.Day == 0 {
		cfg.Day = 24 * time.Hour
	}
	if cfg.TaskQueue == "" {
		cfg.TaskQueue = "opsflow"
	}
	s := &Server{Config: cfg, echo: echo.New(), log: cfg.Logger}
	limits := RateLimits{Writes: DefaultWriteLimit, Exports: DefaultExportLimit}
	if cfg.RateLimits != nil {
		limits = *cfg.RateLimits
	}
	s.writeLimiter = &limiter{limit: limits.Writes, class: "writes"}
	s.exportLimiter = &limiter{limit: limits.Exports, class: "exports"}
	e := s.echo
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(cfg.Middleware...)
	e.Use(middleware.RequestID())
	e.Use(s.accessLog)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.ErrorContext(c.Request().Context(), "panic", "err", err, "stack", string(stack),
				"request_id", c.Response().Header().Get(echo.HeaderXRequestID))
			return err
		},
	}))
	e.Use(bodyLimit(1 << 20))
	e.Use(checkParams)
	e.Use(middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: cfg.RequestTimeout}))
	s.newWeb()
	s.routes()
	s.mountWeb()
	return s
}

// ServeHTTP makes the server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Routes lists the registered routes (method and Echo path), for the
// OpenAPI consistency test and for operators.
func (s *Server) Routes() []*echo.Route { return s.echo.Routes() }

// HTTPServer wraps h in an http.Server with timeouts that keep slow or
// stuck clients from holding connections forever.
func HTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
}

// accessLog writes one structured line per request.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // commit the response so the status below is the one sent
		}
		req, res := c.Request(), c.Response()
		lvl := slog.LevelInfo
		if _, ok := sessionUser(req); ok {
			lvl = slog.LevelDebug // the web app's own request is logged already
		}
		if res.Status >= 500 {
			lvl = slog.LevelError
		}
		attrs := []any{"method", req.Method, "path", req.URL.Path, "status", res.Status,
			"bytes", res.Size, "duration_ms", time.Since(start).Milliseconds(),
			"request_id", res.Header().Get(echo.HeaderXRequestID)}
		if u, ok := c.Get(userKey).(opsflow.User); ok {
			attrs = append(attrs, "user", u.ID)
		}
		s.log.Log(req.Context(), lvl, "http request", attrs...)
		return nil
	}
}
