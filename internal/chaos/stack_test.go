package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/opsflow/opsflow/internal/devstack"
)

// Names of the stack: a namespace other than "default" so that a process
// that forgets TEMPORAL_NAMESPACE fails here rather than in production.
const (
	namespace = "opsflow-chaos"
	taskQueue = "opsflow-chaos"
	database  = "opsflow"
)

// people acts in the scenarios. Separation of duties needs several: the
// decision on a CAPA is an approver's who is not its owner, and whoever
// completes a containment action may not verify it.
var people = []struct{ id, name, roles string }{
	{"alice", "Alice Martin", "requester,owner"}, // reports, owns and triages; verifies containment
	{"dave", "Dave Okafor", "requester,owner"},   // owns the containment action: starts and completes it
	{"bob", "Bob Chen", "approver"},              // decides whether a CAPA is required
	{"carol", "Carol Nguyen", "auditor"},         // reads the trail and verifies the chains
}

// stack is one scenario's private production shape, every part a real OS
// process the scenario can crash and start again on the same state.
type stack struct {
	t      *testing.T
	dir    string // state and logs; kept when the scenario fails
	logger *slog.Logger
	opts   stackOptions

	topts    devstack.TemporalOptions // with Port fixed after the first start, for restarts
	temporal temporalServer
	popts    devstack.PostgresOptions // with Port fixed after the first start
	pg       *devstack.Postgres
	dbURL    string
	tc       client.Client

	mu      sync.Mutex // guards workers, apis and logs (faults and teardown may overlap)
	workers [2]*devstack.Child
	apis    []*apiProcess
	logs    map[string]*os.File
	tokens  map[string]string
}

// stackOptions chooses the shape: the fault suite's (a file-backed dev
// server, one API) or production's (TestProduction: Temporal from source
// on PostgreSQL, prepared by `opsflow temporal-setup`, two APIs).
type stackOptions struct {
	prod      bool
	apis      int    // API processes, each on its own fixed address; default 1
	namespace string // default the fault suite's
	// env is added to every opsflow process's environment; perProcess,
	// if set, adds more for the one named (worker-1, api-2, …).
	env        []string
	perProcess func(name string) []string
}

// temporalServer is either Temporal: the dev server or the production one.
type temporalServer interface {
	Address() string
	PID() int
	Kill() error
	Stop(context.Context) error
}

// apiProcess is one `opsflow api`; a restart reuses its address.
type apiProcess struct {
	name  string // its log's name: api, api-2, …
	addr  string
	child *devstack.Child
}

func (a *apiProcess) url() string { return "http://" + a.addr }

// startStack brings the stack up and registers its teardown: every child is
// stopped (SIGKILL after a grace period) even when the test fails or its
// goroutine calls FailNow.
func startStack(ctx context.Context, t *testing.T, opts stackOptions) *stack {
	t.Helper()
	if opts.apis == 0 {
		opts.apis = 1
	}
	if opts.namespace == "" {
		opts.namespace = namespace
	}
	dir, err := os.MkdirTemp("", "opsflow-chaos-")
	if err != nil {
		t.Fatalf("state dir: %v", err)
	}
	s := &stack{t: t, dir: dir, opts: opts, logs: map[string]*os.File{}, tokens: map[string]string{}}
	t.Cleanup(s.teardown)
	s.logger = slog.New(slog.NewTextHandler(s.logFile("stack"), &slog.HandlerOptions{Level: slog.LevelInfo}))

	s.popts = devstack.PostgresOptions{Dir: filepath.Join(dir, "pg"), LogWriter: s.logFile("postgres"), Logger: s.logger}
	if s.pg, err = devstack.StartPostgres(ctx, s.popts); err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	s.popts.Port = s.pg.Port() // a restart must come back where the clients look
	if err := s.pg.CreateDatabase(ctx, database); err != nil {
		t.Fatalf("%v", err)
	}
	s.dbURL = s.pg.URL(database)

	if opts.prod {
		if err := s.startProdTemporal(ctx); err != nil {
			t.Fatalf("%v", err)
		}
	} else {
		bin, err := devstack.FindTemporal()
		if err != nil {
			t.Fatalf("the fault suite needs the Temporal CLI: %v", err)
		}
		s.topts = devstack.TemporalOptions{
			Binary: bin, DBFile: filepath.Join(dir, "temporal.db"), UIPort: -1, Namespace: opts.namespace,
			SearchAttributes: map[string]string{"OpsflowKind": "Keyword"},
			LogWriter:        s.logFile("temporal"), Logger: s.logger,
		}
		s.topts.Fast()
		tmp, err := devstack.StartTemporal(ctx, s.topts)
		if err != nil {
			t.Fatalf("start Temporal: %v", err)
		}
		s.temporal = tmp
		if s.topts.Port, err = portOf(tmp.Address()); err != nil {
			t.Fatalf("%v", err)
		}
	}
	if err := s.dial(ctx); err != nil {
		t.Fatalf("%v", err)
	}

	if out, err := s.opsflow(ctx, "migrate"); err != nil {
		t.Fatalf("opsflow migrate: %v\n%s", err, out)
	}
	for _, p := range people {
		out, err := s.opsflow(ctx, "token", "create", "--user", p.id, "--name", p.name, "--roles", p.roles, "--label", "chaos")
		if err != nil {
			t.Fatalf("opsflow token create --user %s: %v\n%s", p.id, err, out)
		}
		s.tokens[p.id] = strings.TrimSpace(out)
	}

	for i := range opts.apis {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("pick an API port: %v", err)
		}
		name := "api"
		if i > 0 {
			name = fmt.Sprintf("api-%d", i+1)
		}
		s.apis = append(s.apis, &apiProcess{name: name, addr: l.Addr().String()})
		l.Close()
	}
	for i := range s.workers {
		if err := s.startWorker(ctx, i); err != nil {
			t.Fatalf("%v", err)
		}
	}
	for i := range s.apis {
		if err := s.startAPI(ctx, i); err != nil {
			t.Fatalf("%v", err)
		}
	}
	return s
}

// startProdTemporal starts Temporal from source on the stack's PostgreSQL
// (creating or upgrading its schema) and, as in production, prepares the
// namespace, its retention and the search attributes with opsflow's own
// one-shot command. A restart comes back on the same ports, as a
// production server does.
func (s *stack) startProdTemporal(ctx context.Context) error {
	var ports map[string]int
	if old, ok := s.temporal.(*devstack.TemporalServer); ok {
		ports = old.Ports()
	}
	ts, err := devstack.StartTemporalServer(ctx, devstack.TemporalServerOptions{
		PostgresHost: "127.0.0.1", PostgresPort: s.pg.Port(), PostgresUser: "postgres",
		Ports: ports, LogWriter: s.logFile("temporal"), Logger: s.logger,
	})
	if err != nil {
		return fmt.Errorf("start Temporal on PostgreSQL: %w", err)
	}
	s.temporal = ts
	if out, err := s.opsflow(ctx, "temporal-setup"); err != nil {
		return fmt.Errorf("opsflow temporal-setup: %w\n%s", err, out)
	}
	return nil
}

// dial (re)connects the stack's own Temporal client, for the checks.
func (s *stack) dial(ctx context.Context) error {
	if s.tc != nil {
		s.tc.Close()
	}
	var err error
	s.tc, err = client.DialContext(ctx, client.Options{
		HostPort: s.temporal.Address(), Namespace: s.opts.namespace,
		Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		return fmt.Errorf("dial Temporal: %w", err)
	}
	return nil
}

// apiURLs are the base URLs of every API process, for clients that may
// use either.
func (s *stack) apiURLs() []string {
	var out []string
	for _, a := range s.apis {
		out = append(out, a.url())
	}
	return out
}

// env is the environment of an opsflow child: ours without anything that
// could point it elsewhere, plus the stack's settings (internal/config).
func (s *stack) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "DATABASE_URL" || strings.HasPrefix(k, "TEMPORAL_") || strings.HasPrefix(k, "OPSFLOW_") || strings.HasPrefix(k, "PG") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"DATABASE_URL="+s.dbURL,
		"TEMPORAL_ADDRESS="+s.temporal.Address(),
		"TEMPORAL_NAMESPACE="+s.opts.namespace,
		"OPSFLOW_TASK_QUEUE="+taskQueue,
		"OPSFLOW_LOG_LEVEL=info",
	)
	return append(env, s.opts.env...)
}

// opsflow runs a one-shot opsflow command (migrate, token create) and
// returns its standard output.
func (s *stack) opsflow(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, opsflowBin, args...)
	cmd.Env = s.env()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out) + stderr.String(), fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// logFile returns the append-only log of one part of the stack; restarts
// write to the same file after a marker line.
func (s *stack) logFile(name string) io.Writer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.logs[name]; ok {
		return f
	}
	f, err := os.OpenFile(filepath.Join(s.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatalf("log file: %v", err)
	}
	s.logs[name] = f
	if streamLogs {
		return io.MultiWriter(f, prefixWriter{name})
	}
	return f
}

// mark writes a line into a part's log so a reader sees where a crash or a
// restart happened.
func (s *stack) mark(name, format string, args ...any) {
	fmt.Fprintf(s.logFile(name), "=== chaos %s: %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// startWorker starts `opsflow worker` number i and waits until it polls
// both the workflow and the activity task queue.
func (s *stack) startWorker(ctx context.Context, i int) error {
	name := fmt.Sprintf("worker-%d", i+1)
	s.mark(name, "starting")
	cmd := exec.Command(opsflowBin, "worker")
	cmd.Env = append(s.env(), s.processEnv(name)...)
	c, err := devstack.StartChild(name, cmd, s.logFile(name))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.workers[i] = c
	s.mu.Unlock()
	if err := s.waitPolling(ctx, c); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	s.mark(name, "polling (pid %d)", c.PID())
	return nil
}

// waitPolling returns once Temporal lists a poller of c (identified by the
// SDK's default identity "pid@host@") on the task queue, for workflow and
// activity tasks alike. 30 s at most.
func (s *stack) waitPolling(ctx context.Context, c *devstack.Child) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	prefix := strconv.Itoa(c.PID()) + "@"
	var last error
	for {
		if c.Exited() {
			return c.DiedError()
		}
		ok := true
		for _, typ := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
			polling, err := s.polls(ctx, typ, prefix)
			if err != nil {
				last = err
			}
			ok = ok && polling
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not polling task queue %s within 30s (last error: %v); last output:\n%s", taskQueue, last, c.Tail())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *stack) polls(ctx context.Context, typ enumspb.TaskQueueType, identityPrefix string) (bool, error) {
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	res, err := s.tc.WorkflowService().DescribeTaskQueue(rctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace: s.opts.namespace, TaskQueue: &taskqueuepb.TaskQueue{Name: taskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL}, TaskQueueType: typ,
	})
	if err != nil {
		return false, err
	}
	for _, p := range res.GetPollers() {
		if strings.HasPrefix(p.GetIdentity(), identityPrefix) {
			return true, nil
		}
	}
	return false, nil
}

// startAPI starts `opsflow api` number i on its fixed address and waits
// until it answers /healthz (liveness: the fault may still be going on).
func (s *stack) startAPI(ctx context.Context, i int) error {
	a := s.apis[i]
	s.mark(a.name, "starting")
	cmd := exec.Command(opsflowBin, "api")
	cmd.Env = append(s.env(), "OPSFLOW_HTTP_ADDR="+a.addr)
	cmd.Env = append(cmd.Env, s.processEnv(a.name)...)
	c, err := devstack.StartChild("opsflow "+a.name, cmd, s.logFile(a.name))
	if err != nil {
		return err
	}
	s.mu.Lock()
	a.child = c
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		if c.Exited() {
			return c.DiedError()
		}
		if res, err := hc.Get(a.url() + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				s.mark(a.name, "listening on %s (pid %d)", a.addr, c.PID())
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("opsflow %s did not answer /healthz on %s within 30s; last output:\n%s", a.name, a.addr, c.Tail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// processEnv is what one process of the stack gets beyond the shared
// environment (TestProduction: its own metrics address).
func (s *stack) processEnv(name string) []string {
	if s.opts.perProcess == nil {
		return nil
	}
	return s.opts.perProcess(name)
}

// ---- faults

// killWorker crashes worker i (kill -9 of its process group).
func (s *stack) killWorker(i int) error {
	name := fmt.Sprintf("worker-%d", i+1)
	s.mu.Lock()
	w := s.workers[i]
	s.mu.Unlock()
	s.mark(name, "kill -9 pid %d", w.PID())
	return w.Kill()
}

// killAPI crashes API i; startAPI brings a new one up on the same address.
func (s *stack) killAPI(i int) error {
	s.mu.Lock()
	a := s.apis[i]
	c := a.child
	s.mu.Unlock()
	s.mark(a.name, "kill -9 pid %d", c.PID())
	return c.Kill()
}

// killTemporal crashes the Temporal dev server and starts it again on the
// same database file and port. It returns when the new server answers.
func (s *stack) killTemporal(ctx context.Context) error {
	if s.opts.prod {
		return errors.New("killTemporal restarts the dev server only")
	}
	s.mark("temporal", "kill -9 pid %d", s.temporal.PID())
	if err := s.temporal.Kill(); err != nil {
		return err
	}
	s.mark("temporal", "restarting on %s", s.topts.DBFile)
	t, err := devstack.StartTemporal(ctx, s.topts)
	if err != nil {
		return fmt.Errorf("restart Temporal on the same database file: %w", err)
	}
	s.temporal = t
	return nil
}

// stopPostgres stops PostgreSQL with -m immediate (no checkpoint: the next
// start runs crash recovery).
func (s *stack) stopPostgres(ctx context.Context) error {
	s.mark("postgres", "pg_ctl stop -m immediate (SIGQUIT to pid %d)", s.pg.PID())
	return s.pg.StopImmediate(ctx)
}

// startPostgres starts PostgreSQL again on the same data directory and
// port and returns once it accepts connections.
func (s *stack) startPostgres(ctx context.Context) error {
	s.mark("postgres", "starting on %s", s.popts.Dir)
	pg, err := devstack.StartPostgres(ctx, s.popts)
	if err != nil {
		return fmt.Errorf("restart PostgreSQL on the same data directory: %w", err)
	}
	s.pg = pg
	return nil
}

// alive reports the opsflow processes that have exited although nobody
// crashed them on purpose: a worker or an API must ride out every fault.
func (s *stack) alive() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var dead []string
	for i, w := range s.workers {
		if w != nil && w.Exited() {
			dead = append(dead, fmt.Sprintf("worker-%d exited by itself: %v", i+1, w.DiedError()))
		}
	}
	for _, a := range s.apis {
		if a.child != nil && a.child.Exited() {
			dead = append(dead, fmt.Sprintf("opsflow %s exited by itself: %v", a.name, a.child.DiedError()))
		}
	}
	return dead
}

// apiErrors returns the APIs' error-level log lines (where a 500's cause is
// logged with its request ID), at most n.
func (s *stack) apiErrors(n int) []string {
	var lines []string
	for _, a := range s.apis {
		f, err := os.Open(filepath.Join(s.dir, a.name+".log"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() && len(lines) < n {
			if strings.Contains(sc.Text(), `"level":"ERROR"`) {
				lines = append(lines, a.name+": "+sc.Text())
			}
		}
		f.Close()
	}
	return lines
}

// teardown stops everything in reverse order of dependency, each step
// bounded, and keeps the state and logs of a failed scenario for reading.
func (s *stack) teardown() {
	stop := func(what string, f func(context.Context) error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := f(ctx); err != nil {
			s.t.Logf("stop %s: %v", what, err)
		}
	}
	s.mu.Lock()
	apis, workers := slices.Clone(s.apis), s.workers
	s.mu.Unlock()
	for _, a := range apis {
		if a.child != nil {
			stop(a.name, a.child.Stop)
		}
	}
	for _, w := range workers {
		if w != nil {
			stop("worker", w.Stop)
		}
	}
	if s.tc != nil {
		s.tc.Close()
	}
	if s.temporal != nil {
		stop("Temporal", s.temporal.Stop)
	}
	if s.pg != nil {
		stop("PostgreSQL", s.pg.Stop)
	}
	s.mu.Lock()
	for _, f := range s.logs {
		f.Close()
	}
	s.mu.Unlock()
	if s.t.Failed() || keepState {
		s.t.Logf("state and logs kept in %s (api.log, worker-1.log, worker-2.log, temporal.log, postgres.log, stack.log)", s.dir)
		return
	}
	if err := os.RemoveAll(s.dir); err != nil {
		s.t.Logf("remove %s: %v", s.dir, err)
	}
}

func portOf(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("address %q: %w", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return 0, fmt.Errorf("address %q: %w", addr, err)
	}
	return n, nil
}

// prefixWriter copies a child's output to stderr with its name in front,
// for OPSFLOW_CHAOS_LOGS=1.
type prefixWriter struct{ name string }

func (w prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			fmt.Fprintf(os.Stderr, "[%s] %s", w.name, line)
		}
	}
	return len(b), nil
}
