package chaos

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"sort"
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
	st := startStack(ctx, t, stackOptions{prod: true, apis: 2, namespace: deploy.Namespace})
	p := &prodRun{t: t, st: st}

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

	t.Logf("throughput (%d CAPAs × %d steps, %d clients, %d history shards):\n  %s\n  %s\n  %s",
		*prodCAPAs, len(steps), *prodClients, deploy.HistoryShards, one, two, fault)

	p.check(ctx)
}

var (
	prodCAPAs   = flag.Int("prod.capas", envInt("OPSFLOW_PROD_CAPAS", 100), "CAPAs per TestProduction phase (env OPSFLOW_PROD_CAPAS)")
	prodClients = flag.Int("prod.clients", envInt("OPSFLOW_PROD_CLIENTS", 8), "concurrent clients in TestProduction (env OPSFLOW_PROD_CLIENTS)")
)

// prodRun is TestProduction's state across its phases.
type prodRun struct {
	t     *testing.T
	st    *stack
	loads []*load
	probs problems
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
}

func (r phaseResult) String() string {
	return fmt.Sprintf("%-20s %d worker(s), %d API(s): %4d of %4d requests accepted in %6s = %5.1f steps/s (%4.1f CAPAs/s), step p50 %s p99 %s; retries %d, 503s %d, 202s %d, conn-errors %d",
		r.name, r.workers, r.apis, r.accepted, r.logicals, r.elapsed.Round(10*time.Millisecond),
		float64(r.accepted)/r.elapsed.Seconds(), float64(r.accepted)/float64(len(steps))/r.elapsed.Seconds(),
		r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond),
		r.c.attempts-r.c.logicals, r.c.s503, r.c.s202, r.c.connErrs)
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

// check runs the fault suite's checks over the CAPAs of every phase.
func (p *prodRun) check(ctx context.Context) {
	t, st := p.t, p.st
	if p.probs == nil {
		p.probs = problems{}
	}
	p.restartKilled(ctx)
	var capas []*capaRun
	for _, ld := range p.loads {
		capas = append(capas, ld.capas...)
		logicals, _ := ld.snapshot()
		for _, l := range logicals {
			if l.outcome == gaveUp {
				p.probs.add(catUnfinish, "%s: no final answer after %d attempts (%s); last: %s", &l, l.attempts, l.history(), l.last)
			}
		}
		for cat, lines := range ld.problems {
			p.probs[cat] = append(p.probs[cat], lines...)
		}
	}
	for _, d := range st.alive() {
		p.probs.add(catProcess, "%s", d)
	}
	workflows := settle(ctx, st, *settleFor, &p.probs)
	rd := &reader{base: st.apis[1].url(), token: st.tokens["carol"], hc: p.loads[0].hc, probs: &p.probs}
	n := verify(ctx, capas, rd, workflows, &p.probs)
	t.Logf("checked %d workflows, %d read-model rows and %d audit events", len(workflows), n.rows, n.events)
	if p.probs.count() > 0 {
		t.Logf("FAIL (%s)", p.probs.summary())
	}
	p.probs.report(t)
	if len(p.probs[cat500]) > 0 {
		if lines := st.apiErrors(10); len(lines) > 0 {
			t.Logf("the APIs' error logs (first %d lines):\n    %s", len(lines), strings.Join(lines, "\n    "))
		}
	}
}
