package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// newKPIKey returns a KPI key no other test uses.
func newKPIKey(t *testing.T) string {
	return fmt.Sprintf("kpi-%d", time.Now().UnixNano())
}

func TestKPIRegistryAndMeasurements(t *testing.T) {
	a := newApp(t)
	key := newKPIKey(t)
	kpi := map[string]any{"key": key, "name": "Scrap rate, line 4", "unit": "%", "direction": "lower"}

	a.Must(http.StatusForbidden, "carol", "POST", "/v1/kpis", kpi) // auditors read
	if e := a.Must(http.StatusUnprocessableEntity, "alice", "POST", "/v1/kpis", map[string]any{"key": key, "name": "x", "unit": "%", "direction": "up"}).Err(t); e.Field != "direction" {
		t.Errorf("bad direction: field %q", e.Field)
	}
	if e := a.Must(http.StatusUnprocessableEntity, "alice", "POST", "/v1/kpis", map[string]any{"key": key, "name": "x", "unit": "%", "direction": "lower", "colour": "red"}).Err(t); e.Field != "colour" {
		t.Errorf("unknown field: field %q", e.Field)
	}
	r := a.Must(http.StatusCreated, "alice", "POST", "/v1/kpis", kpi)
	if m := r.Map(t); m["owner"] != "alice" || m["direction"] != "lower" || m["created_by"] != "alice" {
		t.Errorf("created %v", m)
	}
	a.Must(http.StatusOK, "alice", "POST", "/v1/kpis", kpi) // the same definition again: a retry
	kpi["direction"] = "higher"
	a.Must(http.StatusConflict, "alice", "POST", "/v1/kpis", kpi)
	a.Must(http.StatusOK, "carol", "GET", "/v1/kpis/"+key, nil)
	a.Must(http.StatusNotFound, "carol", "GET", "/v1/kpis/no-such-kpi", nil)
	var page struct {
		Items      []map[string]any `json:"items"`
		NextCursor string           `json:"next_cursor"`
	}
	a.Must(http.StatusOK, "carol", "GET", "/v1/kpis?limit=1", nil).JSON(t, &page)
	if len(page.Items) != 1 {
		t.Errorf("list: %+v", page)
	}

	path := "/v1/kpis/" + key + "/measurements"
	t0 := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Second)
	a.Must(http.StatusCreated, "dave", "POST", path, map[string]any{"id": "shift-1", "value": 5.5, "at": t0, "source": "MES"})
	a.Must(http.StatusOK, "dave", "POST", path, map[string]any{"id": "shift-1", "value": 5.5, "at": t0, "source": "MES"})
	a.Must(http.StatusConflict, "dave", "POST", path, map[string]any{"id": "shift-1", "value": 9, "at": t0, "source": "MES"})
	batch := map[string]any{"items": []map[string]any{
		{"value": 4.5, "at": t0.Add(time.Hour)},
		{"value": 3.5, "at": t0.Add(2 * time.Hour), "source": "manual count"},
	}}
	var added struct {
		Added int `json:"added"`
	}
	a.Must(http.StatusCreated, "dave", "POST", path, batch, "Idempotency-Key", "batch-1").JSON(t, &added)
	if added.Added != 2 {
		t.Errorf("batch added %d", added.Added)
	}
	a.Must(http.StatusOK, "dave", "POST", path, batch, "Idempotency-Key", "batch-1").JSON(t, &added) // retried
	if added.Added != 0 {
		t.Errorf("retried batch added %d, want 0", added.Added)
	}
	if e := a.Must(http.StatusUnprocessableEntity, "dave", "POST", path, map[string]any{"items": []map[string]any{{"value": 1, "at": t0}, {"at": t0}}}).Err(t); e.Field != "items[1].value" {
		t.Errorf("missing value: field %q", e.Field)
	}
	if e := a.Must(http.StatusUnprocessableEntity, "dave", "POST", path, map[string]any{"value": 1, "at": time.Now().Add(time.Hour)}).Err(t); e.Field != "at" {
		t.Errorf("future: field %q", e.Field)
	}
	a.Must(http.StatusNotFound, "dave", "POST", "/v1/kpis/no-such-kpi/measurements", map[string]any{"value": 1, "at": t0})

	var ms struct {
		Items []struct {
			ID         string  `json:"id"`
			Value      float64 `json:"value"`
			RecordedBy string  `json:"recorded_by"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	from := t0.Add(30 * time.Minute).Format(time.RFC3339)
	a.Must(http.StatusOK, "carol", "GET", path+"?from="+from+"&limit=1", nil).JSON(t, &ms)
	if len(ms.Items) != 1 || ms.Items[0].Value != 4.5 || ms.Items[0].RecordedBy != "dave" || ms.NextCursor == "" {
		t.Fatalf("page 1: %+v", ms)
	}
	cursor := ms.NextCursor
	ms.Items, ms.NextCursor = nil, ""
	a.Must(http.StatusOK, "carol", "GET", path+"?from="+from+"&limit=1&cursor="+cursor, nil).JSON(t, &ms)
	if len(ms.Items) != 1 || ms.Items[0].Value != 3.5 || ms.NextCursor != "" {
		t.Fatalf("page 2: %+v", ms)
	}
	a.Must(http.StatusUnprocessableEntity, "carol", "GET", path+"?from=yesterday", nil)
}
