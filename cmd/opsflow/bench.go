package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/activities"
	"github.com/opsflow/opsflow/internal/bench"
	"github.com/opsflow/opsflow/internal/devstack"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/server"
	"github.com/opsflow/opsflow/worker"
)

// runBench measures opsflow's write path against Temporal's own in one
// run: it starts a private, file-backed Temporal dev server and PostgreSQL,
// an opsflow worker and API, and a reference worker; then, for each
// concurrency, it alternates rounds of the reference (R0: a no-op workflow
// driven by Update-with-Start + one Update) and of opsflow (O: create +
// triage through HTTP), and prints throughput, p50/p99 and O/R0.
func runBench(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("opsflow bench", flag.ContinueOnError)
	fs.SetOutput(stdout)
	clientsFlag := fs.String("c", "1,8,32", "comma-separated concurrencies")
	dur := fs.Duration("d", 8*time.Second, "length of one round")
	rounds := fs.Int("rounds", 3, "rounds per system and concurrency (the median throughput is reported)")
	refs := fs.String("refs", "R0", "reference systems: R0 (no-op); add R1 (regular activity writing PostgreSQL) and R2 (local activity) to see where time goes, e.g. R0,R1,R2")
	fast := fs.Bool("fast", true, "tune the dev server for speed (WAL, transfer poll rate), as 'opsflow dev' does")
	keep := fs.Bool("keep", false, "keep the state directory for inspection")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (the API, opsflow's worker and the clients, all in it) to this file, for go tool pprof")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: opsflow bench [flags]\n\nMeasures opsflow's create + first step against a no-op Temporal workflow on one private stack.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	var concs []int
	for _, f := range strings.Split(*clientsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 256 {
			return fmt.Errorf("-c: %q is not a concurrency from 1 to 256", f)
		}
		concs = append(concs, n)
	}
	if *rounds < 1 || *dur < time.Second {
		return errors.New("-rounds must be ≥ 1 and -d ≥ 1s")
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	dir, err := os.MkdirTemp("", "opsflow-bench-")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Fprintln(stdout, "state:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	logs, err := os.Create(filepath.Join(dir, "servers.log"))
	if err != nil {
		return err
	}
	defer logs.Close()

	fmt.Fprintln(stdout, "starting a private PostgreSQL and a file-backed Temporal dev server …")
	pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{Dir: filepath.Join(dir, "pg"), LogWriter: logs, Logger: quiet})
	if err != nil {
		return err
	}
	defer stopQuietly(pg.Stop)
	if err := pg.CreateDatabase(ctx, "opsflow"); err != nil {
		return err
	}
	topts := devstack.TemporalOptions{DBFile: filepath.Join(dir, "temporal.db"), UIPort: -1, LogWriter: logs, Logger: quiet}
	if *fast {
		topts.Fast()
	}
	tmp, err := devstack.StartTemporal(ctx, topts)
	if err != nil {
		return err
	}
	defer stopQuietly(tmp.Stop)

	db, err := postgres.Open(ctx, pg.URL("opsflow"))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := postgres.Migrate(ctx, db); err != nil {
		return err
	}
	token, err := db.CreateToken(ctx, opsflow.User{ID: "bench", Name: "Benchmark", Roles: []opsflow.Role{opsflow.RoleRequester, opsflow.RoleOwner}}, "bench")
	if err != nil {
		return err
	}
	raw, err := sqlx.Open("postgres", pg.URL("opsflow"))
	if err != nil {
		return err
	}
	defer raw.Close()
	writer := bench.Writer{DB: raw}
	if err := writer.EnsureTable(ctx); err != nil {
		return err
	}
	tc, err := client.DialContext(ctx, client.Options{HostPort: tmp.Address(), Namespace: tmp.Namespace(), Logger: tlog.NewStructuredLogger(quiet)})
	if err != nil {
		return err
	}
	defer tc.Close()

	// opsflow: its own worker and API, as 'opsflow dev' runs them.
	ow := worker.New(tc, "opsflow", &activities.Activities{Store: db, Logger: quiet})
	if err := ow.Start(); err != nil {
		return err
	}
	defer ow.Stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// The benchmark measures throughput: no budgets.
	api := server.HTTPServer("", server.New(server.Config{Store: db, Temporal: tc, TaskQueue: "opsflow", Logger: quiet,
		RateLimits: &server.RateLimits{}}))
	go func() { _ = api.Serve(ln) }()
	defer api.Close()
	base := "http://" + ln.Addr().String()

	// The reference: a worker of its own on its own task queue.
	rw := sdkworker.New(tc, "bench-reference", sdkworker.Options{})
	rw.RegisterWorkflowWithOptions(bench.Reference, workflow.RegisterOptions{Name: bench.ReferenceWorkflow})
	rw.RegisterActivityWithOptions(func(ctx context.Context, id string, n int) error {
		return bench.NonRetryable(writer.Write(ctx, id, n))
	}, activity.RegisterOptions{Name: bench.ActivityBenchWrite})
	if err := rw.Start(); err != nil {
		return err
	}
	defer rw.Stop()

	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	type system struct {
		name string
		pair func(run string) bench.Pair
	}
	systems := []system{{"R0", func(run string) bench.Pair { return bench.ReferencePair(tc, "bench-reference", run, bench.WriteNone) }}}
	for _, r := range strings.Split(*refs, ",") {
		switch strings.TrimSpace(r) {
		case "R0", "":
		case "R1":
			systems = append(systems, system{"R1", func(run string) bench.Pair {
				return bench.ReferencePair(tc, "bench-reference", run, bench.WriteActivity)
			}})
		case "R2":
			systems = append(systems, system{"R2", func(run string) bench.Pair { return bench.ReferencePair(tc, "bench-reference", run, bench.WriteLocal) }})
		default:
			return fmt.Errorf("-refs: unknown reference %q (R0, R1, R2)", r)
		}
	}
	systems = append(systems, system{"O", func(run string) bench.Pair { return bench.OpsflowPair(hc, base, token, run) }})

	// Warm up every system (connections, caches, the JIT-free but
	// cold-cache first workflow tasks) before anything is measured.
	for _, s := range systems {
		bench.Run(ctx, s.name, s.pair("warm-"+s.name), 4, 2*time.Second)
	}
	fmt.Fprintf(stdout, "%d round(s) of %s per system and concurrency, interleaved; Go %s, %d CPUs\n", *rounds, *dur, strings.TrimPrefix(goVersion(), "go"), numCPU())
	var cs []bench.Comparison
	var extra []bench.Summary
	for _, c := range concs {
		results := map[string][]bench.Result{}
		for r := range *rounds {
			for _, s := range systems {
				run := fmt.Sprintf("%s-c%d-r%d", s.name, c, r)
				res := bench.Run(ctx, s.name, s.pair(run), c, *dur)
				results[s.name] = append(results[s.name], res)
				fmt.Fprintf(stdout, "  %-3s c=%-3d round %d: %6.1f pairs/s (%d errors)\n", s.name, c, r+1, res.Throughput(), res.Errors)
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
		cmp := bench.Comparison{Clients: c, Ref: bench.Summarise(results["R0"]), O: bench.Summarise(results["O"])}
		cs = append(cs, cmp)
		for _, s := range systems {
			if s.name != "R0" && s.name != "O" {
				extra = append(extra, bench.Summarise(results[s.name]))
			}
		}
	}
	fmt.Fprintln(stdout)
	bench.Print(stdout, cs, extra)
	return nil
}

func stopQuietly(stop func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = stop(ctx)
}

func goVersion() string { return runtime.Version() }

func numCPU() int { return runtime.NumCPU() }
