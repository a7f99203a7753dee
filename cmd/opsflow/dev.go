package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/config"
	"github.com/opsflow/opsflow/internal/devstack"
	"github.com/opsflow/opsflow/internal/mailcatch"
	"github.com/opsflow/opsflow/internal/telemetry"
	"github.com/opsflow/opsflow/notify"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/server"
)

// devUser is the development user whose token 'opsflow dev' prints.
var devUser = opsflow.User{ID: "dev", Name: "Developer", Roles: []opsflow.Role{opsflow.RoleAdmin}}

// runDev runs the whole product on this machine: a file-backed Temporal dev
// server with its Web UI, a private PostgreSQL (unless DATABASE_URL names
// one), the migrations, a worker and the API. State lives under --state-dir,
// so a second start keeps the data. Ctrl-C stops everything; the children
// also die with this process (Pdeathsig), so nothing is left behind.
func runDev(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg config.Config
	fs := newFlags("dev", &cfg, append([]string{"database-url", "temporal-namespace", "task-queue", "http-addr", "log-level", "state-dir", "day", "workflow-cache",
		"checkpoint-key", "checkpoint-dir", "checkpoint-webhook", "checkpoint-interval", "outbound-allow", "metrics-addr", "otlp-endpoint"}, append(notifySettings, securitySettings...)...)...)
	mailPort := fs.Int("mail-port", 1025, "port of the mail catcher that receives notification mail when no --smtp-host is set (0: a free port)")
	temporalPort := fs.Int("temporal-port", 7233, "port of the Temporal dev server's gRPC frontend")
	uiPort := fs.Int("ui-port", 8233, "port of the Temporal Web UI (-1: none)")
	pgPort := fs.Int("pg-port", 0, "port of the private PostgreSQL (0: a free port)")
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	log, err := cfg.Logger()
	if err != nil {
		return err
	}
	log = slog.New(telemetry.LogHandler(log.Handler()))
	day, err := parseDay(&cfg)
	if err != nil {
		return err
	}
	if err := setCacheSize(&cfg); err != nil {
		return err
	}
	state, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(state, 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	logs, err := os.OpenFile(filepath.Join(state, "services.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logs.Close()

	var stops []func(context.Context) error
	defer func() {
		// Stop in reverse order of start, each with its own deadline.
		for i := len(stops) - 1; i >= 0; i-- {
			sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			if err := stops[i](sctx); err != nil {
				log.Warn("stop", "err", err)
			}
			cancel()
		}
	}()

	log.Info("starting the Temporal dev server and PostgreSQL", "state", state, "private_postgres", cfg.DatabaseURL == "")
	stack, err := devstack.StartStack(ctx, devstack.StackOptions{
		StateDir: state, DatabaseURL: cfg.DatabaseURL, Namespace: cfg.TemporalNamespace,
		TemporalPort: *temporalPort, UIPort: *uiPort, PostgresPort: *pgPort,
		LogWriter: logs, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("dev stack: %w", err)
	}
	stops = append(stops, stack.Stop)
	cfg.DatabaseURL, cfg.TemporalAddress = stack.DatabaseURL, stack.Temporal.Address()
	if stack.MigrateURL != stack.DatabaseURL {
		cfg.MigrateDatabaseURL = stack.MigrateURL // the private PostgreSQL has an owner and an application role
	}
	tmp := stack.Temporal

	if err := migrateSchema(ctx, &cfg, log); err != nil {
		return err
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	stops = append(stops, func(context.Context) error { return db.Close() })
	token, err := devToken(ctx, db, filepath.Join(state, "dev-token"))
	if err != nil {
		return err
	}
	if err := devCheckpoints(&cfg, state); err != nil {
		return err
	}
	// Mail goes to a catcher whose page lists it, unless a real SMTP
	// server is configured; links point at this API.
	var catcher *mailcatch.Server
	if cfg.SMTPHost == "" {
		catcher, err = mailcatch.Start(ctx, fmt.Sprintf("127.0.0.1:%d", *mailPort), mailcatch.WithLogger(log.With("component", "mailcatch")))
		if err != nil {
			return fmt.Errorf("mail catcher (choose another --mail-port): %w", err)
		}
		stops = append(stops, func(context.Context) error { return catcher.Close() })
		host, port, _ := net.SplitHostPort(catcher.Addr())
		cfg.SMTPHost, cfg.SMTPPort, cfg.SMTPTLS = host, port, string(notify.TLSNone)
	}
	api := "http://" + hostPort(cfg.HTTPAddr)
	if cfg.PublicURL == config.Default("public-url") {
		cfg.PublicURL = api
	}
	x, err := newWorkerExtras(&cfg, db, log)
	if err != nil {
		return err
	}
	x.notifications.Every = 500 * time.Millisecond
	verifier, err := newCheckpointVerifier(&cfg, db)
	if err != nil {
		return err
	}
	// The developer gets mail: what they assign to themselves arrives in
	// the catcher.
	if p, err := db.Profile(ctx, devUser.ID); err == nil && p.Email == "" {
		p.Email = "dev@localhost"
		if _, _, err := db.SaveProfile(ctx, p, opsflow.SystemActor); err != nil {
			return err
		}
	}
	tel, err := newTelemetry(ctx, &cfg, "opsflow-dev", log)
	if err != nil {
		return err
	}
	stops = append(stops, tel.Shutdown)
	serveMetrics, err := tel.Listen()
	if err != nil {
		return err
	}
	tc, err := dialTemporal(ctx, &cfg, log, tel)
	if err != nil {
		return err
	}
	stops = append(stops, func(context.Context) error { tc.Close(); return nil })
	watch(tel, db, tc, cfg.TaskQueue, log)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Add(3)
	go func() {
		defer wg.Done()
		errc <- runWorkerUntil(runCtx, tc, cfg.TaskQueue, db, log, x)
	}()
	go func() {
		defer wg.Done()
		if err := serveMetrics(runCtx); err != nil { // nil at once when metrics are off
			errc <- err
		}
	}()
	store := observedStore{DB: db, verify: telemetry.NewVerifyMetrics(tel.Registry())}
	sc := server.Config{Store: store, Temporal: tc, TaskQueue: cfg.TaskQueue, Logger: log, Day: day, Middleware: tel.Middleware()}
	if err := applySecurity(ctx, &cfg, &sc, log); err != nil {
		return err
	}
	if verifier != nil {
		sc.Checkpoints = verifier
	}
	apiServer := server.New(sc)
	defer closeAPI(apiServer, log)
	forgetRevokedTokens(runCtx, cfg.DatabaseURL, apiServer, log)
	var h http.Handler = apiServer
	mail := "(SMTP server " + cfg.SMTPHost + ")"
	if catcher != nil {
		mux := http.NewServeMux()
		mux.Handle("/dev/mail/", http.StripPrefix("/dev/mail", catcher.Handler()))
		mux.Handle("/", h)
		h = mux
		mail = api + "/dev/mail/   (SMTP " + catcher.Addr() + ")"
	}
	go func() {
		defer wg.Done()
		errc <- serveAPI(runCtx, cfg.HTTPAddr, h, log)
	}()

	fmt.Fprintf(stdout, `
opsflow is running.

  App          %s/   (sign in with the token below)
  API          %s   (reference: %s/docs)
  Temporal UI  %s
  Temporal     %s  namespace %s
  PostgreSQL   %s   (the application's role)
  Migrations   %s   (the schema owner's role)
  Checkpoints  %s   (signed every %s with %s)
  Webhooks     may call %s   (OPSFLOW_OUTBOUND_ALLOW)
  Mail         %s
  State        %s   (delete it to start afresh)

  Development user "dev" (admin), token:
    %s

  Try:  curl -H "Authorization: Bearer %s" %s/v1/me

Press Ctrl-C to stop.
`, api, api, api, orNone(tmp.UIURL()), tmp.Address(), cfg.TemporalNamespace, redact(cfg.DatabaseURL), orNone(redact(cfg.MigrateDatabaseURL)), cfg.CheckpointDir, cfg.CheckpointInterval, cfg.CheckpointKey, orNone(cfg.OutboundAllow), mail, state, token, token, api)

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	wg.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	fmt.Fprintln(stdout, "opsflow stopped.")
	return nil
}

// devToken returns the development token kept in path, creating a new one
// when the file is missing or its token no longer works (a reset database).
func devToken(ctx context.Context, db *postgres.DB, path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		tok := strings.TrimSpace(string(b))
		if _, err := db.Authenticate(ctx, tok); err == nil {
			return tok, nil
		}
	}
	tok, err := db.CreateToken(ctx, devUser, "opsflow dev")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	return tok, nil
}

func hostPort(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "localhost" + addr
	}
	return addr
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// redact hides a password in a database URL before printing it.
func redact(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if at := strings.Index(u[i+3:], "@"); at >= 0 {
			cred := u[i+3 : i+3+at]
			if c := strings.Index(cred, ":"); c >= 0 {
				return u[:i+3] + cred[:c] + ":***" + u[i+3+at:]
			}
		}
	}
	return u
}
