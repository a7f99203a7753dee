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
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/opsflow/opsflow/activities"
	"github.com/opsflow/opsflow/internal/config"
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

// openMigrated connects to PostgreSQL and brings its schema up to date,
// for commands that write before any server has migrated.
func openMigrated(ctx context.Context, cfg *config.Config) (*postgres.DB, error) {
	db, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := postgres.Migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// dialTemporal connects to the Temporal frontend.
func dialTemporal(ctx context.Context, cfg *config.Config, log *slog.Logger) (client.Client, error) {
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  cfg.TemporalAddress,
		Namespace: cfg.TemporalNamespace,
		Logger:    tlog.NewStructuredLogger(log.With("component", "temporal-client")),
	})
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

// runWorkerUntil runs a worker, and the reconciler beside it, until ctx
// ends.
func runWorkerUntil(ctx context.Context, tc client.Client, queue string, db *postgres.DB, log *slog.Logger) error {
	w := worker.New(tc, queue, &activities.Activities{Store: db, Logger: log})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %s: %w", queue, err)
	}
	if err := worker.EnsureBuiltinSchedule(ctx, tc, queue, log); err != nil {
		// The built-in KPIs wait for the next worker start; nothing else does.
		log.Warn("built-in KPI schedule not ensured", "error", err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&worker.Reconciler{Temporal: tc, Store: db, Log: log.With("component", "reconciler")}).Run(rctx)
	}()
	<-ctx.Done()
	log.Info("stopping the worker")
	stop()
	<-done
	w.Stop()
	return nil
}

// deps are what api and worker share: a logger, the store and a Temporal
// client; close releases them.
type deps struct {
	log *slog.Logger
	db  *postgres.DB
	tc  client.Client
}

func (d deps) close() {
	d.tc.Close()
	d.db.Close()
}

// connect parses the flags of a production command and opens its store and
// Temporal client.
func connect(ctx context.Context, name string, args []string, cfg *config.Config, settings ...string) (deps, error) {
	var d deps
	if err := config.Parse(newFlags(name, cfg, settings...), args); err != nil {
		return d, err
	}
	var err error
	if d.log, err = cfg.Logger(); err != nil {
		return d, err
	}
	if d.db, err = openStore(ctx, cfg); err != nil {
		return d, err
	}
	if d.tc, err = dialTemporal(ctx, cfg, d.log); err != nil {
		d.db.Close()
		return d, err
	}
	return d, nil
}

func runAPI(ctx context.Context, args []string, _ io.Writer) error {
	var cfg config.Config
	d, err := connect(ctx, "api", args, &cfg, "database-url", "temporal-address", "temporal-namespace", "task-queue", "http-addr", "log-level", "day")
	if err != nil {
		return err
	}
	defer d.close()
	day, err := parseDay(&cfg)
	if err != nil {
		return err
	}
	h := server.New(server.Config{Store: d.db, Temporal: d.tc, TaskQueue: cfg.TaskQueue, Logger: d.log, Day: day})
	d.log.Info("API listening", "addr", cfg.HTTPAddr)
	return serveAPI(ctx, cfg.HTTPAddr, h, d.log)
}

func runWorker(ctx context.Context, args []string, _ io.Writer) error {
	var cfg config.Config
	d, err := connect(ctx, "worker", args, &cfg, "database-url", "temporal-address", "temporal-namespace", "task-queue", "log-level", "workflow-cache")
	if err != nil {
		return err
	}
	defer d.close()
	if err := setCacheSize(&cfg); err != nil {
		return err
	}
	d.log.Info("worker polling", "task_queue", cfg.TaskQueue, "namespace", cfg.TemporalNamespace)
	return runWorkerUntil(ctx, d.tc, cfg.TaskQueue, d.db, d.log)
}

func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg config.Config
	fs := newFlags("migrate", &cfg, "database-url", "log-level")
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	db, err := openMigrated(ctx, &cfg)
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
