package workflows

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/opsflow/opsflow"
)

// faultyStore refuses snapshots the way PostgreSQL can: for good (a
// non-retryable error, which stalls the process) or because the trail
// diverged (which the engine repairs).
type faultyStore struct {
	*store
	refuse   func(opsflow.Snapshot) error
	stalls   []opsflow.Stall
	abandons []opsflow.Abandonment
}

func (f *faultyStore) SaveSnapshot(ctx context.Context, s opsflow.Snapshot) error {
	if f.refuse != nil {
		if err := f.refuse(s); err != nil {
			return err
		}
	}
	return f.store.SaveSnapshot(ctx, s)
}

func (f *faultyStore) MarkStalled(_ context.Context, st opsflow.Stall) error {
	f.stalls = append(f.stalls, st)
	return nil
}

func (f *faultyStore) Abandon(_ context.Context, a opsflow.Abandonment) error {
	f.abandons = append(f.abandons, a)
	return nil
}

var admin = opsflow.Actor{ID: "root", Name: "Admin", Roles: []opsflow.Role{opsflow.RoleAdmin}}

func TestEngineStallsThenRetries(t *testing.T) {
	env, st := newEnv(t)
	f := &faultyStore{store: st}
	env.RegisterActivityWithOptions(f.SaveSnapshot, activity.RegisterOptions{Name: ActivitySaveSnapshot})
	env.RegisterActivityWithOptions(f.MarkStalled, activity.RegisterOptions{Name: ActivityMarkStalled})
	env.RegisterActivityWithOptions(f.Abandon, activity.RegisterOptions{Name: ActivityAbandon})
	alice := opsflow.Actor{ID: "alice", Name: "Alice", Roles: []opsflow.Role{opsflow.RoleOwner}}
	broken := true
	f.refuse = func(s opsflow.Snapshot) error {
		for _, e := range s.Events {
			if broken && strings.Contains(e.Reason, "poison") {
				return temporal.NewNonRetryableApplicationError("check constraint violated", "store.internal", nil)
			}
		}
		return nil
	}
	var moved, blocked, early, retried, finished updateResult
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.UpdateMoveTask, "u1", &moved, opsflow.TaskMove{Actor: alice, TaskID: "t1", State: opsflow.TaskSkipped, Reason: "poison"})
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow("finish", "u2", &blocked, finish{Actor: alice, Note: "while stalled"})
		env.UpdateWorkflow(UpdateRetryStalled, "u3", &early, AdminAction{Actor: alice})
	}, 2*time.Minute)
	env.RegisterDelayedCallback(func() {
		broken = false
		env.UpdateWorkflow(UpdateRetryStalled, "u4", &retried, AdminAction{Actor: admin})
	}, 3*time.Minute)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow("finish", "u5", &finished, finish{Actor: alice, Note: "done"})
	}, 4*time.Minute)
	env.ExecuteWorkflow(probeWorkflow, 24*time.Hour)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if e, ok := OpsError(moved.err); !ok || e.State != "stalled" {
		t.Errorf("the step that stalled: %v", moved.err)
	}
	if e, ok := OpsError(blocked.err); !ok || e.State != "stalled" {
		t.Errorf("a step on the stalled process: %v", blocked.err)
	}
	if e, ok := OpsError(early.err); !ok || e.Code != opsflow.EFORBIDDEN {
		t.Errorf("a non-admin retry: %v", early.err)
	}
	if retried.err != nil || finished.err != nil {
		t.Fatalf("retry: %v, finish: %v", retried.err, finished.err)
	}
	if len(f.stalls) != 1 || !strings.Contains(f.stalls[0].Error, "check constraint") {
		t.Errorf("stalls: %+v", f.stalls)
	}
	want := []string{"probe.opened", "task.skipped", "probe.finished"}
	if got := st.actions(); !equal(got, want) {
		t.Errorf("audit actions:\n got %v\nwant %v", got, want)
	}
}

func TestEngineAbandonsAStalledProcess(t *testing.T) {
	env, st := newEnv(t)
	f := &faultyStore{store: st}
	env.RegisterActivityWithOptions(f.SaveSnapshot, activity.RegisterOptions{Name: ActivitySaveSnapshot})
	env.RegisterActivityWithOptions(f.MarkStalled, activity.RegisterOptions{Name: ActivityMarkStalled})
	env.RegisterActivityWithOptions(f.Abandon, activity.RegisterOptions{Name: ActivityAbandon})
	f.refuse = func(s opsflow.Snapshot) error {
		if len(s.Events) > 0 && s.Events[0].Action == "task.skipped" {
			return temporal.NewNonRetryableApplicationError("refused", "store.internal", nil)
		}
		return nil
	}
	alice := opsflow.Actor{ID: "alice", Name: "Alice", Roles: []opsflow.Role{opsflow.RoleOwner}}
	var moved, noReason, abandoned updateResult
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.UpdateMoveTask, "u1", &moved, opsflow.TaskMove{Actor: alice, TaskID: "t1", State: opsflow.TaskSkipped, Reason: "n/a"})
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateAbandon, "u2", &noReason, AdminAction{Actor: admin})
		env.UpdateWorkflow(UpdateAbandon, "u3", &abandoned, AdminAction{Actor: admin, Reason: "cannot be stored"})
	}, 2*time.Minute)
	env.ExecuteWorkflow(probeWorkflow, 24*time.Hour)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if e, ok := OpsError(noReason.err); !ok || e.Field != "reason" {
		t.Errorf("abandon without a reason: %v", noReason.err)
	}
	if abandoned.err != nil || abandoned.ack.State != opsflow.StateAbandoned {
		t.Fatalf("abandon: %+v %v", abandoned.ack, abandoned.err)
	}
	if len(f.abandons) != 1 || f.abandons[0].Dropped != 1 || f.abandons[0].Reason != "cannot be stored" {
		t.Errorf("abandonments: %+v", f.abandons)
	}
}

// A trail that diverged (a workflow task committed its projection, was
// retried and the retry changed something else) is repaired, not stalled:
// a note, then the changes that took effect, renumbered with their
// notifications.
func TestEngineResyncsADivergedTrail(t *testing.T) {
	env, st := newEnv(t)
	f := &faultyStore{store: st}
	env.RegisterActivityWithOptions(f.SaveSnapshot, activity.RegisterOptions{Name: ActivitySaveSnapshot})
	env.RegisterActivityWithOptions(f.MarkStalled, activity.RegisterOptions{Name: ActivityMarkStalled})
	once := true
	f.refuse = func(s opsflow.Snapshot) error {
		for _, e := range s.Events {
			if e.Action == "task.reminded" && once {
				once = false
				// The store holds events up to 4: a retried task's
				// changes from 2 on differ.
				st.mu.Lock()
				st.events = append(st.events, opsflow.AuditEvent{Seq: 2}, opsflow.AuditEvent{Seq: 3}, opsflow.AuditEvent{Seq: 4})
				st.mu.Unlock()
				d := opsflow.AuditDiverged{Stream: e.Stream, At: e.Seq, Head: 4}
				return temporal.NewApplicationErrorWithOptions(d.Error(), errAuditDiverged, temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{d}})
			}
		}
		return nil
	}
	alice := opsflow.Actor{ID: "alice", Name: "Alice", Roles: []opsflow.Role{opsflow.RoleOwner}}
	var finished updateResult
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.UpdateMoveTask, "u1", &updateResult{}, opsflow.TaskMove{Actor: alice, TaskID: "t1", State: opsflow.TaskDone})
	}, 30*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow("finish", "u2", &finished, finish{Actor: alice, Note: "done"})
	}, 31*time.Hour)
	env.ExecuteWorkflow(probeWorkflow, 24*time.Hour)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if finished.err != nil {
		t.Fatal(finished.err)
	}
	var seqs []int64
	var note opsflow.AuditEvent
	for _, e := range st.events {
		seqs = append(seqs, e.Seq)
		if e.Action == "process.resynchronised" {
			note = e
		}
	}
	if note.Seq != 5 || !strings.Contains(note.Reason, "events 2 to 4") {
		t.Errorf("note: %+v (seqs %v)", note, seqs)
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("sequence has a gap: %v", seqs)
		}
	}
	var renamed bool
	for _, s := range st.snaps {
		for _, n := range s.Notify {
			renamed = renamed || strings.HasSuffix(strings.Split(n.ID, ":")[0], "/6")
		}
	}
	if !renamed {
		t.Errorf("the reminder's notification kept its old event ID")
	}
	if len(f.stalls) != 0 {
		t.Errorf("stalled: %+v", f.stalls)
	}
}
