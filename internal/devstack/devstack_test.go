package devstack_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opsflow/opsflow/internal/devstack"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	_ "github.com/lib/pq"
)

// These tests start real servers. A missing binary is a failure with
// instructions, never a skip: a skipped integration test is a green build
// that tested nothing.
func requireTemporal(t *testing.T) string {
	t.Helper()
	bin, err := devstack.FindTemporal()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func stopCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// gone reports whether pid no longer runs (absent, or a zombie nobody has
// reaped yet — it holds no ports or files).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(after, "Z")
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still running", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// groupGone reports whether no process is left in process group pgid.
func groupGone(pgid int) bool {
	return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

func TestPostgresRestartKeepsData(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "pg")

	pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{Dir: dir, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		if err := pg.CreateDatabase(ctx, "keep-me"); err != nil {
			t.Fatal(err)
		}
	}
	exec1(t, pg.URL("keep-me"), `CREATE TABLE t (v text); INSERT INTO t VALUES ('survives')`)
	pid := pg.PID()
	if err := pg.Stop(stopCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := pg.Stop(stopCtx(t)); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	waitGone(t, pid)
	if !groupGone(pid) {
		t.Fatalf("processes left in group %d", pid)
	}

	pg, err = devstack.StartPostgres(ctx, devstack.PostgresOptions{Dir: dir, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })
	if got := query1(t, pg.URL("keep-me"), `SELECT v FROM t`); got != "survives" {
		t.Fatalf("after restart got %q", got)
	}
}

func TestPostgresRecoversFromCrash(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "pg")
	pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{Dir: dir, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.CreateDatabase(ctx, "crash"); err != nil {
		t.Fatal(err)
	}
	// Crash: SIGKILL the whole group, then reap through Stop.
	pid := pg.PID()
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = pg.Stop(stopCtx(t))
	waitGone(t, pid)
	// The PID in the stale postmaster.pid now belongs to a live process
	// that is not postgres (as after a reboot or in a container), which
	// postgres on its own refuses to start over.
	pidFile := filepath.Join(dir, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("expected a stale postmaster.pid: %v", err)
	}
	_, rest, _ := strings.Cut(string(b), "\n")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"+rest), 0o600); err != nil {
		t.Fatal(err)
	}

	pg, err = devstack.StartPostgres(ctx, devstack.PostgresOptions{Dir: dir, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })
	if got := query1(t, pg.URL("crash"), `SELECT current_database()`); got != "crash" {
		t.Fatalf("got %q", got)
	}
}

func TestTemporalRestartKeepsState(t *testing.T) {
	bin := requireTemporal(t)
	ctx := context.Background()
	opts := devstack.TemporalOptions{
		Binary:           bin,
		DBFile:           filepath.Join(t.TempDir(), "temporal.db"),
		UIPort:           -1,
		Namespace:        "devstack-test",
		SearchAttributes: map[string]string{"OpsflowKind": "Keyword"},
	}
	tmp, err := devstack.StartTemporal(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if tmp.UIURL() != "" {
		t.Errorf("headless server has UI URL %q", tmp.UIURL())
	}
	c := dial(t, tmp)
	// No worker: the workflow just stays Running, which is all we need.
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    "devstack-restart",
		TaskQueue:             "nobody-polls",
		TypedSearchAttributes: temporalKind("capa"),
	}, "SomeWorkflow")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	pid := tmp.PID()
	if err := tmp.Stop(stopCtx(t)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)

	// Restart on the same file with one more search attribute: the old
	// workflow must still be there and the new attribute registered.
	opts.SearchAttributes["OpsflowStage"] = "Keyword"
	tmp, err = devstack.StartTemporal(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tmp.Stop(context.Background()) })
	c = dial(t, tmp)
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(ctx, "devstack-restart", run.GetRunID())
	if err != nil {
		t.Fatalf("workflow lost across restart: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("status %v", st)
	}
	sa, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: opts.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	for name := range opts.SearchAttributes {
		if _, ok := sa.GetCustomAttributes()[name]; !ok {
			t.Errorf("search attribute %s not registered", name)
		}
	}
}

func TestTemporalInMemoryWithUI(t *testing.T) {
	bin := requireTemporal(t)
	tmp, err := devstack.StartTemporal(context.Background(), devstack.TemporalOptions{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tmp.Stop(context.Background()) })
	if !strings.HasPrefix(tmp.UIURL(), "http://127.0.0.1:") {
		t.Fatalf("UIURL %q", tmp.UIURL())
	}
	if tmp.Namespace() != "default" {
		t.Fatalf("namespace %q", tmp.Namespace())
	}
}

func TestTemporalBadBinaryFailsClearly(t *testing.T) {
	_, err := devstack.StartTemporal(context.Background(), devstack.TemporalOptions{Binary: "/bin/false"})
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("want an 'exited early' error, got %v", err)
	}
}

// TestKilledParentLeavesNoOrphans SIGKILLs a process that started a
// Temporal server and a PostgreSQL (this test binary, re-executed) and
// checks that the kernel took both servers down with it.
func TestKilledParentLeavesNoOrphans(t *testing.T) {
	if os.Getenv("DEVSTACK_HELPER") == "1" {
		helper()
		return
	}
	requireTemporal(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledParentLeavesNoOrphans$", "-test.v")
	cmd.Env = append(os.Environ(), "DEVSTACK_HELPER=1", "DEVSTACK_HELPER_DIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	sc := bufio.NewScanner(out)
	for len(pids) < 2 && sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "PID "); ok {
			pid, _ := strconv.Atoi(rest)
			pids = append(pids, pid)
		}
	}
	if len(pids) != 2 {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper did not report two server PIDs: %v", pids)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	for _, pid := range pids {
		waitGone(t, pid)
	}
}

func helper() {
	ctx := context.Background()
	tmp, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{UIPort: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{Dir: filepath.Join(os.Getenv("DEVSTACK_HELPER_DIR"), "pg"), Ephemeral: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Printf("PID %d\nPID %d\n", tmp.PID(), pg.PID())
	time.Sleep(time.Minute) // until the test SIGKILLs us
}

func dial(t *testing.T, tmp *devstack.Temporal) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: tmp.Address(), Namespace: tmp.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func temporalKind(v string) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(temporal.NewSearchAttributeKeyKeyword("OpsflowKind").ValueSet(v))
}

func exec1(t *testing.T, url, stmt string) {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatal(err)
	}
}

func query1(t *testing.T, url, q string) string {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var s string
	if err := db.QueryRow(q).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}
