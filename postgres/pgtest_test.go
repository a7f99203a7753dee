package postgres

// This file is the only place that knows how tests get a database. When the
// project harness internal/testenv lands, TestMain becomes testenv.Main(m)
// and testURL/freshDatabase call testenv.DatabaseURL() instead.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/lib/pq"
)

const defaultTestDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var (
	adminURL string // the server's maintenance database, from the environment
	testURL  string // this test binary's own, migrated database
	testDB   *DB
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	adminURL = os.Getenv("OPSFLOW_TEST_DATABASE_URL")
	if adminURL == "" {
		adminURL = defaultTestDatabaseURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var drop func()
	var err error
	testURL, drop, err = createDatabase(ctx)
	if err != nil {
		// Never skip: a store test that did not run is a test that failed.
		fmt.Fprintf(os.Stderr, "postgres tests need PostgreSQL (set OPSFLOW_TEST_DATABASE_URL): %v\n", err)
		return 1
	}
	defer drop()
	testDB, err = Open(ctx, testURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testDB.Close()
	if err := Migrate(ctx, testDB); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// freshDatabase creates an empty database for one test and drops it at the
// end, for tests that need a schema of their own (migrations).
func freshDatabase(t testing.TB) string {
	t.Helper()
	u, drop, err := createDatabase(t.Context())
	if err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(drop)
	return u
}

// createDatabase creates a uniquely named database next to adminURL and
// returns its URL and a function that drops it.
func createDatabase(ctx context.Context) (string, func(), error) {
	admin, err := sql.Open("postgres", adminURL)
	if err != nil {
		return "", nil, err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "opsflow_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, err
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "drop test database %s: %v\n", name, err)
		}
		admin.Close()
	}
	return u.String(), drop, nil
}
