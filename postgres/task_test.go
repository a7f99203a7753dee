package postgres

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

func TestListTasksInbox(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	at := func(h int) *time.Time { v := now.Add(time.Duration(h) * time.Hour); return &v }
	who := uniqueStream(t) // assignee and role names private to this test
	role := opsflow.Role("role-" + who)

	capa := snapshot("capa-"+who, 1, "investigation",
		opsflow.Task{ID: "a-overdue", State: opsflow.TaskOpen, Assignee: who, DueAt: at(-2)},
		opsflow.Task{ID: "b-due-later", State: opsflow.TaskInProgress, Assignee: who, DueAt: at(5)},
		opsflow.Task{ID: "c-done-late", State: opsflow.TaskDone, Assignee: who, DueAt: at(-9)},
		opsflow.Task{ID: "d-no-due", State: opsflow.TaskOpen, Assignee: who},
		opsflow.Task{ID: "e-role-overdue", State: opsflow.TaskBlocked, Role: role, DueAt: at(-1), Reason: "waiting"},
	)
	onb := snapshot("onb-"+who, 1, "running",
		opsflow.Task{ID: "f-role", State: opsflow.TaskOpen, Role: role, DueAt: at(1), Weight: 3, Evidence: []string{"doc"}},
		opsflow.Task{ID: "g-no-due", State: opsflow.TaskScheduled, Assignee: who},
		opsflow.Task{ID: "h-due-now", State: opsflow.TaskOpen, Assignee: who, DueAt: at(0)}, // not yet past due
	)
	onb.Process.Kind = opsflow.KindOnboarding
	for _, s := range []opsflow.Snapshot{capa, onb} {
		if err := testDB.SaveSnapshot(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	yes, no := true, false
	tests := []struct {
		name string
		f    opsflow.TaskFilter
		want []string // in inbox order: due date (none last), process ID, task ID
	}{
		{"assignee", opsflow.TaskFilter{Assignee: who}, []string{"c-done-late", "a-overdue", "h-due-now", "b-due-later", "d-no-due", "g-no-due"}},
		{"role", opsflow.TaskFilter{Role: role}, []string{"e-role-overdue", "f-role"}},
		{"assignee overdue", opsflow.TaskFilter{Assignee: who, Overdue: &yes}, []string{"a-overdue"}},
		{"role overdue", opsflow.TaskFilter{Role: role, Overdue: &yes}, []string{"e-role-overdue"}},
		{"assignee not overdue", opsflow.TaskFilter{Assignee: who, Overdue: &no}, []string{"c-done-late", "h-due-now", "b-due-later", "d-no-due", "g-no-due"}},
		{"state", opsflow.TaskFilter{Assignee: who, State: opsflow.TaskOpen}, []string{"a-overdue", "h-due-now", "d-no-due"}},
		{"process kind", opsflow.TaskFilter{Assignee: who, ProcessKind: opsflow.KindOnboarding}, []string{"h-due-now", "g-no-due"}},
		{"process id", opsflow.TaskFilter{ProcessID: "onb-" + who}, []string{"h-due-now", "f-role", "g-no-due"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, limit := range []int{1, 2, 0} { // every page size walks the same rows
				f := tt.f
				f.Now, f.Limit = now, limit
				var got []string
				for {
					page, err := testDB.ListTasks(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range page.Items {
						got = append(got, r.ID)
						if r.Overdue != r.Task.Overdue(now) {
							t.Errorf("%s: Overdue = %v, but the domain says %v", r.ID, r.Overdue, r.Task.Overdue(now))
						}
					}
					if page.NextCursor == "" {
						break
					}
					if len(got) > 20 {
						t.Fatal("pagination does not end")
					}
					f.Cursor = page.NextCursor
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("limit %d: got %v\nwant %v", limit, got, tt.want)
				}
			}
		})
	}

	// The row carries the whole task and its process.
	page, err := testDB.ListTasks(ctx, opsflow.TaskFilter{Role: role, ProcessKind: opsflow.KindOnboarding, Now: now})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("%+v, %v", page, err)
	}
	r := page.Items[0]
	if r.ProcessID != "onb-"+who || r.ProcessKind != opsflow.KindOnboarding || r.ProcessTitle != onb.Process.Title ||
		r.Weight != 3 || !slices.Equal(r.Evidence, []string{"doc"}) || !r.DueAt.Equal(*at(1)) {
		t.Errorf("row = %+v", r)
	}
	_, err = testDB.ListTasks(ctx, opsflow.TaskFilter{Cursor: "%%%"})
	var e *opsflow.Error
	if !errors.As(err, &e) || e.Field != "cursor" {
		t.Errorf("bad cursor: %v", err)
	}
}

func TestListTasksLimits(t *testing.T) {
	ctx := t.Context()
	who := uniqueStream(t)
	var tasks []opsflow.Task
	for i := range opsflow.MaxPageSize + 5 {
		tasks = append(tasks, opsflow.Task{ID: fmt.Sprintf("t%03d", i), State: opsflow.TaskOpen, Assignee: who})
	}
	if err := testDB.SaveSnapshot(ctx, snapshot("capa-"+who, 1, "open", tasks...)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ limit, want int }{{0, opsflow.DefaultPageSize}, {-1, opsflow.DefaultPageSize}, {1000, opsflow.MaxPageSize}, {3, 3}} {
		page, err := testDB.ListTasks(ctx, opsflow.TaskFilter{Assignee: who, Limit: tt.limit})
		if err != nil || len(page.Items) != tt.want || page.NextCursor == "" {
			t.Errorf("limit %d: %d items, cursor %q, err %v; want %d", tt.limit, len(page.Items), page.NextCursor, err, tt.want)
		}
	}
}
