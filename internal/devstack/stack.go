package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// StackOptions configures StartStack, the whole local stack of `opsflow dev`.
type StackOptions struct {
	// StateDir holds the PostgreSQL data dir (postgres/) and the Temporal
	// database (temporal.db), so processes, tasks and audit trails survive
	// a restart. Default ".opsflow" (config's OPSFLOW_STATE_DIR).
	StateDir string
	// Database is created on the private PostgreSQL; default "opsflow".
	Database string
	// DatabaseURL names an existing PostgreSQL database to use instead of
	// starting a private one (DATABASE_URL).
	DatabaseURL string
	// TemporalPort and UIPort default to Temporal's usual 7233 and 8233,
	// so tools like the temporal CLI work without flags; PostgresPort 0
	// picks a free port (a developer's machine often runs its own on 5432).
	TemporalPort, UIPort, PostgresPort int
	// Namespace, default "default".
	Namespace string
	// SearchAttributes to register (name → type).
	SearchAttributes map[string]string
	// LogWriter receives both servers' output; nil discards it.
	LogWriter io.Writer
	// Logger reports progress; nil means slog.Default().
	Logger *slog.Logger
}

// Stack is a running Temporal dev server plus a private PostgreSQL.
type Stack struct {
	Temporal *Temporal
	Postgres *Postgres // nil when StackOptions.DatabaseURL was set
	// DatabaseURL is the application's (role AppRole); MigrateURL the
	// owner's (role OwnerRole), for the migrations; SuperuserURL the
	// server's superuser's. All three are StackOptions.DatabaseURL when
	// that was set: a database of the user's own is used as it is.
	DatabaseURL, MigrateURL, SuperuserURL string
}

// StartStack starts PostgreSQL and Temporal with their state under
// opts.StateDir and creates the application database. On error, whatever
// was started is stopped again.
func StartStack(ctx context.Context, opts StackOptions) (*Stack, error) {
	if opts.StateDir == "" {
		opts.StateDir = ".opsflow"
	}
	if opts.Database == "" {
		opts.Database = "opsflow"
	}
	if opts.TemporalPort == 0 {
		opts.TemporalPort = 7233
	}
	if opts.UIPort == 0 {
		opts.UIPort = 8233
	}
	state, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if err := os.MkdirAll(state, 0o755); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	var pg *Postgres
	urls := DatabaseURLs{Superuser: opts.DatabaseURL, Owner: opts.DatabaseURL, App: opts.DatabaseURL}
	if opts.DatabaseURL == "" {
		if pg, err = StartPostgres(ctx, PostgresOptions{
			Dir:       filepath.Join(state, "postgres"),
			Port:      opts.PostgresPort,
			LogWriter: opts.LogWriter,
			Logger:    opts.Logger,
		}); err != nil {
			return nil, err
		}
		if err := pg.CreateDatabase(ctx, opts.Database); err != nil {
			return nil, errors.Join(err, stopQuietly(pg.Stop))
		}
		if urls, err = SetupRoles(ctx, pg.URL("postgres"), opts.Database, OwnerRole, AppRole); err != nil {
			return nil, errors.Join(err, stopQuietly(pg.Stop))
		}
	}
	topts := TemporalOptions{
		DBFile:           filepath.Join(state, "temporal.db"),
		Port:             opts.TemporalPort,
		UIPort:           opts.UIPort,
		Namespace:        opts.Namespace,
		SearchAttributes: opts.SearchAttributes,
		LogWriter:        opts.LogWriter,
		Logger:           opts.Logger,
	}
	topts.Fast() // a development stack: see Fast for what it trades
	tmp, err := StartTemporal(ctx, topts)
	if err != nil {
		if pg != nil {
			err = errors.Join(err, stopQuietly(pg.Stop))
		}
		return nil, err
	}
	return &Stack{Temporal: tmp, Postgres: pg, DatabaseURL: urls.App, MigrateURL: urls.Owner, SuperuserURL: urls.Superuser}, nil
}

// Stop stops Temporal first (it may still be writing through workers to
// PostgreSQL), then PostgreSQL. ctx bounds each shutdown before SIGKILL.
func (s *Stack) Stop(ctx context.Context) error {
	err := s.Temporal.Stop(ctx)
	if s.Postgres != nil { // nil when DatabaseURL named an outside database
		err = errors.Join(err, s.Postgres.Stop(ctx))
	}
	return err
}

func stopQuietly(stop func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return stop(ctx)
}
