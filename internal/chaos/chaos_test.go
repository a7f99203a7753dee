package chaos

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsflow/opsflow/internal/devstack"
)

// Counts are small by default so that CI (`make test`) runs every scenario;
// raise them for a manual `make chaos` with the flags or their variables.
var (
	nCAPAs      = flag.Int("chaos.capas", envInt("OPSFLOW_CHAOS_CAPAS", 12), "CAPAs per scenario (env OPSFLOW_CHAOS_CAPAS)")
	nClients    = flag.Int("chaos.clients", envInt("OPSFLOW_CHAOS_CLIENTS", 4), "concurrent clients (env OPSFLOW_CHAOS_CLIENTS)")
	drainFor    = flag.Duration("chaos.drain", envDuration("OPSFLOW_CHAOS_DRAIN", 90*time.Second), "how long after a fault ends the load may take to finish (env OPSFLOW_CHAOS_DRAIN)")
	settleFor   = flag.Duration("chaos.settle", envDuration("OPSFLOW_CHAOS_SETTLE", 20*time.Second), "how long workflows may take to have no pending work once the load is over (env OPSFLOW_CHAOS_SETTLE)")
	streamLogsF = flag.Bool("chaos.logs", os.Getenv("OPSFLOW_CHAOS_LOGS") == "1", "copy every process's output to stderr (env OPSFLOW_CHAOS_LOGS=1)")
	keepStateF  = flag.Bool("chaos.keep", os.Getenv("OPSFLOW_CHAOS_KEEP") == "1", "keep each scenario's state and logs even when it passes (env OPSFLOW_CHAOS_KEEP=1)")
)

// Set by TestMain.
var (
	opsflowBin string
	streamLogs bool
	keepState  bool
)

const (
	// faultAt is the share of the load that has ended when the fault
	// strikes: late enough that CAPAs are mid-life, early enough that
	// plenty of requests meet the fault.
	faultAt = 0.3
	// workerDown is how long the surviving worker runs alone.
	workerDown = 15 * time.Second
	// apiDown is how long no API listens, so clients meet refused
	// connections and not only a reset.
	apiDown = 2 * time.Second
	// During a fault a new client arrives every arrivalEvery, at most
	// maxArrivals per scenario: people keep starting work when a part is
	// down, and the pool's clients are all waiting on their own requests.
	arrivalEvery = 2 * time.Second
	maxArrivals  = 8
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

// runMain checks the binaries the suite needs (a missing one fails, with
// instructions; it never skips), builds opsflow once, and runs the tests.
func runMain(m *testing.M) int {
	flag.Parse()
	streamLogs, keepState = *streamLogsF, *keepStateF
	if *nCAPAs < 1 || *nCAPAs > 10000 || *nClients < 1 || *nClients > 64 {
		fmt.Fprintln(os.Stderr, "chaos: -chaos.capas must be 1–10000 and -chaos.clients 1–64")
		return 2
	}
	if _, err := devstack.FindTemporal(); err != nil {
		fmt.Fprintf(os.Stderr, "chaos: the fault suite needs the Temporal CLI: %v\n", err)
		return 1
	}
	if _, err := devstack.FindPostgres(); err != nil {
		fmt.Fprintf(os.Stderr, "chaos: the fault suite needs the PostgreSQL server binaries: %v\n", err)
		return 1
	}
	root, err := devstack.RepoRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "opsflow-chaos-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	opsflowBin = filepath.Join(dir, "opsflow")
	// The binary under test is the one that ships: `go build`, as a
	// deploy would, not a test binary with the server linked in.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", opsflowBin, "./cmd/opsflow")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "chaos: go build ./cmd/opsflow: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// scenario is one fault under load.
type scenario struct {
	name   string
	outage time.Duration // how long the part stays down, for the time budget
	// fault crashes a part of the stack and brings it back. It returns the
	// moment the fault ended — recovery is measured from there — and an
	// error if the part could not be brought back.
	fault func(ctx context.Context, r *scenarioRun) (time.Time, error)
}

var scenarios = []scenario{
	// No fault: if this fails, the engine fails under plain load and the
	// fault scenarios' failures are not (only) about faults.
	{name: "baseline"},
	// The survivor must carry on at once, so recovery counts from the kill.
	{name: "worker-kill", outage: workerDown, fault: func(ctx context.Context, r *scenarioRun) (time.Time, error) {
		killed := time.Now()
		workLeft := r.ld.progress() < 1
		if err := r.st.killWorker(0); err != nil {
			return killed, err
		}
		select {
		case <-r.ld.done:
		case <-time.After(workerDown):
		}
		back := time.Now()
		if n := r.ld.writesBetween(killed, back); n == 0 && workLeft {
			r.probs.add(catSurvivor, "no write was accepted in the %s worker-1 was down and worker-2 ran alone, though the load had work left",
				back.Sub(killed).Round(time.Millisecond))
		}
		return killed, r.st.startWorker(ctx, 0)
	}},
	{name: "temporal-kill", fault: func(ctx context.Context, r *scenarioRun) (time.Time, error) {
		err := r.st.killTemporal(ctx)
		return time.Now(), err
	}},
	{name: "postgres-10s", outage: 10 * time.Second, fault: postgresOutage(10 * time.Second)},
	{name: "postgres-60s", outage: 60 * time.Second, fault: postgresOutage(60 * time.Second)},
	{name: "api-kill", outage: apiDown, fault: func(ctx context.Context, r *scenarioRun) (time.Time, error) {
		if err := r.st.killAPI(0); err != nil {
			return time.Now(), err
		}
		time.Sleep(apiDown)
		err := r.st.startAPI(ctx, 0)
		return time.Now(), err
	}},
}

func postgresOutage(d time.Duration) func(context.Context, *scenarioRun) (time.Time, error) {
	return func(ctx context.Context, r *scenarioRun) (time.Time, error) {
		web := startWebProbe(ctx, r)
		if err := r.st.stopPostgres(ctx); err != nil {
			return time.Now(), err
		}
		began := time.Now()
		web.during(ctx, r)
		time.Sleep(d - time.Since(began))
		err := r.st.startPostgres(ctx)
		back := time.Now()
		if err == nil {
			web.after(ctx, r)
		}
		return back, err
	}
}

// scenarioRun is one scenario in progress.
type scenarioRun struct {
	st    *stack
	ld    *load
	probs problems // the checks'; the load keeps its own
}

// row is one line of the final summary.
type row struct {
	name   string
	counts counts
	rec    *recovery // nil without a fault
	result string
}

func (r row) String() string {
	rec := "-"
	if r.rec != nil {
		rec = r.rec.String()
	}
	c := r.counts
	more := ""
	if c.s429 > 0 || c.gateway > 0 { // answers the API does not give today: shown only when seen
		more = fmt.Sprintf("  429s %d  502/504s %d", c.s429, c.gateway)
	}
	return fmt.Sprintf("%-14s requests %4d (%3d logical)  retries %4d  503s %3d  202s %3d  500s %3d  4xx %3d  conn-errors %3d  timeouts %2d%s  recovery: %-44s  %s",
		r.name, c.attempts, c.logicals, c.attempts-c.logicals, c.s503, c.s202, c.s500, c.other4xx, c.connErrs, c.timeouts, more, rec, r.result)
}

func TestChaos(t *testing.T) {
	deadline, hasDeadline := t.Deadline()
	var mu sync.Mutex
	var rows []row
	for i, sc := range scenarios {
		drain, settle := *drainFor, *settleFor
		if hasDeadline {
			// Share what is left of `go test -timeout` among the scenarios
			// still to run, so a stuck engine shortens the waits instead of
			// killing the binary before it reports.
			left := time.Until(deadline) - 30*time.Second
			share := left / time.Duration(len(scenarios)-i)
			if d := share - sc.outage - settle - 20*time.Second; d < drain {
				drain = max(d, 15*time.Second)
			}
		}
		t.Run(sc.name, func(t *testing.T) {
			r := runScenario(t, sc, drain, settle)
			mu.Lock()
			rows = append(rows, r)
			mu.Unlock()
		})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "summary (%d CAPAs × %d steps per scenario, %d clients):\n", *nCAPAs, len(steps), *nClients)
	for _, r := range rows {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	t.Log(strings.TrimRight(b.String(), "\n"))
}

// runScenario starts a fresh stack, runs the load, strikes with the fault
// once part of the load has ended, waits (bounded) for the load to finish,
// lets the workflows settle and checks every promise.
func runScenario(t *testing.T, sc scenario, drain, settleFor time.Duration) row {
	ctx := context.Background()
	st := startStack(ctx, t, stackOptions{})
	r := &scenarioRun{st: st}
	r.ld = newLoad(st.apiURLs(), st.tokens, sc.name, *nCAPAs, *nClients)
	loadCtx, stopLoad := context.WithCancel(ctx)
	// The clients must be gone before the stack goes (Cleanup runs later).
	defer func() { stopLoad(); <-r.ld.done }()
	began := time.Now()
	r.ld.run(loadCtx)

	out := row{name: sc.name}
	end := began
	faultOK := true
	if sc.fault != nil {
		if !r.ld.waitProgress(faultAt, time.Minute) {
			t.Logf("the load reached %.0f%% (not %.0f%%) before the fault", 100*r.ld.progress(), 100*faultAt)
		}
		start := time.Now()
		t.Logf("fault %s at %.0f%% of the load, %s after it began", sc.name, 100*r.ld.progress(), start.Sub(began).Round(time.Millisecond))
		// New clients keep arriving while the fault lasts.
		stop := make(chan struct{})
		arrived := make(chan int, 1)
		go func() { arrived <- r.ld.arrivals(loadCtx, arrivalEvery, maxArrivals, stop) }()
		var err error
		end, err = sc.fault(ctx, r)
		close(stop)
		if n := <-arrived; n > 0 {
			t.Logf("%d clients arrived during the fault", n)
		}
		if err != nil {
			faultOK = false
			r.probs.add(catFault, "%s: %v", sc.name, err)
		}
		t.Logf("fault over %s after it began", time.Since(start).Round(time.Millisecond))
	}

	// The load has drain after the fault to finish; what is still open
	// then gives up and is reported.
	if faultOK {
		select {
		case <-r.ld.done:
		case <-time.After(time.Until(end.Add(drain))):
			t.Logf("the load did not finish within %s of the fault's end: stopping it", drain)
		}
	}
	stopLoad()
	<-r.ld.done
	if sc.fault != nil {
		t.Logf("load over %s after the fault ended (%.0f%% of the logical requests ended)", time.Since(end).Round(time.Millisecond), 100*r.ld.progress())
	} else {
		t.Logf("load over %s after it began (%.0f%% of the logical requests ended)", time.Since(began).Round(time.Millisecond), 100*r.ld.progress())
	}

	logicals, counts := r.ld.snapshot()
	out.counts = counts
	if sc.fault != nil {
		rec := r.ld.recovery(end)
		out.rec = &rec
	}
	for _, l := range logicals {
		if l.outcome == gaveUp {
			r.probs.add(catUnfinish, "%s: no final answer after %d attempts over %s (%s); last: %s",
				&l, l.attempts, l.end.Sub(l.start).Round(time.Millisecond), l.history(), l.last)
		}
	}
	for _, d := range st.alive() {
		r.probs.add(catProcess, "%s", d)
	}
	if faultOK {
		rd := &reader{base: st.apis[0].url(), token: st.tokens["carol"], hc: r.ld.hc, probs: &r.probs}
		workflows := settle(ctx, st, settleFor, knownIDs(ctx, r.ld.capas, rd), &r.probs)
		n := verify(ctx, r.ld.capas, rd, workflows, &r.probs)
		t.Logf("checked %d workflows, %d read-model rows and %d audit events", len(workflows), n.rows, n.events)
	}

	all := problems{}
	for _, p := range []problems{r.ld.problems, r.probs} {
		for cat, lines := range p {
			all[cat] = append(all[cat], lines...)
		}
	}
	out.result = "PASS"
	if n := all.count(); n > 0 {
		out.result = fmt.Sprintf("FAIL (%s)", all.summary())
	}
	t.Log(out.String())
	all.report(t)
	if len(all[cat500]) > 0 {
		if lines := st.apiErrors(10); len(lines) > 0 {
			t.Logf("the API's error log (first %d lines):\n    %s", len(lines), strings.Join(lines, "\n    "))
		}
	}
	return out
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
