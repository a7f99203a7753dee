package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

func newKPI(t *testing.T) opsflow.KPI {
	t.Helper()
	k := opsflow.KPI{Key: fmt.Sprintf("scrap-%d", time.Now().UnixNano()), Name: "Scrap rate", Unit: "%", Direction: opsflow.LowerIsBetter, OwnerID: "alice", CreatedBy: "alice"}
	got, created, err := testDB.CreateKPI(t.Context(), k)
	if err != nil || !created || got.Key != k.Key || got.CreatedAt.IsZero() {
		t.Fatalf("create kpi: %+v %v %v", got, created, err)
	}
	return got
}

func TestCreateKPIIdempotentAndConflicting(t *testing.T) {
	ctx := t.Context()
	k := newKPI(t)
	newKPI(t) // a second one, for the list
	again, created, err := testDB.CreateKPI(ctx, k)
	if err != nil || created || again.Key != k.Key {
		t.Fatalf("same definition again: %+v %v %v; want the stored one", again, created, err)
	}
	k.Direction = opsflow.HigherIsBetter
	if _, _, err := testDB.CreateKPI(ctx, k); opsflow.ErrorCode(err) != opsflow.ECONFLICT {
		t.Fatalf("different definition: %v, want conflict", err)
	}
	if _, err := testDB.GetKPI(ctx, "no-such-kpi"); opsflow.ErrorCode(err) != opsflow.ENOTFOUND {
		t.Fatalf("get unknown: %v", err)
	}
	page, err := testDB.ListKPIs(ctx, 1, "")
	if err != nil || len(page.Items) != 1 || page.NextCursor == "" {
		t.Fatalf("first page: %+v %v", page, err)
	}
	next, err := testDB.ListKPIs(ctx, 1, page.NextCursor)
	if err != nil || (len(next.Items) == 1 && next.Items[0].Key <= page.Items[0].Key) {
		t.Fatalf("second page: %+v %v", next, err)
	}
}

func TestMeasurementsIdempotentWindowedAndAppendOnly(t *testing.T) {
	ctx := t.Context()
	k := newKPI(t)
	t0 := time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)
	batch := []opsflow.Measurement{
		{ID: "m1", Value: 5, At: t0, Source: "MES", RecordedBy: "alice"},
		{ID: "m2", Value: 4, At: t0.Add(time.Hour), Source: "MES", RecordedBy: "alice"},
		{ID: "m3", Value: 3, At: t0.Add(2 * time.Hour), Source: "MES", RecordedBy: "alice"},
	}
	for i, want := range []int{3, 0} { // the second call is a retried batch
		got, added, err := testDB.AddMeasurements(ctx, k.Key, batch)
		if err != nil || added != want || len(got) != 3 {
			t.Fatalf("call %d: added %d (want %d), %d back, %v", i, added, want, len(got), err)
		}
	}
	changed := []opsflow.Measurement{{ID: "m4", Value: 1, At: t0, RecordedBy: "alice"}, {ID: "m1", Value: 9, At: t0, Source: "MES", RecordedBy: "alice"}}
	if _, _, err := testDB.AddMeasurements(ctx, k.Key, changed); opsflow.ErrorCode(err) != opsflow.ECONFLICT {
		t.Fatalf("same ID, other value: %v, want conflict", err)
	}
	if n := countRows(t, `SELECT count(*) FROM kpi_measurements WHERE kpi_key = $1`, k.Key); n != 3 {
		t.Fatalf("%d measurements stored; a failed batch must write nothing", n)
	}
	if _, _, err := testDB.AddMeasurements(ctx, "no-such-kpi", batch); opsflow.ErrorCode(err) != opsflow.ENOTFOUND {
		t.Fatalf("unknown kpi: %v", err)
	}

	s, err := testDB.KPIStats(ctx, k.Key, t0, t0.Add(2*time.Hour)) // half-open: m3 is out
	if err != nil || s.Count != 2 || s.Mean != 4.5 || s.Min != 4 || s.Max != 5 {
		t.Fatalf("stats: %+v %v", s, err)
	}
	if s, err := testDB.KPIStats(ctx, k.Key, t0.Add(-time.Hour), t0); err != nil || s.Count != 0 {
		t.Fatalf("empty window: %+v %v", s, err)
	}

	from := t0.Add(time.Hour)
	page, err := testDB.Measurements(ctx, k.Key, &from, nil, 1, "")
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != "m2" || page.NextCursor == "" {
		t.Fatalf("page 1: %+v %v", page, err)
	}
	page, err = testDB.Measurements(ctx, k.Key, &from, nil, 1, page.NextCursor)
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != "m3" || page.NextCursor != "" {
		t.Fatalf("page 2: %+v %v", page, err)
	}

	if _, err := testDB.db.ExecContext(ctx, `UPDATE kpi_measurements SET value = 0 WHERE kpi_key = $1`, k.Key); err == nil {
		t.Fatal("measurements can be edited; they must be append-only")
	}
	if _, err := testDB.db.ExecContext(ctx, `DELETE FROM kpi_measurements WHERE kpi_key = $1`, k.Key); err == nil {
		t.Fatal("measurements can be deleted; they must be append-only")
	}
}
