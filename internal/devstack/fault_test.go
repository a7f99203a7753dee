package devstack_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/opsflow/opsflow/internal/devstack"
)

// A killed child takes its whole process group with it (a worker's
// helpers must not outlive a crash any more than the worker does).
func TestChildKillReapsGroup(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 60 & echo started; wait")
	c, err := devstack.StartChild("sleeper", cmd, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.Tail(), "started") {
		if time.Now().After(deadline) {
			t.Fatalf("child never started: %s", c.Tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	pid := c.PID()
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if !c.Exited() {
		t.Fatal("Kill returned before the child was reaped")
	}
	waitGone(t, pid)
	deadline = time.Now().Add(10 * time.Second)
	for !groupGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("processes left in group %d after Kill", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.Kill(); err == nil {
		t.Error("a second Kill reported success on an exited child")
	}
	if err := c.Stop(stopCtx(t)); err != nil {
		t.Errorf("Stop after Kill: %v", err)
	}
}

// StopImmediate is a crash for PostgreSQL's purposes (no checkpoint); a
// start on the same directory and port recovers every committed row.
func TestPostgresStopImmediateThenStart(t *testing.T) {
	ctx := context.Background()
	opts := devstack.PostgresOptions{Dir: filepath.Join(t.TempDir(), "pg")}
	pg, err := devstack.StartPostgres(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.CreateDatabase(ctx, "immediate"); err != nil {
		t.Fatal(err)
	}
	exec1(t, pg.URL("immediate"), `CREATE TABLE t (v text); INSERT INTO t VALUES ('committed')`)
	pid := pg.PID()
	if err := pg.StopImmediate(stopCtx(t)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	opts.Port = pg.Port()
	pg, err = devstack.StartPostgres(ctx, opts)
	if err != nil {
		t.Fatalf("start after an immediate stop: %v", err)
	}
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })
	if got := query1(t, pg.URL("immediate"), `SELECT v FROM t`); got != "committed" {
		t.Fatalf("after crash recovery got %q", got)
	}
}

// A killed Temporal server restarts on the same file and port, and a
// client dialled before the crash reconnects by itself.
func TestTemporalKillThenRestart(t *testing.T) {
	bin := requireTemporal(t)
	ctx := context.Background()
	opts := devstack.TemporalOptions{Binary: bin, DBFile: filepath.Join(t.TempDir(), "temporal.db"), UIPort: -1, Namespace: "devstack-kill"}
	opts.Fast()
	tmp, err := devstack.StartTemporal(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, tmp)
	defer c.Close()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "devstack-kill", TaskQueue: "nobody-polls"}, "SomeWorkflow")
	if err != nil {
		t.Fatal(err)
	}
	pid := tmp.PID()
	if err := tmp.Kill(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	_, port, _ := strings.Cut(tmp.Address(), ":")
	if opts.Port, err = strconv.Atoi(port); err != nil {
		t.Fatal(err)
	}
	tmp, err = devstack.StartTemporal(ctx, opts)
	if err != nil {
		t.Fatalf("restart after kill -9: %v", err)
	}
	t.Cleanup(func() { _ = tmp.Stop(context.Background()) })
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	desc, err := c.DescribeWorkflowExecution(dctx, "devstack-kill", run.GetRunID())
	if err != nil {
		t.Fatalf("workflow lost across kill -9: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("status %v", st)
	}
}
