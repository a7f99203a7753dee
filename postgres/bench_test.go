package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

// BenchmarkSaveSnapshot measures one projection as a workflow sends it
// after a change: the process row, ten tasks and two new audit events.
func BenchmarkSaveSnapshot(b *testing.B) {
	ctx := b.Context()
	id := "capa-" + uniqueStream(b)
	var tasks []opsflow.Task
	due := time.Now().Add(48 * time.Hour)
	for i := range 10 {
		tasks = append(tasks, opsflow.Task{ID: fmt.Sprintf("t%d", i), Title: "Do it", State: opsflow.TaskOpen, Assignee: "u1", DueAt: &due, Weight: 1})
	}
	v := int64(0)
	for b.Loop() {
		v++
		s := snapshot(id, v, "investigation", tasks...)
		s.Events = events(id, 2*v-1, 2)
		if err := testDB.SaveSnapshot(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendAudit measures appending one event to a stream, the
// common case for timers and escalations.
func BenchmarkAppendAudit(b *testing.B) {
	ctx := b.Context()
	s := uniqueStream(b)
	seq := int64(0)
	for b.Loop() {
		seq++
		if err := testDB.AppendAudit(ctx, events(s, seq, 1)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendAuditRetry measures an activity retry: every event is
// already stored and is only compared.
func BenchmarkAppendAuditRetry(b *testing.B) {
	ctx := b.Context()
	s := uniqueStream(b)
	evs := events(s, 1, 10)
	if err := testDB.AppendAudit(ctx, evs); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := testDB.AppendAudit(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
}
