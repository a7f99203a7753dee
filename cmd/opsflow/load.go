package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/client"
)

// runLoad drives a running API with a bounded number of CAPA lifecycles'
// first steps (create, then triage) and reports throughput and latency
// percentiles. It is how opsflow's performance is shown — numbers from a
// command, never timed assertions in tests. Point it only at a server you
// run (loopback by default).
func runLoad(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("opsflow load", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080", "API base URL")
	token := fs.String("token", "", "bearer token of a user with the owner and requester roles (required)")
	n := fs.Int("n", 100, "number of CAPAs to create and triage (1–10000)")
	conc := fs.Int("c", 8, "concurrent clients (1–64)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		return errors.New("--token is required")
	}
	if *n < 1 || *n > 10000 || *conc < 1 || *conc > 64 {
		return errors.New("-n must be 1–10000 and -c 1–64")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute) // the run always ends by itself
	defer cancel()
	api := client.New(*url, *token)
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	var mu sync.Mutex
	var creates, triages []time.Duration
	var failures int
	var firstErr error
	jobs := make(chan int)
	var wg sync.WaitGroup
	began := time.Now()
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				key := fmt.Sprintf("load-%s-%d", run, i)
				t0 := time.Now()
				created, err := api.CreateCAPA(ctx, opsflow.CAPARequest{Title: fmt.Sprintf("load test %d", i), Type: "corrective",
					Source: opsflow.CAPASource{Type: "ncr"}, Problem: opsflow.Problem{What: fmt.Sprintf("load %d", i)}},
					client.IdempotencyKey(key), client.Retry(5))
				d1 := time.Since(t0)
				var d2 time.Duration
				if err == nil {
					t1 := time.Now()
					_, err = client.Step[opsflow.CAPA](ctx, api, opsflow.CAPAStep.Triage, created.ID,
						opsflow.TriageInput{Severity: 3, Occurrence: 2, Detection: 2}, client.IdempotencyKey(key+"-triage"), client.Retry(5))
					d2 = time.Since(t1)
				}
				mu.Lock()
				if err != nil {
					failures++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					creates, triages = append(creates, d1), append(triages, d2)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range *n {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(began)
	fmt.Fprintf(stdout, "%d CAPAs created and triaged in %s (%.1f lifecycles/s, %d clients), %d failed\n",
		len(creates), elapsed.Round(time.Millisecond), float64(len(creates))/elapsed.Seconds(), *conc, failures)
	report(stdout, "create (Update-with-Start, waits for the read model)", creates)
	report(stdout, "triage (Update, waits for the read model)", triages)
	if firstErr != nil {
		return fmt.Errorf("%d requests failed; first: %w", failures, firstErr)
	}
	return nil
}

func report(w io.Writer, what string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	p := func(q float64) time.Duration { return ds[int(q*float64(len(ds)-1))].Round(time.Millisecond) }
	fmt.Fprintf(w, "  %-55s p50 %-8s p90 %-8s p99 %-8s max %s\n", what, p(0.5), p(0.9), p(0.99), ds[len(ds)-1].Round(time.Millisecond))
}
