package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Migration files are numbered by team with room between them, so parallel
// work never collides: store 00001–00099, CAPA 00100+, Kaizen 00200+,
// onboarding 00300+.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockID is the PostgreSQL advisory lock that serialises Migrate
// across processes (api and worker starting together). It differs from
// goose's default so that another goose-managed schema in the same database
// does not wait on ours.
const migrationLockID int64 = 0x6f707366 // "opsf"

// MigrationState is one migration and whether the database has it.
type MigrationState struct {
	Version   int64
	Source    string // file name
	Applied   bool
	AppliedAt time.Time // zero unless Applied
}

// Migrate applies every pending migration. It is safe to call from several
// processes at once: they take turns on an advisory lock, and the later
// ones find nothing to do.
//
// db connects as the schema's owner. With GrantTo, Migrate then gives the
// application's role its privileges (GrantApp); without it, the
// application is assumed to connect as the owner, which works but lets it
// rewrite the audit trail.
func Migrate(ctx context.Context, db *DB, opts ...MigrateOption) error {
	var o migrateOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := migrate(ctx, db, migrationsFS()); err != nil {
		return err
	}
	if o.appRole != "" {
		return GrantApp(ctx, db, o.appRole)
	}
	return nil
}

// MigrateOption configures Migrate.
type MigrateOption func(*migrateOptions)

type migrateOptions struct{ appRole string }

// GrantTo names the application's role, to be given its privileges once
// the schema is up to date.
func GrantTo(role string) MigrateOption { return func(o *migrateOptions) { o.appRole = role } }

// MigrationStatus lists every known migration in version order.
func MigrationStatus(ctx context.Context, db *DB) ([]MigrationState, error) {
	p, err := newProvider(db, migrationsFS())
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: migration status: %w", err)
	}
	out := make([]MigrationState, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationState{
			Version:   s.Source.Version,
			Source:    s.Source.Path,
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}

func migrationsFS() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil { // a constant, valid path: cannot fail
		panic(err)
	}
	return sub
}

func migrate(ctx context.Context, db *DB, fsys fs.FS) error {
	p, err := newProvider(db, fsys)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

func newProvider(db *DB, fsys fs.FS) (*goose.Provider, error) {
	// Poll the lock every second for up to five minutes: a first start may
	// run long migrations while its twin waits.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("postgres: migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db.db.DB, fsys,
		goose.WithSessionLocker(locker),
		// Versions are team ranges, not dates: a database that already has
		// onboarding's 00300 must still accept CAPA's 00105 when it lands.
		goose.WithAllowOutofOrder(true),
		// Only the embedded SQL files count, never Go migrations that some
		// imported package registered globally.
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	return p, nil
}
