package bench

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/client"
)

// OpsflowPair drives opsflow's API through its Go client: create a CAPA,
// then triage it — the same two Temporal calls as ReferencePair, plus
// everything opsflow does around them (authentication, validation,
// projection, audit trail). Each request carries an Idempotency-Key, as a
// careful client's do.
func OpsflowPair(hc *http.Client, base, token, run string) Pair {
	c := client.New(base, token, client.WithHTTPClient(hc))
	return func(ctx context.Context, i int64) (time.Duration, time.Duration, error) {
		key := fmt.Sprintf("bench-%s-%d", run, i)
		t0 := time.Now()
		created, err := c.CreateCAPA(ctx, opsflow.CAPARequest{Title: fmt.Sprintf("benchmark %d", i), Type: "corrective",
			Source: opsflow.CAPASource{Type: "ncr"}, Problem: opsflow.Problem{What: fmt.Sprintf("bench %d", i)}}, client.IdempotencyKey(key))
		if err != nil {
			return 0, 0, fmt.Errorf("create: %w", err)
		}
		t1 := time.Now()
		if _, err := client.Step[opsflow.CAPA](ctx, c, opsflow.CAPAStep.Triage, created.ID,
			opsflow.TriageInput{Severity: 3, Occurrence: 2, Detection: 2}, client.IdempotencyKey(key+"-triage")); err != nil {
			return 0, 0, fmt.Errorf("triage: %w", err)
		}
		return t1.Sub(t0), time.Since(t1), nil
	}
}
