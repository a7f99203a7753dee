// Package client is a Go client of the opsflow API, written against its
// OpenAPI document with the domain's own wire types: the step tables
// (opsflow.CAPAStep, KaizenStep, OnboardingStep) name every step's route
// and body, so a step taken through the client is typed end to end. The
// load command, the benchmark and the integration tests use it, so the
// project eats its own contract.
//
//	c := client.New("http://localhost:8080", token)
//	capa, err := c.CreateCAPA(ctx, opsflow.CAPARequest{...}, client.IdempotencyKey("ncr-1042"))
//	capa, err = client.Step[opsflow.CAPA](ctx, c, opsflow.CAPAStep.Triage, capa.ID,
//		opsflow.TriageInput{Severity: 4, Occurrence: 3, Detection: 4})
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opsflow/opsflow"
)

// Client calls one opsflow API as one user.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// Option configures New.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: one with a 60 s timeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// New returns a client of the API at base (e.g. http://localhost:8080)
// authenticating with token.
func New(base, token string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(base, "/"), token: token, hc: &http.Client{Timeout: 60 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Error is an answer other than 2xx: its status and the API's error.
type Error struct {
	Status int
	API    opsflow.Error // code, message, field, state
	// RetryAfter is the wait the API asked for (503, 429).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.API.Field != "" {
		return fmt.Sprintf("%d %s: %s (field %s)", e.Status, e.API.Code, e.API.Message, e.API.Field)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.API.Code, e.API.Message)
}

// Accepted is the answer of a step accepted but not applied before the
// request's deadline (202): it will be applied; read Location, or repeat
// the request with the same Idempotency-Key for its outcome.
type Accepted struct {
	Status   string `json:"status"`
	ID       string `json:"id"`
	Location string `json:"location"`
	UpdateID string `json:"update_id"`
	Message  string `json:"message"`
}

func (a *Accepted) Error() string { return "202 accepted: " + a.Message }

// ErrorCode is the API's error code of err ("" when err is not an answer).
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.API.Code
	}
	return ""
}

// RequestOption configures one request.
type RequestOption func(*request)

type request struct {
	key     string
	taskID  string
	query   url.Values
	retries int
}

// IdempotencyKey sends the Idempotency-Key header: the same key runs the
// change once and answers it again.
func IdempotencyKey(k string) RequestOption { return func(r *request) { r.key = k } }

// TaskID names the task of a task step.
func TaskID(id string) RequestOption { return func(r *request) { r.taskID = id } }

// Query adds query parameters.
func Query(v url.Values) RequestOption { return func(r *request) { r.query = v } }

// Retry repeats a request answered 503, 429 or 202, or that failed to connect,
// up to n more times, waiting as the API asks. It needs an
// IdempotencyKey (so that a repeat is safe) and is ignored without one.
func Retry(n int) RequestOption { return func(r *request) { r.retries = n } }

// Do sends method path with body (JSON unless nil) and decodes a JSON
// answer into out (unless nil). A 2xx answer returns its status; 202 an
// *Accepted; anything else an *Error.
func (c *Client) Do(ctx context.Context, method, path string, body, out any, opts ...RequestOption) (int, error) {
	var r request
	for _, o := range opts {
		o(&r)
	}
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return 0, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
	}
	if len(r.query) > 0 {
		path += "?" + r.query.Encode()
	}
	for attempt := 0; ; attempt++ {
		status, wait, err := c.once(ctx, method, path, payload, out, r.key)
		if err == nil || r.key == "" || attempt >= r.retries || wait < 0 {
			return status, err
		}
		select {
		case <-ctx.Done():
			return status, err
		case <-time.After(wait):
		}
	}
}

// once sends one request; wait ≥ 0 says the answer may be retried after
// that long.
func (c *Client) once(ctx context.Context, method, path string, payload []byte, out any, key string) (int, time.Duration, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, -1, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return 0, time.Second, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return res.StatusCode, time.Second, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	retryAfter := time.Second
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s >= 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	switch {
	case res.StatusCode == http.StatusAccepted:
		var a Accepted
		_ = json.Unmarshal(b, &a)
		return res.StatusCode, retryAfter, &a
	case res.StatusCode >= 200 && res.StatusCode < 300:
		if out != nil && len(b) > 0 {
			if err := json.Unmarshal(b, out); err != nil {
				return res.StatusCode, -1, fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
			}
		}
		return res.StatusCode, -1, nil
	}
	var e struct {
		Error opsflow.Error `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" {
		e.Error = opsflow.Error{Code: "internal", Message: strings.TrimSpace(string(b))}
	}
	apiErr := &Error{Status: res.StatusCode, API: e.Error}
	if res.StatusCode == http.StatusServiceUnavailable || res.StatusCode == http.StatusTooManyRequests {
		apiErr.RetryAfter = retryAfter
		return res.StatusCode, retryAfter, apiErr
	}
	return res.StatusCode, -1, apiErr
}

// collection is the URL collection of a kind of process.
func collection(k opsflow.Kind) string {
	ki, _ := opsflow.KindOf(k)
	return ki.Collection
}

// Step takes a step of a process — one entry of the domain's step tables —
// and answers the process's record as R (opsflow.CAPA, opsflow.Kaizen,
// opsflow.Onboarding).
func Step[R, B, In any](ctx context.Context, c *Client, d opsflow.StepDef[B, In], id string, body B, opts ...RequestOption) (R, error) {
	var r request
	for _, o := range opts {
		o(&r)
	}
	path := "/v1/" + collection(d.Kind) + "/" + url.PathEscape(id) + "/" + strings.ReplaceAll(d.Route(), "{task_id}", url.PathEscape(r.taskID))
	var out R
	var in any = body
	if d.NoBody {
		in = nil
	}
	_, err := c.Do(ctx, http.MethodPost, path, in, &out, opts...)
	return out, err
}

// Task moves task taskID of process id of kind to the state the verb
// names: start, complete, block or skip.
func (c *Client) Task(ctx context.Context, kind opsflow.Kind, id, taskID, verb string, action opsflow.TaskAction, opts ...RequestOption) (json.RawMessage, error) {
	var out json.RawMessage
	_, err := c.Do(ctx, http.MethodPost, "/v1/"+collection(kind)+"/"+url.PathEscape(id)+"/tasks/"+url.PathEscape(taskID)+"/"+verb, action, &out, opts...)
	return out, err
}

// CreateCAPA reports a CAPA.
func (c *Client) CreateCAPA(ctx context.Context, req opsflow.CAPARequest, opts ...RequestOption) (opsflow.CAPA, error) {
	var out opsflow.CAPA
	_, err := c.Do(ctx, http.MethodPost, "/v1/capas", req, &out, opts...)
	return out, err
}

// CAPA reads one CAPA.
func (c *Client) CAPA(ctx context.Context, id string) (opsflow.CAPA, error) {
	var out opsflow.CAPA
	_, err := c.Do(ctx, http.MethodGet, "/v1/capas/"+url.PathEscape(id), nil, &out)
	return out, err
}

// CreateKaizen submits a Kaizen initiative.
func (c *Client) CreateKaizen(ctx context.Context, req opsflow.KaizenRequest, opts ...RequestOption) (opsflow.Kaizen, error) {
	var out opsflow.Kaizen
	_, err := c.Do(ctx, http.MethodPost, "/v1/kaizen", req, &out, opts...)
	return out, err
}

// Kaizen reads one initiative.
func (c *Client) Kaizen(ctx context.Context, id string) (opsflow.Kaizen, error) {
	var out opsflow.Kaizen
	_, err := c.Do(ctx, http.MethodGet, "/v1/kaizen/"+url.PathEscape(id), nil, &out)
	return out, err
}

// Onboarding reads one onboarding.
func (c *Client) Onboarding(ctx context.Context, id string) (opsflow.Onboarding, error) {
	var out opsflow.Onboarding
	_, err := c.Do(ctx, http.MethodGet, "/v1/onboardings/"+url.PathEscape(id), nil, &out)
	return out, err
}

// Page is one page of a list.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// Tasks reads a page of the inbox with the given filters.
func (c *Client) Tasks(ctx context.Context, filters url.Values) (Page[opsflow.TaskRow], error) {
	var out Page[opsflow.TaskRow]
	_, err := c.Do(ctx, http.MethodGet, "/v1/tasks", nil, &out, Query(filters))
	return out, err
}

// Audit reads the audit trail of a process.
func (c *Client) Audit(ctx context.Context, kind opsflow.Kind, id string) ([]opsflow.AuditEvent, error) {
	var out Page[opsflow.AuditEvent]
	_, err := c.Do(ctx, http.MethodGet, "/v1/"+collection(kind)+"/"+url.PathEscape(id)+"/audit", nil, &out)
	return out.Items, err
}
