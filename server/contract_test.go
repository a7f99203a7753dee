package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/opsflow/opsflow/server"
)

// Every request and response of these tests is checked against the
// served OpenAPI document: an undocumented field, a wrong status or a
// missing schema fails CI. Requests are checked when the API accepted them
// (2xx) — a request the API takes must be one the document allows; the
// tests' deliberately bad requests are refused, and their answers are
// still checked.
var contract struct {
	once   sync.Once
	router routers.Router
	err    error
}

func contractRouter() (routers.Router, error) {
	contract.once.Do(func() {
		b, err := server.New(server.Config{}).OpenAPI()
		if err != nil {
			contract.err = err
			return
		}
		doc, err := openapi3.NewLoader().LoadFromData(b)
		if err != nil {
			contract.err = err
			return
		}
		contract.router, contract.err = legacy.NewRouter(doc)
	})
	return contract.router, contract.err
}

// checkContract validates one exchange; problems are test errors.
func checkContract(t *testing.T, req *http.Request, reqBody []byte, status int, header http.Header, resBody []byte) {
	t.Helper()
	router, err := contractRouter()
	if err != nil {
		t.Fatalf("contract: %v", err)
	}
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := router.FindRoute(r)
	if err != nil {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed || status == http.StatusUnauthorized {
			return // an unknown route, answered as such
		}
		t.Errorf("contract: %s %s answered %d but is not in the document: %v", req.Method, req.URL.Path, status, err)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}}
	if status >= 200 && status < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("contract: the API accepted %s %s (%d), which the document does not allow: %v", req.Method, req.URL.Path, status, err)
		}
	}
	ct := header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "application/json") {
		return // csv, html, javascript: documented as text
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Body: io.NopCloser(bytes.NewReader(resBody)), Options: in.Options}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("contract: %s %s answered %d with what the document does not describe: %v\nbody: %.500s", req.Method, req.URL.Path, status, err, resBody)
	}
}

// contractTransport checks every exchange of a client against the
// document, as a.Do does.
type contractTransport struct{ t *testing.T }

func (ct contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var sent []byte
	if req.Body != nil {
		sent, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(sent))
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(b))
	checkContract(ct.t, req, sent, res.StatusCode, res.Header, b)
	return res, nil
}
