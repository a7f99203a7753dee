package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

func snapshot(id string, version int64, state string, tasks ...opsflow.Task) opsflow.Snapshot {
	opened := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
	return opsflow.Snapshot{
		Process: opsflow.Process{
			ID: id, Kind: opsflow.KindCAPA, State: state, Title: "Leak at line " + id, OwnerID: "u1",
			OpenedAt: opened, Version: version,
			Record: json.RawMessage(fmt.Sprintf(`{"state": %q, "version": %d}`, state, version)),
			Search: map[string]string{"risk_level": "high"},
		},
		Tasks: tasks,
	}
}

func countRows(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := testDB.db.GetContext(t.Context(), &n, query, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSaveSnapshotIdempotentAndVersionGuarded(t *testing.T) {
	ctx := t.Context()
	id := "capa-" + uniqueStream(t)
	v1 := snapshot(id, 1, "reported", opsflow.Task{ID: "triage", Title: "Triage", State: opsflow.TaskOpen, Role: opsflow.RoleOwner})
	v1.Events = events(id, 1, 1)
	for range 2 { // the second call is an activity retry: nothing changes
		if err := testDB.SaveSnapshot(ctx, v1); err != nil {
			t.Fatal(err)
		}
	}
	var updated1 time.Time
	if err := testDB.db.GetContext(ctx, &updated1, `SELECT updated_at FROM processes WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}

	v3 := snapshot(id, 3, "containment", opsflow.Task{ID: "contain", Title: "Contain", State: opsflow.TaskOpen, Assignee: "u2"})
	v3.Events = events(id, 1, 3) // replays the first event, adds two
	if err := testDB.SaveSnapshot(ctx, v3); err != nil {
		t.Fatal(err)
	}
	// A late retry of version 2 must not roll the row or the tasks back.
	v2 := snapshot(id, 2, "triage", opsflow.Task{ID: "triage", Title: "Triage", State: opsflow.TaskDone})
	v2.Events = events(id, 1, 2)
	if err := testDB.SaveSnapshot(ctx, v2); err != nil {
		t.Fatal(err)
	}

	p, err := testDB.GetProcess(ctx, opsflow.KindCAPA, id)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 3 || p.State != "containment" || p.Search["risk_level"] != "high" || !p.OpenedAt.Equal(v3.Process.OpenedAt) {
		t.Fatalf("process after late retry = %+v", p)
	}
	var rec map[string]any
	if err := json.Unmarshal(p.Record, &rec); err != nil || rec["state"] != "containment" {
		t.Fatalf("record = %s (%v)", p.Record, err)
	}
	tasks, err := testDB.ListTasks(ctx, opsflow.TaskFilter{ProcessID: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks.Items) != 1 || tasks.Items[0].ID != "contain" || tasks.Items[0].Assignee != "u2" || tasks.Items[0].ProcessTitle != v3.Process.Title {
		t.Fatalf("tasks = %+v; want only version 3's task", tasks.Items)
	}
	if n := countRows(t, `SELECT count(*) FROM audit_events WHERE stream = $1`, id); n != 3 {
		t.Fatalf("%d audit events, want 3", n)
	}

	// A snapshot whose events do not fit the chain fails as a whole.
	v4 := snapshot(id, 4, "investigation")
	v4.Events = events(id, 9, 1)
	if err := testDB.SaveSnapshot(ctx, v4); opsflow.ErrorCode(err) != opsflow.ECONFLICT {
		t.Fatalf("bad events: err = %v, want conflict", err)
	}
	if p, _ := testDB.GetProcess(ctx, "", id); p.Version != 3 {
		t.Fatalf("failed snapshot was partly written: version %d", p.Version)
	}
}

func TestGetProcessNotFound(t *testing.T) {
	ctx := t.Context()
	id := "capa-" + uniqueStream(t)
	if err := testDB.SaveSnapshot(ctx, snapshot(id, 1, "reported")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		kind opsflow.Kind
		id   string
		code string
	}{
		{"", id, ""},
		{opsflow.KindCAPA, id, ""},
		{opsflow.KindKaizen, id, opsflow.ENOTFOUND},
		{"", "capa-missing", opsflow.ENOTFOUND},
	} {
		_, err := testDB.GetProcess(ctx, tt.kind, tt.id)
		if opsflow.ErrorCode(err) != tt.code {
			t.Errorf("GetProcess(%q, %q): err = %v, want code %q", tt.kind, tt.id, err, tt.code)
		}
	}
}

func TestSaveSnapshotRejectsBadInput(t *testing.T) {
	ok := snapshot("capa-x", 1, "reported")
	mutate := func(f func(*opsflow.Snapshot)) opsflow.Snapshot { s := ok; s.Process.Search = nil; f(&s); return s }
	for name, s := range map[string]opsflow.Snapshot{
		"no id":      mutate(func(s *opsflow.Snapshot) { s.Process.ID = "" }),
		"no version": mutate(func(s *opsflow.Snapshot) { s.Process.Version = 0 }),
		"bad record": mutate(func(s *opsflow.Snapshot) { s.Process.Record = json.RawMessage(`{`) }),
		"duplicate task": mutate(func(s *opsflow.Snapshot) {
			s.Tasks = []opsflow.Task{{ID: "a", State: "open"}, {ID: "a", State: "open"}}
		}),
	} {
		if err := testDB.SaveSnapshot(t.Context(), s); opsflow.ErrorCode(err) != opsflow.EINVALID {
			t.Errorf("%s: err = %v, want invalid", name, err)
		}
	}
}

func TestListProcessesPaginatesOnceThroughFilters(t *testing.T) {
	ctx := t.Context()
	owner := uniqueStream(t) // isolates this test's rows from the others'
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var want []string // IDs of open high-risk CAPAs, newest first
	for i := range 23 {
		s := snapshot(fmt.Sprintf("capa-%s-%02d", owner, i), 1, "open")
		s.Process.OwnerID = owner
		// Every third pair shares an opening time: the ID must break ties.
		s.Process.OpenedAt = base.Add(time.Duration(i/2) * time.Hour)
		if i%5 == 0 {
			s.Process.State = "closed"
			closed := s.Process.OpenedAt.Add(time.Hour)
			s.Process.ClosedAt = &closed
		}
		if i%4 == 0 {
			s.Process.Search = map[string]string{"risk_level": "low"}
		}
		if err := testDB.SaveSnapshot(ctx, s); err != nil {
			t.Fatal(err)
		}
		if s.Process.State == "open" && s.Process.Search["risk_level"] == "high" {
			want = append(want, s.Process.ID)
		}
	}
	slices.Reverse(want) // IDs grow with opening time

	walk := func(f opsflow.ProcessFilter) []string {
		var got []string
		for pages := 0; ; pages++ {
			if pages > 50 {
				t.Fatal("pagination does not end")
			}
			page, err := testDB.ListProcesses(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page.Items {
				got = append(got, p.ID)
			}
			if page.NextCursor == "" {
				return got
			}
			f.Cursor = page.NextCursor
		}
	}
	for _, limit := range []int{1, 4, 7, 200} {
		got := walk(opsflow.ProcessFilter{Kind: opsflow.KindCAPA, State: "open", OwnerID: owner, Search: map[string]string{"risk_level": "high"}, Limit: limit})
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: got %v\nwant %v", limit, got, want)
		}
	}

	from, to := base.Add(2*time.Hour), base.Add(5*time.Hour)
	if got := walk(opsflow.ProcessFilter{OwnerID: owner, OpenedFrom: &from, OpenedTo: &to, Limit: 2}); len(got) != 6 {
		t.Errorf("opened in [2h, 5h): %d processes, want 6: %v", len(got), got)
	}
	if got := walk(opsflow.ProcessFilter{OwnerID: owner, ClosedFrom: &from, ClosedTo: &to}); len(got) != 1 { // i = 5 closed at 3h
		t.Errorf("closed in [2h, 5h): %v, want 1", got)
	}
	if got := walk(opsflow.ProcessFilter{OwnerID: owner, Kind: opsflow.KindKaizen}); len(got) != 0 {
		t.Errorf("kaizen filter matched CAPAs: %v", got)
	}
	for _, c := range []string{"garbage!", "bm90IGpzb24" /* "not json" */} {
		_, err := testDB.ListProcesses(ctx, opsflow.ProcessFilter{Cursor: c})
		var e *opsflow.Error
		if !errors.As(err, &e) || e.Code != opsflow.EINVALID || e.Field != "cursor" {
			t.Errorf("cursor %q: err = %v, want invalid cursor", c, err)
		}
	}
}
