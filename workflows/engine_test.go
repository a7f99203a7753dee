package workflows

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/opsflow/opsflow"
)

// probe is the smallest process: one task on a board and a "finish" update.
// It exercises the engine the way every real process uses it.
type probe struct {
	e        *engine
	Board    opsflow.Board
	State    string
	Finished bool
}

func (p *probe) row() (opsflow.Process, []opsflow.Task) {
	rec, _ := json.Marshal(p)
	return opsflow.Process{State: p.State, Title: "probe", Record: rec}, p.Board.Tasks
}
func (p *probe) deadline() (time.Time, bool) { return p.Board.Deadline() }
func (p *probe) fire(ctx workflow.Context, now time.Time) error {
	tick(ctx, p.e, &p.Board, now, func(rel string, t opsflow.Task) string { return "user-" + rel })
	return nil
}
func (p *probe) done() bool       { return p.Finished }
func (p *probe) steps() []handler { return nil } // registers its own, below
func (p *probe) halt(ctx workflow.Context, reason string) {
	p.e.record(ctx, change{Actor: opsflow.SystemActor, Action: "probe.halted", Field: "state", Old: p.State, New: "halted", Reason: reason})
	p.State, p.Finished = "halted", true
}

type finish struct {
	Actor opsflow.Actor `json:"actor"`
	Note  string        `json:"note"`
}

func probeWorkflow(ctx workflow.Context, due time.Duration) error {
	p := &probe{e: newEngine(ctx, EngineState{ID: workflow.GetInfo(ctx).WorkflowExecution.ID, Kind: "probe"}), State: "open"}
	p.Board.Policy = opsflow.TaskPolicy{RemindBefore: opsflow.Duration(time.Hour), Escalation: []opsflow.EscalationTier{{After: 0, Notify: "owner"}, {After: opsflow.Duration(24 * time.Hour), Notify: "approver"}}}
	d := workflow.Now(ctx).Add(due)
	_ = p.Board.Add(opsflow.Task{ID: "t1", Title: "do it", Assignee: "alice", State: opsflow.TaskOpen, DueAt: &d, Weight: 1})
	if err := p.e.register(ctx, p); err != nil {
		return err
	}
	if err := onUpdate(ctx, p.e, p, "finish", func(in finish) error {
		if in.Note == "" {
			return opsflow.Invalid("note", "note is required")
		}
		if p.Board.Active() {
			return opsflow.Conflict(p.State, "tasks are still open")
		}
		return nil
	}, func(ctx workflow.Context, in finish) error {
		p.e.record(ctx, change{Actor: in.Actor, Action: "probe.finished", Field: "state", Old: p.State, New: "done", Reason: in.Note})
		p.State, p.Finished = "done", true
		return nil
	}); err != nil {
		return err
	}
	if err := onUpdate(ctx, p.e, p, opsflow.UpdateMoveTask, p.Board.CheckMove, func(ctx workflow.Context, m opsflow.TaskMove) error {
		moveTask(ctx, p.e, &p.Board, m)
		return nil
	}); err != nil {
		return err
	}
	p.e.record(ctx, change{Actor: opsflow.SystemActor, Action: "probe.opened", Field: "state", New: p.State})
	return p.e.run(ctx, p, nil)
}

// store is an in-memory SaveSnapshot that checks what a real store relies
// on: versions grow and audit sequence numbers have no gaps.
type store struct {
	mu     sync.Mutex
	t      *testing.T
	snaps  []opsflow.Snapshot
	events []opsflow.AuditEvent
}

func (s *store) SaveSnapshot(_ context.Context, snap opsflow.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.snaps); n > 0 && snap.Process.Version <= s.snaps[n-1].Process.Version {
		s.t.Errorf("version went from %d to %d", s.snaps[n-1].Process.Version, snap.Process.Version)
	}
	for _, ev := range snap.Events {
		if want := int64(len(s.events) + 1); ev.Seq != want {
			s.t.Errorf("event %s: seq %d, want %d", ev.Action, ev.Seq, want)
		}
		s.events = append(s.events, ev)
	}
	s.snaps = append(s.snaps, snap)
	return nil
}

func (s *store) actions() []string {
	var out []string
	for _, e := range s.events {
		out = append(out, e.Action)
	}
	return out
}

func newEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *store) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	st := &store{t: t}
	env.RegisterActivityWithOptions(st.SaveSnapshot, activity.RegisterOptions{Name: ActivitySaveSnapshot})
	return env, st
}

type updateResult struct {
	ack opsflow.Ack
	err error
}

func (u *updateResult) Reject(err error)          { u.err = err }
func (u *updateResult) Accept()                   {}
func (u *updateResult) Complete(r any, err error) { u.err = err; u.ack, _ = r.(opsflow.Ack) }

func TestEngineEscalatesAndFinishes(t *testing.T) {
	env, st := newEnv(t)
	alice := opsflow.Actor{ID: "alice", Name: "Alice", Roles: []opsflow.Role{opsflow.RoleOwner}}
	var rejected, early, wrongUser, moved, finished updateResult
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow("finish", "u1", &rejected, finish{Actor: alice})
		env.UpdateWorkflow("finish", "u2", &early, finish{Actor: alice, Note: "too early"})
		env.UpdateWorkflow(opsflow.UpdateMoveTask, "u3", &wrongUser, opsflow.TaskMove{Actor: opsflow.Actor{ID: "bob"}, TaskID: "t1", State: opsflow.TaskDone})
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(opsflow.UpdateMoveTask, "u4", &moved, opsflow.TaskMove{Actor: alice, TaskID: "t1", State: opsflow.TaskDone, Evidence: []string{"doc-1"}})
	}, 72*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow("finish", "u5", &finished, finish{Actor: alice, Note: "all done"})
	}, 73*time.Hour)
	env.ExecuteWorkflow(probeWorkflow, 24*time.Hour)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	for name, u := range map[string]*updateResult{"missing note": &rejected, "open tasks": &early, "wrong user": &wrongUser} {
		if u.err == nil {
			t.Errorf("%s: update accepted, want rejection", name)
		}
	}
	if e, ok := OpsError(rejected.err); !ok || e.Field != "note" || e.Code != opsflow.EINVALID {
		t.Errorf("missing note: got %v, want invalid note", rejected.err)
	}
	if e, ok := OpsError(early.err); !ok || e.Code != opsflow.ECONFLICT || e.State != "open" {
		t.Errorf("open tasks: got %v, want conflict in state open", early.err)
	}
	if e, ok := OpsError(wrongUser.err); !ok || e.Code != opsflow.EFORBIDDEN {
		t.Errorf("wrong user: got %v, want forbidden", wrongUser.err)
	}
	if moved.err != nil || finished.err != nil {
		t.Fatalf("move: %v, finish: %v", moved.err, finished.err)
	}
	if finished.ack.State != "done" || finished.ack.Version != st.snaps[len(st.snaps)-1].Process.Version {
		t.Errorf("finish returned %+v; want the last written version", finished.ack)
	}
	want := []string{"probe.opened", "task.reminded", "task.escalated", "task.escalated", "task.done", "task.evidence_added", "probe.finished"}
	if got := st.actions(); !equal(got, want) {
		t.Errorf("audit actions:\n got %v\nwant %v", got, want)
	}
	var notified []string
	for _, s := range st.snaps {
		for _, n := range s.Notify {
			notified = append(notified, n.To)
		}
	}
	if !equal(notified, []string{"alice", "user-owner", "user-approver"}) {
		t.Errorf("notifications went to %v", notified)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
