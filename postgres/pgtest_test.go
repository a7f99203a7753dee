package postgres

// This file is the only place that knows how tests get a database: the
// project harness (internal/testenv) starts a private PostgreSQL for this
// test binary, so the tests never depend on a server that happens to run.

import (
	"context"
	"testing"
	"time"

	"github.com/opsflow/opsflow/internal/testenv"
)

var (
	testURL string // this test binary's own, migrated database, as the application's role
	testDB  *DB    // the application's role, as the API and the worker connect
	ownerDB *DB    // the schema's owner, which migrates
	superDB *DB    // a superuser: for tests that rewrite the trail behind the application's back
)

func TestMain(m *testing.M) {
	testenv.MainWith(m, func() (func(), error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		testURL = testenv.DatabaseURL()
		var err error
		if ownerDB, err = Open(ctx, testenv.MigrateURL()); err != nil {
			return nil, err
		}
		if err := Migrate(ctx, ownerDB, GrantTo(testenv.AppRole)); err != nil {
			ownerDB.Close()
			return nil, err
		}
		if testDB, err = Open(ctx, testURL); err != nil {
			ownerDB.Close()
			return nil, err
		}
		if superDB, err = Open(ctx, testenv.SuperuserURL()); err != nil {
			ownerDB.Close()
			testDB.Close()
			return nil, err
		}
		return func() { testDB.Close(); ownerDB.Close(); superDB.Close() }, nil
	})
}

// freshDatabase creates an empty database for one test, for tests that need
// a schema of their own (migrations). It goes away with the test binary's
// server.
func freshDatabase(t testing.TB) string {
	t.Helper()
	u, err := testenv.NewDatabase(t.Context())
	if err != nil {
		t.Fatalf("create database: %v", err)
	}
	return u
}
