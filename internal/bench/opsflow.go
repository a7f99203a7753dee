package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// OpsflowPair drives opsflow's API: create a CAPA, then triage it — the
// same two Temporal calls as ReferencePair, plus everything opsflow does
// around them (authentication, validation, projection, audit trail).
func OpsflowPair(hc *http.Client, base, token, run string) Pair {
	post := func(ctx context.Context, path, key, body string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewBufferString(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		res, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			return nil, fmt.Errorf("POST %s: %s: %s", path, res.Status, b)
		}
		return b, nil
	}
	return func(ctx context.Context, i int64) (time.Duration, time.Duration, error) {
		key := fmt.Sprintf("bench-%s-%d", run, i)
		t0 := time.Now()
		body, err := post(ctx, "/v1/capas", key, fmt.Sprintf(
			`{"title":"benchmark %d","type":"corrective","source":{"type":"ncr"},"problem":{"what":"bench %d"}}`, i, i))
		if err != nil {
			return 0, 0, err
		}
		var c struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(body, &c); err != nil || c.ID == "" {
			return 0, 0, fmt.Errorf("create answered %s", body)
		}
		t1 := time.Now()
		if _, err := post(ctx, "/v1/capas/"+c.ID+"/triage", key+"-triage", `{"severity":3,"occurrence":2,"detection":2}`); err != nil {
			return 0, 0, err
		}
		return t1.Sub(t0), time.Since(t1), nil
	}
}
