package chaos

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/opsflow/opsflow/internal/deploy"
	"github.com/opsflow/opsflow/internal/devstack"
)

// TestProduction runs opsflow in its production shape on this machine:
// Temporal built from source (make temporal-server) with PostgreSQL
// persistence and deploy.HistoryShards shards, its schema made by
// Temporal's own tool, the namespace prepared by `opsflow temporal-setup`;
// two `opsflow worker` and two `opsflow api` processes, clients that use
// either API. It measures throughput with one worker and with two, then
// kills one worker and one API in the middle of the load and checks the
// fault suite's promises over every CAPA of every phase: each accepted
// request took effect exactly once, every chain verifies, nothing is left
// pending, no 500.
//
//	make prod-test
//	OPSFLOW_PROD_CAPAS=100 OPSFLOW_PROD_CLIENTS=16 make prod-test
func TestProduction(t *testing.T) {
	if _, _, err := devstack.FindTemporalServer(); err != nil {
		t.Fatalf("TestProduction needs the Temporal server built from source: %v", err)
	}
	ctx := context.Background()
	p := &prodRun{t: t, otlp: newOTLPReceiver(t), metricsAddrs: map[string]string{}}
	p.st = startStack(ctx, t, stackOptions{
		prod: true, apis: 2, namespace: deploy.Namespace,
		// Every process traces to the test's OTLP receiver, flushing
		// spans every half second instead of every five.
		env:        []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + p.otlp.url(), "OTEL_BSP_SCHEDULE_DELAY=500"},
		perProcess: func(name string) []string { return []string{"OPSFLOW_METRICS_ADDR=" + p.metricsAddr(name)} },
	})
	st := p.st

	t.Run("configuration", p.configuration)
	if t.Failed() {
		return
	}
	// A few CAPAs first, so neither measured phase pays for cold caches,
	// connection pools and prepared statements.
	p.phase(ctx, "warm-up", 4, 2, nil)

	if err := st.workers[1].Stop(ctx); err != nil {
		t.Fatalf("stop worker-2: %v", err)
	}
	st.mark("worker-2", "stopped for the one-worker phase")
	one := p.phase(ctx, "one-worker", *prodCAPAs, *prodClients, nil)
	if err := st.startWorker(ctx, 1); err != nil {
		t.Fatalf("%v", err)
	}
	two := p.phase(ctx, "two-workers", *prodCAPAs, *prodClients, nil)
	fault := p.phase(ctx, "kill-worker-and-api", *prodCAPAs, *prodClients, p.killWorkerAndAPI)
	p.restartKilled(ctx)

	t.Run("exactly-once", func(t *testing.T) { p.check(ctx, t) })
	t.Run("metrics", p.metrics)
	t.Run("traces", p.traces)
	t.Run("revocation", p.revocation)
	t.Run("backup-restore", p.backupRestore)
	t.Run("history-deleted", p.historyDeleted)

	t.Logf("throughput (%d CAPAs × %d steps, %d clients, %d history shards, %d CPUs):\n  %s\n  %s\n  %s",
		*prodCAPAs, len(steps), *prodClients, deploy.HistoryShards, runtime.NumCPU(), one, two, fault)
	if len(p.failed) > 0 {
		t.Logf("what the checks found (first lines of each; the whole list is above):\n%s", strings.Join(p.failed, "\n"))
	}
}

var (
	prodCAPAs   = flag.Int("prod.capas", envInt("OPSFLOW_PROD_CAPAS", 100), "CAPAs per TestProduction phase (env OPSFLOW_PROD_CAPAS)")
	prodClients = flag.Int("prod.clients", envInt("OPSFLOW_PROD_CLIENTS", 8), "concurrent clients in TestProduction (env OPSFLOW_PROD_CLIENTS)")
)

// prodRun is TestProduction's state across its phases.
type prodRun struct {
	t            *testing.T
	st           *stack
	loads        []*load
	probs        problems // of the load phases (a failed fault injection)
	otlp         *otlpReceiver
	metricsAddrs map[string]string // process name → its metrics address, kept across restarts
	failed       []string          // each failed check's brief, repeated at the end of the log
}

// failedCheck keeps a failed check's problems for the end of the log.
func (p *prodRun) failedCheck(name string, probs problems) {
	if probs.count() > 0 {
		p.failed = append(p.failed, name+":\n"+probs.brief(3))
	}
}

// metricsAddr is the metrics address of the named process, picked once.
func (p *prodRun) metricsAddr(name string) string {
	if a, ok := p.metricsAddrs[name]; ok {
		return a
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		p.t.Fatalf("pick a metrics port: %v", err)
	}
	defer l.Close()
	p.metricsAddrs[name] = l.Addr().String()
	return p.metricsAddrs[name]
}

// configuration checks that the server runs what deploy says and
// docker-compose.yml declares (internal/composecheck holds compose to the
// same values).
func (p *prodRun) configuration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := p.st.tc.WorkflowService().GetClusterInfo(ctx, &workflowservice.GetClusterInfoRequest{})
	if err != nil {
		t.Fatalf("GetClusterInfo: %v", err)
	}
	if info.GetServerVersion() != deploy.TemporalServerVersion {
		t.Errorf("server version %s, deploy says %s (a stale .bin/temporal-server? rm it and run make temporal-server)",
			info.GetServerVersion(), deploy.TemporalServerVersion)
	}
	if info.GetHistoryShardCount() != deploy.HistoryShards {
		t.Errorf("history shards %d, want %d", info.GetHistoryShardCount(), deploy.HistoryShards)
	}
	if info.GetPersistenceStore() != deploy.PersistencePlugin || info.GetVisibilityStore() != deploy.PersistencePlugin {
		t.Errorf("stores %s / %s, want %s for both", info.GetPersistenceStore(), info.GetVisibilityStore(), deploy.PersistencePlugin)
	}
	ns, err := p.st.tc.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: deploy.Namespace})
	if err != nil {
		t.Fatalf("describe namespace %s: %v", deploy.Namespace, err)
	}
	if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != deploy.Retention {
		t.Errorf("namespace %s keeps histories %s, want %s", deploy.Namespace, got, deploy.Retention)
	}
	sa, err := p.st.tc.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: deploy.Namespace})
	if err != nil {
		t.Fatalf("list search attributes: %v", err)
	}
	for name, typ := range deploy.SearchAttributes {
		if got, ok := sa.GetCustomAttributes()[name]; !ok || !strings.EqualFold(got.String(), typ) {
			t.Errorf("search attribute %s: %v (registered: %v), want %s", name, got, ok, typ)
		}
	}
	t.Logf("Temporal %s on %s, %d shards, namespace %s (retention %s), search attributes %v",
		info.GetServerVersion(), info.GetPersistenceStore(), info.GetHistoryShardCount(), deploy.Namespace,
		deploy.Retention, slices.Sorted(maps.Keys(deploy.SearchAttributes)))
}

// phaseResult is one load's throughput.
type phaseResult struct {
	name               string
	workers, apis      int
	accepted, logicals int
	elapsed            time.Duration
	p50, p99           time.Duration
	c                  counts
	cpu                string // by part of the stack; empty when a fault killed a process
}

func (r phaseResult) String() string {
	s := fmt.Sprintf("%-20s %d worker(s), %d API(s): %4d of %4d requests accepted in %6s = %5.1f steps/s (%4.1f CAPAs/s), step p50 %s p99 %s; retries %d, 503s %d, 202s %d, conn-errors %d",
		r.name, r.workers, r.apis, r.accepted, r.logicals, r.elapsed.Round(10*time.Millisecond),
		float64(r.accepted)/r.elapsed.Seconds(), float64(r.accepted)/float64(len(steps))/r.elapsed.Seconds(),
		r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond),
		r.c.attempts-r.c.logicals, r.c.s503, r.c.s202, r.c.connErrs)
	if r.cpu != "" {
		s += "\n" + strings.Repeat(" ", 23) + r.cpu
	}
	return s
}

// phase runs one bounded load over both APIs to its end (at most 5
// minutes), striking with fault, if any, once 30% of it has ended.
func (p *prodRun) phase(ctx context.Context, name string, capas, clients int, fault func(context.Context) error) phaseResult {
	t := p.t
	res := phaseResult{name: name, apis: len(p.st.apis)}
	for _, w := range p.st.workers {
		if w != nil && !w.Exited() {
			res.workers++ // at the start: a fault may take one away
		}
	}
	ld := newLoad(p.st.apiURLs(), p.st.tokens, name, capas, clients)
	p.loads = append(p.loads, ld)
	cpu := p.cpuTimes()
	loadCtx, stop := context.WithTimeout(ctx, 5*time.Minute)
	defer stop()
	began := time.Now()
	ld.run(loadCtx)
	if fault != nil {
		ld.waitProgress(faultAt, time.Minute)
		t.Logf("%s: fault at %.0f%% of the load, %s after it began", name, 100*ld.progress(), time.Since(began).Round(time.Millisecond))
		if err := fault(ctx); err != nil {
			p.probs.add(catFault, "%s: %v", name, err)
		}
	}
	<-ld.done
	res.elapsed = time.Since(began)
	if fault == nil {
		res.cpu = cores(cpu, p.cpuTimes(), res.elapsed) + "; " + p.memory()
	}
	logicals, c := ld.snapshot()
	res.c, res.logicals = c, len(logicals)
	var lat []time.Duration
	for _, l := range logicals {
		if l.outcome == accepted {
			res.accepted++
			lat = append(lat, l.end.Sub(l.start))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		res.p50, res.p99 = lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	}
	t.Logf("%s", res)
	return res
}

// killWorkerAndAPI crashes worker-1 and the first API together and leaves
// them down until the load has ended: the survivors carry it. Then both
// come back, so the checks and the later steps see the full topology.
func (p *prodRun) killWorkerAndAPI(ctx context.Context) error {
	st := p.st
	if err := st.killWorker(0); err != nil {
		return err
	}
	if err := st.killAPI(0); err != nil {
		return err
	}
	return nil
}

// restartKilled brings back what killWorkerAndAPI crashed.
func (p *prodRun) restartKilled(ctx context.Context) {
	st := p.st
	if st.workers[0].Exited() {
		if err := st.startWorker(ctx, 0); err != nil {
			p.probs.add(catFault, "restart worker-1: %v", err)
		}
	}
	if st.apis[0].child.Exited() {
		if err := st.startAPI(ctx, 0); err != nil {
			p.probs.add(catFault, "restart %s: %v", st.apis[0].name, err)
		}
	}
}

// capas are the CAPAs of every load so far.
func (p *prodRun) capas() []*capaRun {
	var out []*capaRun
	for _, ld := range p.loads {
		out = append(out, ld.capas...)
	}
	return out
}

// check runs the fault suite's checks over the CAPAs of every phase: what
// the clients saw, then the workflows and the read model.
func (p *prodRun) check(ctx context.Context, t *testing.T) {
	st := p.st
	probs := problems{}
	for cat, lines := range p.probs {
		probs[cat] = append(probs[cat], lines...)
	}
	for _, ld := range p.loads {
		logicals, _ := ld.snapshot()
		for _, l := range logicals {
			if l.outcome == gaveUp {
				probs.add(catUnfinish, "%s: no final answer after %d attempts (%s); last: %s", &l, l.attempts, l.history(), l.last)
			}
		}
		for cat, lines := range ld.problems {
			probs[cat] = append(probs[cat], lines...)
		}
	}
	for _, d := range st.alive() {
		probs.add(catProcess, "%s", d)
	}
	p.verifyAll(ctx, t, &probs)
	if probs.count() > 0 {
		t.Logf("FAIL (%s)", probs.summary())
	}
	p.failedCheck("exactly-once", probs)
	probs.report(t)
	if len(probs[cat500]) > 0 {
		if lines := st.apiErrors(10); len(lines) > 0 {
			t.Logf("the APIs' error logs (first %d lines):\n    %s", len(lines), strings.Join(lines, "\n    "))
		}
	}
}

// verifyAll settles the workflows and checks every CAPA of every load
// against the read model and its audit trail (the fault suite's verify).
func (p *prodRun) verifyAll(ctx context.Context, t *testing.T, probs *problems) {
	rd := &reader{base: p.st.apis[1].url(), token: p.st.tokens["carol"], hc: p.loads[0].hc, probs: probs}
	workflows := settle(ctx, p.st, *settleFor, knownIDs(ctx, p.capas(), rd), probs)
	n := verify(ctx, p.capas(), rd, workflows, probs)
	t.Logf("checked %d workflows, %d read-model rows and %d audit events", len(workflows), n.rows, n.events)
}

// cpuTimes is the CPU time (user + system, including reaped children)
// used so far by each part of the stack, read from /proc: each child and
// its descendants, and this test process (the load's clients and the
// checks).
type cpuTimes map[string]time.Duration

func (p *prodRun) cpuTimes() cpuTimes {
	st := p.st
	// Each part is a child of this process; every process below it
	// (postgres's backends leave its process group, so ancestry, not the
	// group, decides) counts for it.
	parts := map[int]string{os.Getpid(): "load+checks", st.pg.PID(): "postgres", st.temporal.PID(): "temporal"}
	st.mu.Lock()
	for _, w := range st.workers {
		if w != nil && !w.Exited() {
			parts[w.PID()] = "workers"
		}
	}
	for _, a := range st.apis {
		if a.child != nil && !a.child.Exited() {
			parts[a.child.PID()] = "apis"
		}
	}
	st.mu.Unlock()
	type proc struct {
		ppid int
		used time.Duration
	}
	procs := map[int]proc{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, used, ok := procCPU(pid); ok {
			procs[pid] = proc{ppid, used}
		}
	}
	out := cpuTimes{"machine": machineBusy()}
	for pid, pr := range procs {
		for up, depth := pid, 0; depth < 8; depth++ {
			if part, ok := parts[up]; ok {
				out[part] += pr.used
				break
			}
			next, ok := procs[up]
			if !ok {
				break
			}
			up = next.ppid
		}
	}
	return out
}

// machineBusy is the CPU time every process of the machine has used since
// boot (/proc/stat's user, nice, system, irq, softirq and steal; guest time
// is already in user): with the parts' times it shows what else ran beside
// the stack.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		if i < len(f) {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / 100
}

// procCPU reads a process's parent and CPU time from /proc/PID/stat.
func procCPU(pid int) (ppid int, used time.Duration, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'. Then: state ppid pgrp … utime(12th) stime cutime cstime.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	var ticks int64
	for _, k := range []int{11, 12, 13, 14} {
		n, _ := strconv.ParseInt(f[k], 10, 64)
		ticks += n
	}
	const clockTicks = 100 // USER_HZ: 100 on every Linux architecture Go supports
	return ppid, time.Duration(ticks) * time.Second / clockTicks, true
}

// memory is the resident memory of the Temporal server and of each opsflow
// process now, in MB (PostgreSQL's is mostly its shared buffers, counted
// once per backend by the kernel, so it is left out).
func (p *prodRun) memory() string {
	st := p.st
	parts := []string{fmt.Sprintf("temporal %d", rssMB(st.temporal.PID()))}
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, w := range st.workers {
		if w != nil && !w.Exited() {
			parts = append(parts, fmt.Sprintf("worker-%d %d", i+1, rssMB(w.PID())))
		}
	}
	for _, a := range st.apis {
		if a.child != nil && !a.child.Exited() {
			parts = append(parts, fmt.Sprintf("%s %d", a.name, rssMB(a.child.PID())))
		}
	}
	return "RSS (MB) " + strings.Join(parts, ", ")
}

func rssMB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb / 1024
		}
	}
	return 0
}

// cores is the CPU each part used between two readings, in cores.
func cores(before, after cpuTimes, elapsed time.Duration) string {
	var parts []string
	total := 0.0
	for _, k := range []string{"temporal", "postgres", "workers", "apis", "load+checks"} {
		c := (after[k] - before[k]).Seconds() / elapsed.Seconds()
		total += c
		parts = append(parts, fmt.Sprintf("%s %.2f", k, c))
	}
	machine := (after["machine"] - before["machine"]).Seconds() / elapsed.Seconds()
	return fmt.Sprintf("CPU (cores) %s = %.2f; other programs %.2f; machine %.2f of %d",
		strings.Join(parts, ", "), total, max(0, machine-total), machine, runtime.NumCPU())
}
