package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
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
	client := &http.Client{Timeout: 60 * time.Second}
	post := func(path, body string) (time.Duration, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, *url+path, bytes.NewBufferString(body))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+*token)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			return 0, nil, fmt.Errorf("POST %s: %s: %s", path, res.Status, b)
		}
		return time.Since(start), b, nil
	}
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
				d1, body, err := post("/v1/capas", fmt.Sprintf(`{"title":"load test %d","type":"corrective","source":{"type":"ncr"},"problem":{"what":"load %d"},"owner":"%s"}`, i, i, "load"))
				var d2 time.Duration
				if err == nil {
					var c struct{ ID string }
					if err = json.Unmarshal(body, &c); err == nil {
						d2, _, err = post("/v1/capas/"+c.ID+"/triage", `{"severity":3,"occurrence":2,"detection":2}`)
					}
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
