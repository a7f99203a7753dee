package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/activities"
	"github.com/opsflow/opsflow/internal/config"
	"github.com/opsflow/opsflow/internal/outbound"
	"github.com/opsflow/opsflow/internal/telemetry"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/server"
	"github.com/opsflow/opsflow/worker"
)

// newFlags returns a flag set for a subcommand with the named settings.
func newFlags(name string, cfg *config.Config, settings ...string) *flag.FlagSet {
	fs := flag.NewFlagSet("opsflow "+name, flag.ContinueOnError)
	cfg.Register(fs, settings...)
	return fs
}

// openStore connects to PostgreSQL, failing clearly when no URL is set.
func openStore(ctx context.Context, cfg *config.Config) (*postgres.DB, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("no database: set DATABASE_URL or --database-url (or use 'opsflow dev', which starts one)")
	}
	return postgres.Open(ctx, cfg.DatabaseURL)
}

// openCLIStore opens the store for an administrative command, migrating
// it first as openMigrated does, logging as cfg says.
func openCLIStore(ctx context.Context, cfg *config.Config) (*postgres.DB, error) {
	log, err := cfg.Logger()
	if err != nil {
		return nil, err
	}
	return openMigrated(ctx, cfg, log)
}

// openMigrated connects to PostgreSQL and brings its schema up to date,
// for commands that write before any server has migrated. The migrations
// run as the owner (MIGRATE_DATABASE_URL) when it is set; without it, on
// DATABASE_URL as they always did, which works when that role owns the
// schema or nothing is pending.
func openMigrated(ctx context.Context, cfg *config.Config, log *slog.Logger) (*postgres.DB, error) {
	if cfg.MigrateDatabaseURL != "" {
		if err := migrateSchema(ctx, cfg, log); err != nil {
			return nil, err
		}
		return openStore(ctx, cfg)
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := postgres.Migrate(ctx, db); err != nil {
		db.Close()
		if strings.Contains(err.Error(), "permission denied") {
			return nil, fmt.Errorf("%w\nthe database needs migrating and DATABASE_URL's role may not: run 'opsflow migrate' with MIGRATE_DATABASE_URL (or --migrate-database-url) set to the schema owner's URL", err)
		}
		return nil, err
	}
	return db, nil
}

// migrateSchema applies the migrations. With MIGRATE_DATABASE_URL they run
// as the schema's owner, and the role of DATABASE_URL, when given, is
// granted the application's privileges and nothing more (postgres.GrantApp).
// With DATABASE_URL alone they run as that role, as before there were two,
// and a warning says what that costs.
func migrateSchema(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if cfg.MigrateDatabaseURL == "" {
		if cfg.DatabaseURL == "" {
			return errors.New("no database: set MIGRATE_DATABASE_URL (the schema owner) and DATABASE_URL (the application), or --migrate-database-url and --database-url")
		}
		log.Warn("migrating as the application's own role: with one role for both, the application owns the schema and can rewrite the audit trail; " +
			"give it a role of its own and run the migrations as the owner with MIGRATE_DATABASE_URL (README: Security)")
		db, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		defer db.Close()
		return postgres.Migrate(ctx, db)
	}
	owner, err := postgres.Open(ctx, cfg.MigrateDatabaseURL)
	if err != nil {
		return err
	}
	defer owner.Close()
	var opts []postgres.MigrateOption
	if cfg.DatabaseURL == "" {
		log.Warn("no DATABASE_URL: the application's role was not granted its privileges; run 'opsflow migrate' again with it set")
	} else {
		app, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		defer app.Close()
		appRole, err := postgres.CurrentRole(ctx, app)
		if err != nil {
			return err
		}
		ownerRole, err := postgres.CurrentRole(ctx, owner)
		if err != nil {
			return err
		}
		if appRole == ownerRole {
			log.Warn("DATABASE_URL and MIGRATE_DATABASE_URL name the same role: the application owns the schema and can rewrite the audit trail", "role", appRole)
		} else {
			opts = append(opts, postgres.GrantTo(appRole))
		}
		defer warnRole(ctx, app, log)
	}
	return postgres.Migrate(ctx, owner, opts...)
}

// warnRole logs what is wrong with the role the application connects as
// (a superuser, an owner, a role that may rewrite the trail), once per
// start: opsflow still runs, as it did before it had roles, but the
// operator should know that the database's guarantees do not hold.
func warnRole(ctx context.Context, db *postgres.DB, log *slog.Logger) {
	problems, err := postgres.RoleProblems(ctx, db)
	if err != nil {
		log.Warn("could not check the database role", "err", err)
		return
	}
	for _, p := range problems {
		log.Warn(p + ": give the application a role that owns nothing and migrate with MIGRATE_DATABASE_URL (README: Security)")
	}
}

// dialTemporal connects to the Temporal frontend; with tel, the client
// (and every worker made from it) reports the SDK's metrics and carries
// traces.
func dialTemporal(ctx context.Context, cfg *config.Config, log *slog.Logger, tel *telemetry.Telemetry) (client.Client, error) {
	opts := client.Options{
		HostPort:  cfg.TemporalAddress,
		Namespace: cfg.TemporalNamespace,
		Logger:    tlog.NewStructuredLogger(log.With("component", "temporal-client")),
	}
	if tel != nil {
		if err := tel.TemporalClient(&opts); err != nil {
			return nil, err
		}
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w", cfg.TemporalAddress, cfg.TemporalNamespace, err)
	}
	return c, nil
}

func parseDay(cfg *config.Config) (time.Duration, error) {
	d, err := time.ParseDuration(cfg.Day)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("day %q: want a positive duration such as 24h", cfg.Day)
	}
	return d, nil
}

// serveAPI serves the API on addr until ctx ends, then shuts down
// gracefully so in-flight requests (which may wait on workflow updates)
// finish.
func serveAPI(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	srv := server.HTTPServer(addr, h)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("listen on %s: %w", addr, err)
	case <-ctx.Done():
	}
	log.Info("stopping the API")
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// workerExtras are what a worker runs with beside its workflows: the
// checkpointer (nil: none) and the HTTP client of its webhooks.
type workerExtras struct {
	checkpointer *worker.Checkpointer
	http         *http.Client
	// notifications delivers the outbox (nil: not here).
	notifications *worker.Dispatcher
}

// runWorkerUntil runs a worker, and the reconciler, the notification
// dispatcher and the checkpointer beside it, until ctx ends. The checkpointer signs once more after the worker
// stopped, so the last changes are covered.
func runWorkerUntil(ctx context.Context, tc client.Client, queue string, db *postgres.DB, log *slog.Logger, x workerExtras) error {
	w := worker.New(tc, queue, &activities.Activities{Store: db, Logger: log, HTTP: x.http})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %s: %w", queue, err)
	}
	if err := worker.EnsureBuiltinSchedule(ctx, tc, queue, log); err != nil {
		// The built-in KPIs wait for the next worker start; nothing else does.
		log.Warn("built-in KPI schedule not ensured", "error", err)
	}
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		(&worker.Reconciler{Temporal: tc, Store: db, Log: log.With("component", "reconciler")}).Run(rctx)
	})
	if x.notifications != nil {
		wg.Go(func() { x.notifications.Run(rctx) })
	}
	cctx, stopCheckpoints := context.WithCancel(context.WithoutCancel(ctx))
	checkpointsDone := make(chan struct{})
	go func() {
		defer close(checkpointsDone)
		if x.checkpointer != nil {
			x.checkpointer.Run(cctx)
		}
	}()
	<-ctx.Done()
	log.Info("stopping the worker")
	stop()
	wg.Wait()
	w.Stop()
	stopCheckpoints()
	<-checkpointsDone
	return nil
}

// newWorkerExtras builds the checkpointer and the webhooks' HTTP client
// from the settings.
func newWorkerExtras(cfg *config.Config, db *postgres.DB, log *slog.Logger) (workerExtras, error) {
	var x workerExtras
	var err error
	if x.checkpointer, err = newCheckpointer(cfg, db, log); err != nil {
		return x, err
	}
	allow, err := outbound.Parse(cfg.OutboundAllow)
	if err != nil {
		return x, fmt.Errorf("OPSFLOW_OUTBOUND_ALLOW: %w", err)
	}
	if allow.Empty() {
		log.Warn("no outbound host is allowed (OPSFLOW_OUTBOUND_ALLOW is empty): provisioning webhooks will be refused and their tasks blocked, and Slack, Teams and webhook notifications fail")
	} else {
		log.Info("outbound calls allowed", "allow", allow.String())
	}
	x.http = allow.Client(30 * time.Second)
	if x.notifications, err = newDispatcher(cfg, db, log); err != nil {
		return x, err
	}
	x.notifications.HTTP = x.http
	return x, nil
}

// deps are what api and worker share: a logger, telemetry, the store and
// a Temporal client; close releases them.
type deps struct {
	log          *slog.Logger
	tel          *telemetry.Telemetry
	db           *postgres.DB
	tc           client.Client
	serveMetrics func(context.Context) error
}

func (d deps) close() {
	d.tc.Close()
	d.db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.tel.Shutdown(ctx); err != nil {
		d.log.Warn("telemetry shutdown", "err", err)
	}
}

// connect parses the flags of a production command and opens its
// telemetry, store and Temporal client. service names the process in
// traces.
func connect(ctx context.Context, name, service string, args []string, cfg *config.Config, settings ...string) (deps, error) {
	var d deps
	if err := config.Parse(newFlags(name, cfg, settings...), args); err != nil {
		return d, err
	}
	var err error
	if d.log, err = cfg.Logger(); err != nil {
		return d, err
	}
	d.log = slog.New(telemetry.LogHandler(d.log.Handler()))
	if d.tel, err = newTelemetry(ctx, cfg, service, d.log); err != nil {
		return d, err
	}
	// Bind the metrics port before anything else: a taken port fails
	// the start rather than leaving a process nobody can watch.
	if d.serveMetrics, err = d.tel.Listen(); err != nil {
		return d, err
	}
	if d.db, err = openStore(ctx, cfg); err != nil {
		return d, err
	}
	warnRole(ctx, d.db, d.log)
	if d.tc, err = dialTemporal(ctx, cfg, d.log, d.tel); err != nil {
		d.db.Close()
		return d, err
	}
	return d, nil
}

func newTelemetry(ctx context.Context, cfg *config.Config, service string, log *slog.Logger) (*telemetry.Telemetry, error) {
	return telemetry.New(ctx, telemetry.Options{
		Service: service, MetricsAddr: cfg.MetricsAddr,
		OTLPEndpoint: strings.TrimRight(cfg.OTLPEndpoint, "/"), Logger: log,
	})
}

// watch registers the gauges every process serves: what the processes
// are doing (read model and task queue), read on scrape.
func watch(tel *telemetry.Telemetry, db *postgres.DB, tc client.Client, queue string, log *slog.Logger) {
	tel.Registry().MustRegister(&telemetry.Business{Store: db, Temporal: tc, TaskQueue: queue, Logger: log})
}

// observedStore is the API's store with its audit verifications counted
// for the "verify failure" alert.
type observedStore struct {
	*postgres.DB
	verify *telemetry.VerifyMetrics
}

func (s observedStore) VerifyAudit(ctx context.Context, stream string) (opsflow.VerifyReport, error) {
	rep, err := s.DB.VerifyAudit(ctx, stream)
	s.verify.Observe(stream, rep, err)
	return rep, err
}

// runBeside runs main and, beside it, the metrics endpoint; the first to
// fail ends both.
func runBeside(ctx context.Context, serveMetrics, main func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		if err := serveMetrics(ctx); err != nil {
			errc <- err
			cancel()
		}
	}()
	err := main(ctx)
	select {
	case merr := <-errc:
		return errors.Join(err, merr)
	default:
		return err
	}
}

func runAPI(ctx context.Context, args []string, _ io.Writer) error {
	var cfg config.Config
	d, err := connect(ctx, "api", "opsflow-api", args, &cfg, append([]string{"database-url", "temporal-address", "temporal-namespace", "task-queue", "http-addr", "log-level", "day",
		"checkpoint-dir", "checkpoint-public-key", "public-url", "metrics-addr", "otlp-endpoint"}, securitySettings...)...)
	if err != nil {
		return err
	}
	defer d.close()
	day, err := parseDay(&cfg)
	if err != nil {
		return err
	}
	watch(d.tel, d.db, d.tc, cfg.TaskQueue, d.log)
	store := observedStore{DB: d.db, verify: telemetry.NewVerifyMetrics(d.tel.Registry())}
	sc := server.Config{Store: store, Temporal: d.tc, TaskQueue: cfg.TaskQueue, Logger: d.log, Day: day, Middleware: d.tel.Middleware()}
	if err := applySecurity(ctx, &cfg, &sc, d.log); err != nil {
		return err
	}
	if v, err := newCheckpointVerifier(&cfg, d.db); err != nil {
		return err
	} else if v != nil {
		sc.Checkpoints = v
	}
	h := server.New(sc)
	lctx, stopListening := context.WithCancel(ctx)
	defer stopListening()
	forgetRevokedTokens(lctx, cfg.DatabaseURL, h, d.log)
	d.log.Info("API listening", "addr", cfg.HTTPAddr, "metrics", cfg.MetricsAddr, "tracing", d.tel.Tracing())
	err = runBeside(ctx, d.serveMetrics, func(ctx context.Context) error { return serveAPI(ctx, cfg.HTTPAddr, h, d.log) })
	closeAPI(h, d.log)
	return err
}

// forgetRevokedTokens makes the API forget the tokens it trusts whenever
// one is revoked or someone's roles change, whichever process (another
// API, the CLI) made the change, until ctx ends.
func forgetRevokedTokens(ctx context.Context, url string, h *server.Server, log *slog.Logger) {
	go func() {
		if err := postgres.ListenAuth(ctx, url, log, h.ForgetTokens); err != nil {
			log.Error("listening for revoked tokens", "err", err)
		}
	}()
}

// closeAPI writes what the API still holds (the access log's queued
// reads) once it has stopped serving.
func closeAPI(h *server.Server, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		log.Error("API shutdown", "err", err)
	}
}

func runWorker(ctx context.Context, args []string, _ io.Writer) error {
	var cfg config.Config
	d, err := connect(ctx, "worker", "opsflow-worker", args, &cfg, append([]string{"database-url", "temporal-address", "temporal-namespace", "task-queue", "log-level", "workflow-cache",
		"checkpoint-key", "checkpoint-dir", "checkpoint-webhook", "checkpoint-interval", "outbound-allow", "metrics-addr", "otlp-endpoint"}, notifySettings...)...)
	if err != nil {
		return err
	}
	defer d.close()
	if err := setCacheSize(&cfg); err != nil {
		return err
	}
	x, err := newWorkerExtras(&cfg, d.db, d.log)
	if err != nil {
		return err
	}
	watch(d.tel, d.db, d.tc, cfg.TaskQueue, d.log)
	d.log.Info("worker polling", "task_queue", cfg.TaskQueue, "namespace", cfg.TemporalNamespace, "metrics", cfg.MetricsAddr, "tracing", d.tel.Tracing())
	return runBeside(ctx, d.serveMetrics, func(ctx context.Context) error { return runWorkerUntil(ctx, d.tc, cfg.TaskQueue, d.db, d.log, x) })
}

func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg config.Config
	fs := newFlags("migrate", &cfg, "database-url", "migrate-database-url", "log-level")
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	log, err := cfg.Logger()
	if err != nil {
		return err
	}
	if err := migrateSchema(ctx, &cfg, log); err != nil {
		return err
	}
	url := cfg.MigrateDatabaseURL
	if url == "" {
		url = cfg.DatabaseURL
	}
	db, err := postgres.Open(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close()
	states, err := postgres.MigrationStatus(ctx, db)
	if err != nil {
		return err
	}
	applied := 0
	for _, s := range states {
		if s.Applied {
			applied++
		}
	}
	fmt.Fprintf(stdout, "database is up to date: %d migrations applied\n", applied)
	return nil
}

func runHealthcheck(ctx context.Context, args []string, _ io.Writer) error {
	fs := flag.NewFlagSet("opsflow healthcheck", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080/healthz", "health URL to probe")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", *url, res.Status)
	}
	return nil
}

// setCacheSize applies the workflow-cache setting (before any worker
// starts, as the SDK requires).
func setCacheSize(cfg *config.Config) error {
	n, err := strconv.Atoi(cfg.WorkflowCache)
	if err != nil || n < 1 {
		return fmt.Errorf("workflow-cache %q: want a positive number of workflows", cfg.WorkflowCache)
	}
	worker.SetCacheSize(n)
	return nil
}
