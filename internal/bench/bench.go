// Package bench measures opsflow's write path against the Temporal server
// under it, in one run: R0 is a no-op workflow driven by the same two calls
// opsflow's create and first step make (Update-with-Start, then one Update),
// and O is opsflow's own create + triage through the HTTP API. Both run
// against the same Temporal server and the same machine, interleaved, so
// the ratio O/R0 says what opsflow costs on top of Temporal itself — a
// figure that survives a faster or slower machine, unlike a timed
// assertion.
package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Pair runs one create and its first step and reports each call's latency.
// i numbers pairs within a run, so a driver can derive unique IDs.
type Pair func(ctx context.Context, i int64) (create, step time.Duration, err error)

// Result is one measurement: pairs completed by clients for a while.
type Result struct {
	System  string
	Clients int
	Pairs   int
	Errors  int
	Elapsed time.Duration
	Create  []time.Duration
	Step    []time.Duration
	// FirstErr is the first failure, to say why Errors is not zero.
	FirstErr error
}

// Throughput is completed pairs per second.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Pairs) / r.Elapsed.Seconds()
}

// Run drives pair with clients concurrent callers for d and returns what
// completed. Pairs still in flight when d ends are waited for and counted,
// with the elapsed time measured to the last completion: stopping the
// clock early would flatter slow systems.
func Run(ctx context.Context, system string, pair Pair, clients int, d time.Duration) Result {
	res := Result{System: system, Clients: clients}
	var (
		mu   sync.Mutex
		next atomic.Int64
		wg   sync.WaitGroup
	)
	stop := time.Now().Add(d)
	began := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) && ctx.Err() == nil {
				c, s, err := pair(ctx, next.Add(1))
				mu.Lock()
				if err != nil {
					res.Errors++
					if res.FirstErr == nil {
						res.FirstErr = err
					}
				} else {
					res.Pairs++
					res.Create = append(res.Create, c)
					res.Step = append(res.Step, s)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(began)
	return res
}

// Quantile returns the q-quantile (0..1) of ds by the nearest-rank method.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Summary pools the rounds of one system at one concurrency: the median
// throughput of the rounds (robust to one disturbed round) and latency
// percentiles over every call of every round.
type Summary struct {
	System     string
	Clients    int
	Rounds     int
	Throughput float64 // median over rounds, pairs per second
	Pairs      int
	Errors     int
	CreateP50  time.Duration
	CreateP99  time.Duration
	StepP50    time.Duration
	StepP99    time.Duration
	FirstErr   error
}

// Summarise pools rounds (all of one system and concurrency).
func Summarise(rounds []Result) Summary {
	if len(rounds) == 0 {
		return Summary{}
	}
	s := Summary{System: rounds[0].System, Clients: rounds[0].Clients, Rounds: len(rounds)}
	var tp []float64
	var creates, steps []time.Duration
	for _, r := range rounds {
		tp = append(tp, r.Throughput())
		s.Pairs += r.Pairs
		s.Errors += r.Errors
		creates = append(creates, r.Create...)
		steps = append(steps, r.Step...)
		if s.FirstErr == nil {
			s.FirstErr = r.FirstErr
		}
	}
	sort.Float64s(tp)
	s.Throughput = tp[len(tp)/2]
	if len(tp)%2 == 0 {
		s.Throughput = (tp[len(tp)/2-1] + tp[len(tp)/2]) / 2
	}
	s.CreateP50, s.CreateP99 = Quantile(creates, 0.5), Quantile(creates, 0.99)
	s.StepP50, s.StepP99 = Quantile(steps, 0.5), Quantile(steps, 0.99)
	return s
}

// Comparison is opsflow (O) against its reference (R0) at one concurrency.
type Comparison struct {
	Clients int
	Ref, O  Summary
}

// Ratio is O's throughput over R0's.
func (c Comparison) Ratio() float64 {
	if c.Ref.Throughput == 0 {
		return 0
	}
	return c.O.Throughput / c.Ref.Throughput
}

// P99Ratios are O's p99 latencies over R0's, per call.
func (c Comparison) P99Ratios() (create, step float64) {
	r := func(o, ref time.Duration) float64 {
		if ref == 0 {
			return 0
		}
		return float64(o) / float64(ref)
	}
	return r(c.O.CreateP99, c.Ref.CreateP99), r(c.O.StepP99, c.Ref.StepP99)
}

// Targets are the engine issue's: O/R0 ≥ 0.85 in throughput, and each of
// O's p99 latencies within 1.5× of R0's.
const (
	TargetRatio    = 0.85
	TargetP99Ratio = 1.5
)

// Met reports whether c meets the targets.
func (c Comparison) Met() bool {
	cr, sr := c.P99Ratios()
	return c.Ratio() >= TargetRatio && cr <= TargetP99Ratio && sr <= TargetP99Ratio
}

// Print writes the comparison table.
func Print(w io.Writer, cs []Comparison, extra []Summary) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond)) }
	fmt.Fprintf(w, "%-8s %-4s %9s %7s %6s %9s %9s %9s %9s\n", "clients", "sys", "pairs/s", "pairs", "errors", "create50", "create99", "step50", "step99")
	row := func(s Summary) {
		fmt.Fprintf(w, "%-8d %-4s %9.1f %7d %6d %9s %9s %9s %9s\n", s.Clients, s.System, s.Throughput, s.Pairs, s.Errors,
			ms(s.CreateP50), ms(s.CreateP99), ms(s.StepP50), ms(s.StepP99))
	}
	for _, c := range cs {
		row(c.Ref)
		for _, e := range extra {
			if e.Clients == c.Clients {
				row(e)
			}
		}
		row(c.O)
		cr, sr := c.P99Ratios()
		verdict := "targets met"
		if !c.Met() {
			verdict = "targets NOT met"
		}
		fmt.Fprintf(w, "         O/R0 throughput %.2f (target ≥ %.2f); p99 create ×%.2f, step ×%.2f (target ≤ %.1f): %s\n",
			c.Ratio(), TargetRatio, cr, sr, TargetP99Ratio, verdict)
	}
	for _, c := range cs {
		for _, s := range []Summary{c.Ref, c.O} {
			if s.FirstErr != nil {
				fmt.Fprintf(w, "first error of %s at %d clients: %v\n", s.System, s.Clients, s.FirstErr)
			}
		}
	}
}
