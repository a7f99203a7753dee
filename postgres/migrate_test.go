package postgres

import (
	"context"
	"sync"
	"testing"
	"testing/fstest"
)

func TestMigrateFreshAndRerun(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, freshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range 2 { // the second run must find nothing to do
		if err := Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	st, err := MigrationStatus(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) < 3 {
		t.Fatalf("got %d migrations, want at least 3", len(st))
	}
	for _, s := range st {
		if !s.Applied {
			t.Errorf("migration %d (%s) not applied", s.Version, s.Source)
		}
		// Numbered by team (see migrate.go): store 1–99, CAPA 100+, Kaizen 200+, onboarding 300–399.
		if s.Version < 1 || s.Version > 399 {
			t.Errorf("migration %s: migrations are numbered 1–399", s.Source)
		}
	}
	for _, table := range []string{"audit_events", "audit_heads", "processes", "tasks", "users", "api_tokens"} {
		var ok bool
		if err := db.db.GetContext(ctx, &ok, "SELECT to_regclass($1) IS NOT NULL", table); err != nil || !ok {
			t.Errorf("table %s missing (err %v)", table, err)
		}
	}
}

func TestMigrateConcurrent(t *testing.T) {
	ctx := t.Context()
	url := freshDatabase(t)
	// Two pools stand for two processes (api and worker) starting together.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			db, err := Open(ctx, url)
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			errs[i] = Migrate(ctx, db)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("process %d: %v", i, err)
		}
	}
}

// Team ranges land out of order: a database that already ran 00300 must
// still accept 00100 later.
func TestMigrateTeamRangesOutOfOrder(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, freshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	file := func(table string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLE " + table + " (id int);\n-- +goose Down\nDROP TABLE " + table + ";\n")}
	}
	first := fstest.MapFS{"00001_a.sql": file("a"), "00300_onb.sql": file("onb")}
	if err := migrate(ctx, db, first); err != nil {
		t.Fatal(err)
	}
	later := fstest.MapFS{"00001_a.sql": file("a"), "00100_capa.sql": file("capa"), "00200_kzn.sql": file("kzn"), "00300_onb.sql": file("onb")}
	if err := migrate(ctx, db, later); err != nil {
		t.Fatalf("out-of-order team migration rejected: %v", err)
	}
	for _, table := range []string{"a", "capa", "kzn", "onb"} {
		var ok bool
		if err := db.db.GetContext(context.Background(), &ok, "SELECT to_regclass($1) IS NOT NULL", table); err != nil || !ok {
			t.Errorf("table %s missing (err %v)", table, err)
		}
	}
}
