// Package testenv is the integration-test harness: a package's TestMain
// calls Main, which starts one real Temporal dev server (in memory,
// headless) and one private PostgreSQL per test binary, creates a fresh
// database, runs the tests and tears everything down.
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		db := sqlx.MustOpen("postgres", testenv.DatabaseURL())
//		c, _ := client.Dial(client.Options{HostPort: testenv.TemporalAddress(), Namespace: testenv.Namespace()})
//		...
//	}
//
// The database is set up as production runs it, with two roles (see
// postgres/roles.go): MigrateURL is the owner's, for the migrations, and
// DatabaseURL the application's, which owns nothing and gets its
// privileges from the migrations. Tests therefore run the application
// with exactly the privileges it has in production. SuperuserURL is for
// tests that play an attacker with every right.
//
// testenv imports no other opsflow package (only devstack), so any package,
// including postgres/ and server/, can use it without an import cycle.
//
// Missing binaries fail the test binary with instructions; they never skip
// tests, because a skipped integration test is a green build that tested
// nothing.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow/internal/devstack"
)

// SearchAttributes are registered on the Temporal server before any test
// runs (name → type). Change it in TestMain before calling Main if a
// package needs more.
var SearchAttributes = map[string]string{"OpsflowKind": "Keyword"}

// DatabaseURLEnv names a PostgreSQL server to use instead of starting a
// private one; a fresh, uniquely named database is still created on it
// (and dropped afterwards).
const DatabaseURLEnv = "OPSFLOW_TEST_DATABASE_URL"

// LogsEnv, set to 1, copies the servers' logs to stderr.
const LogsEnv = "OPSFLOW_TESTENV_LOGS"

// The roles of the test databases. They are named apart from those of
// 'opsflow dev' (devstack.OwnerRole, devstack.AppRole) so that a shared
// server (DatabaseURLEnv) keeps the two apart.
const (
	OwnerRole = "opsflow_test_owner"
	AppRole   = "opsflow_test_app"
)

// namespace is deliberately not "default": code that forgets to pass the
// configured namespace fails in tests rather than in production.
const namespace = "opsflow-test"

var env struct {
	started   bool
	urls      devstack.DatabaseURLs
	serverURL string // a superuser's URL of the server's maintenance database, for NewDatabase
	temporal  string
}

// Main starts the stack, runs m and exits with its code. Call it from
// TestMain; it does not return.
func Main(m *testing.M) {
	os.Exit(run(m, nil))
}

// MainWith is Main with a setup step that runs once the stack is up and
// before the tests (open a pool, migrate). setup's teardown, if any, runs
// after the tests; a setup error fails the binary.
func MainWith(m *testing.M, setup func() (teardown func(), err error)) {
	os.Exit(run(m, setup))
}

// NewDatabase creates another empty database on this binary's PostgreSQL
// server and returns a superuser's URL of it, for tests that need a schema
// of their own.
func NewDatabase(ctx context.Context) (string, error) {
	urls, err := NewDatabaseWithRoles(ctx)
	return urls.Superuser, err
}

// NewDatabaseWithRoles is NewDatabase set up with the owner and application
// roles, as the binary's own database is.
func NewDatabaseWithRoles(ctx context.Context) (devstack.DatabaseURLs, error) {
	mustStarted()
	name := uniqueDatabaseName()
	if err := devstack.CreateDatabase(ctx, env.serverURL, name); err != nil {
		return devstack.DatabaseURLs{}, err
	}
	return devstack.SetupRoles(ctx, env.serverURL, name, OwnerRole, AppRole)
}

func run(m *testing.M, setup func() (func(), error)) int {
	logw := io.Discard
	if os.Getenv(LogsEnv) == "1" {
		logw = os.Stderr
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	bin, err := devstack.FindTemporal()
	if err != nil {
		return fail("integration tests need the Temporal CLI: %v", err)
	}
	tmp, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{
		Binary:           bin,
		UIPort:           -1,
		Namespace:        namespace,
		SearchAttributes: SearchAttributes,
		LogWriter:        logw,
		Logger:           logger,
	})
	if err != nil {
		return fail("start Temporal: %v", err)
	}
	defer stop("Temporal", tmp.Stop)

	dbName := uniqueDatabaseName()
	if server := os.Getenv(DatabaseURLEnv); server != "" {
		if err := devstack.CreateDatabase(ctx, server, dbName); err != nil {
			return fail("%s: %v", DatabaseURLEnv, err)
		}
		defer dropDatabase(server, dbName)
		env.serverURL = server
	} else {
		if _, err := devstack.FindPostgres(); err != nil {
			return fail("integration tests need PostgreSQL server binaries: %v (or set %s to a server they may create databases on)", err, DatabaseURLEnv)
		}
		dir, err := os.MkdirTemp("", "opsflow-testenv-")
		if err != nil {
			return fail("temp dir: %v", err)
		}
		defer os.RemoveAll(dir)
		pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{
			Dir:       filepath.Join(dir, "pg"),
			Ephemeral: true,
			LogWriter: logw,
			Logger:    logger,
		})
		if err != nil {
			return fail("start PostgreSQL: %v", err)
		}
		defer stop("PostgreSQL", pg.Stop)
		if err := pg.CreateDatabase(ctx, dbName); err != nil {
			return fail("%v", err)
		}
		env.serverURL = pg.URL("postgres")
	}
	if env.urls, err = devstack.SetupRoles(ctx, env.serverURL, dbName, OwnerRole, AppRole); err != nil {
		return fail("database roles: %v (a server named by %s must let its user create roles)", err, DatabaseURLEnv)
	}
	env.temporal = tmp.Address()
	env.started = true
	if setup != nil {
		teardown, err := setup()
		if err != nil {
			return fail("test setup: %v", err)
		}
		if teardown != nil {
			defer teardown()
		}
	}
	return m.Run()
}

// DatabaseURL is the application role's URL of this test binary's own,
// initially empty database (migrations are the tests' business: run them
// on MigrateURL, granting to AppRole).
func DatabaseURL() string { mustStarted(); return env.urls.App }

// MigrateURL is the owner role's URL of the same database: migrations run
// as the owner.
func MigrateURL() string { mustStarted(); return env.urls.Owner }

// SuperuserURL is a superuser's URL of the same database, for tests that
// play someone with every right (rewriting the trail behind the
// application's back).
func SuperuserURL() string { mustStarted(); return env.urls.Superuser }

// TemporalAddress is the host:port of the Temporal frontend.
func TemporalAddress() string { mustStarted(); return env.temporal }

// Namespace is the Temporal namespace to use; it is not "default".
func Namespace() string { mustStarted(); return namespace }

func mustStarted() {
	if !env.started {
		panic("testenv: the stack is not running; call testenv.Main(m) from TestMain")
	}
}

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "testenv: "+format+"\n", args...)
	return 1
}

func stop(what string, f func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: stop %s: %v\n", what, err)
	}
}

// uniqueDatabaseName names the database after the test binary (so a shared
// server shows whose it is) plus random bytes (so parallel runs of the same
// package never collide).
func uniqueDatabaseName() string {
	base := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	var b strings.Builder
	for _, r := range strings.ToLower(base) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := b.String()
	if len(name) > 30 {
		name = name[:30]
	}
	rnd := make([]byte, 6)
	_, _ = rand.Read(rnd)
	return "opsflow_test_" + name + "_" + hex.EncodeToString(rnd)
}

// dropDatabase removes the database we created on a shared server, so
// repeated CI runs don't fill it up. Failure only costs disk space.
func dropDatabase(server, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := devstack.DropDatabase(ctx, server, name); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: drop database %s: %v\n", name, err)
	}
}
