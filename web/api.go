package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/opsflow/opsflow"
)

// The web app talks to the API in-process: a request goes through the
// API's router, middleware and handler exactly as a client's would, only
// without a network hop and with the session's person as the caller.

// answer is the API's answer to one in-process request.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// recorder is a ResponseWriter that keeps the answer in memory.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.header }
func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.body.Write(b)
}
func (rec *recorder) WriteHeader(status int) {
	if rec.status == 0 {
		rec.status = status
	}
}

// record serves r with h and returns the answer.
func record(h http.Handler, r *http.Request) answer {
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	return rec.answer()
}

// answer is what was recorded (200 if the handler set no status).
func (rec *recorder) answer() answer {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return answer{Status: rec.status, Header: rec.header, Body: rec.body.Bytes()}
}

// call sends one request to the API as s's person. body, when not nil, is
// JSON; key is the Idempotency-Key ("" for none).
func (a *App) call(ctx context.Context, s *session, method, path string, query url.Values, body []byte, key string) answer {
	return a.callWith(ctx, s, method, path, query, body, key, nil)
}

// callWith is call with more request headers (If-None-Match: *, say).
func (a *App) callWith(ctx context.Context, s *session, method, path string, query url.Values, body []byte, key string, hdr http.Header) answer {
	u := path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	// A server's handlers expect a body, if an empty one.
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return answer{Status: http.StatusInternalServerError, Body: errorJSON(opsflow.EINTERNAL, "internal error")}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	for name, vals := range hdr {
		req.Header[name] = vals
	}
	rec := &recorder{header: http.Header{}}
	a.API.ServeAs(s.User, rec, req)
	return rec.answer()
}

// get reads a route's JSON answer into v; a non-2xx answer is its error.
func (a *App) get(ctx context.Context, s *session, path string, query url.Values, v any) error {
	ans := a.call(ctx, s, http.MethodGet, path, query, nil, "")
	if ans.Status/100 != 2 {
		return ans.err()
	}
	if err := json.Unmarshal(ans.Body, v); err != nil {
		return fmt.Errorf("web: decode %s: %w", path, err)
	}
	return nil
}

// ok reports a 2xx answer.
func (ans answer) ok() bool { return ans.Status/100 == 2 }

// err is the API's error of a non-2xx answer, in its one shape.
func (ans answer) err() *opsflow.Error {
	var e struct {
		Error opsflow.Error `json:"error"`
	}
	if json.Unmarshal(ans.Body, &e) != nil || e.Error.Code == "" {
		return &opsflow.Error{Code: opsflow.CodeOfStatus(ans.Status), Message: http.StatusText(ans.Status)}
	}
	return &e.Error
}

func errorJSON(code, msg string) []byte {
	b, _ := json.Marshal(map[string]opsflow.Error{"error": {Code: code, Message: msg}})
	return b
}

// statusOf is the HTTP status of an error, as the API would answer it: a
// database or API that did not answer in time is 503, not a bug.
func statusOf(err error) int {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return http.StatusServiceUnavailable
	}
	if status, ok := opsflow.HTTPStatus(opsflow.ErrorCode(err)); ok {
		return status
	}
	return http.StatusInternalServerError
}
