package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/outbound"
)

// onboardingStore is what the onboarding activities need from the store.
type onboardingStore interface{}

// denyAll is the webhook client when none is configured: it lets nothing
// out. Outbound calls go to the hosts an administrator allowed, or
// nowhere (see internal/outbound).
var denyAll = (*outbound.Policy)(nil).Client(30 * time.Second)

// Provision calls a provisioning webhook: a JSON POST carrying an
// Idempotency-Key derived from the onboarding and task IDs, so a receiver
// that already served the call (before a crash, or in an earlier round) can
// answer without acting twice. A 2xx answer may name the record it created
// as "id" or "external_id". 5xx, 408, 429 and network errors are retried
// by the workflow's retry policy; other 4xx answers are final, since the
// same request will not succeed later.
func (a *Activities) Provision(ctx context.Context, req opsflow.ProvisionRequest) (opsflow.ProvisionResult, error) {
	body, err := json.Marshal(req.Body)
	if err != nil {
		return opsflow.ProvisionResult{}, provisionFailure("encode webhook body", "provision.body", false, err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, req.URL, bytes.NewReader(body))
	if err != nil {
		return opsflow.ProvisionResult{}, provisionFailure(fmt.Sprintf("bad webhook URL: %v", err), "provision.url", false, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Idempotency-Key", req.IdempotencyKey)
	client := a.HTTP
	if client == nil {
		client = denyAll
	}
	res, err := client.Do(hr)
	var refused *outbound.RefusedError
	if errors.As(err, &refused) {
		// Not a network failure: the same call is refused every time.
		a.logger().WarnContext(ctx, "provisioning webhook refused", "url", req.URL, "reason", refused.Reason, "key", req.IdempotencyKey)
		// No cause: the workflow shows the innermost message, and this one
		// says all there is.
		return opsflow.ProvisionResult{}, provisionFailure(fmt.Sprintf("webhook %s refused: %s", req.URL, refused.Reason), "provision.refused", false, nil)
	}
	if err != nil {
		return opsflow.ProvisionResult{}, provisionFailure(fmt.Sprintf("webhook %s: %v", req.URL, err), "provision.unreachable", true, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		msg := fmt.Sprintf("webhook %s answered %d: %s", req.URL, res.StatusCode, excerpt(raw))
		a.logger().WarnContext(ctx, "provisioning webhook failed", "url", req.URL, "status", res.StatusCode, "key", req.IdempotencyKey)
		if res.StatusCode >= 400 && res.StatusCode < 500 && res.StatusCode != http.StatusRequestTimeout && res.StatusCode != http.StatusTooManyRequests {
			return opsflow.ProvisionResult{}, provisionFailure(msg, "provision.rejected", false, nil)
		}
		return opsflow.ProvisionResult{}, provisionFailure(msg, "provision.failed", true, nil)
	}
	var answer struct {
		ID         any `json:"id"`
		ExternalID any `json:"external_id"`
	}
	_ = json.Unmarshal(raw, &answer) // an answer without a body is fine: no external ID
	out := opsflow.ProvisionResult{Status: res.StatusCode, At: time.Now().UTC()}
	for _, v := range []any{answer.ExternalID, answer.ID} {
		if v != nil && out.ExternalID == "" {
			out.ExternalID = strings.TrimSpace(fmt.Sprint(v))
		}
	}
	a.logger().InfoContext(ctx, "provisioned", "url", req.URL, "external_id", out.ExternalID, "key", req.IdempotencyKey)
	return out, nil
}

// excerpt keeps error messages short: they end up as a task's reason.
func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

// provisionFailure is a webhook failure carrying the time it happened as
// its detail: the workflow stamps the outcome with it (the failure is in
// history, so the time is the same on every replay).
func provisionFailure(msg, typ string, retryable bool, cause error) error {
	return temporal.NewApplicationErrorWithOptions(msg, typ, temporal.ApplicationErrorOptions{
		NonRetryable: !retryable, Cause: cause, Details: []any{time.Now().UTC()},
	})
}
