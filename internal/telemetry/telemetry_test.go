package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/activities"
	"github.com/opsflow/opsflow/internal/telemetry"
	"github.com/opsflow/opsflow/internal/testenv"
	"github.com/opsflow/opsflow/observability"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/server"
	"github.com/opsflow/opsflow/worker"
)

// Integration tests: a real Temporal dev server and PostgreSQL (testenv),
// the API and a worker in this process with telemetry as `opsflow dev`
// wires it, and an in-memory span exporter in place of OTLP.
func TestMain(m *testing.M) { testenv.Main(m) }

type stack struct {
	tel     *telemetry.Telemetry
	spans   *tracetest.InMemoryExporter
	logs    *testenv.Logs
	api     string
	tokens  map[string]string
	stopAll func()
}

func start(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	// Migrations run as the owner; the test acts as the application's role.
	owner, err := postgres.Open(ctx, testenv.MigrateURL())
	if err != nil {
		t.Fatal(err)
	}
	err = postgres.Migrate(ctx, owner, postgres.GrantTo(testenv.AppRole))
	owner.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, testenv.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &stack{spans: tracetest.NewInMemoryExporter(), logs: &testenv.Logs{}, tokens: map[string]string{}}
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(s.logs, nil)))
	s.tel, err = telemetry.New(ctx, telemetry.Options{Service: "opsflow-test", SpanExporter: s.spans, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []opsflow.User{
		{ID: "alice", Name: "Alice Martin", Roles: []opsflow.Role{opsflow.RoleRequester, opsflow.RoleOwner}},
		{ID: "carol", Name: "Carol Nguyen", Roles: []opsflow.Role{opsflow.RoleAuditor}},
	} {
		if s.tokens[u.ID], err = db.CreateToken(ctx, u, "test"); err != nil {
			t.Fatal(err)
		}
	}
	opts := client.Options{HostPort: testenv.TemporalAddress(), Namespace: testenv.Namespace(),
		Logger: tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}
	if err := s.tel.TemporalClient(&opts); err != nil {
		t.Fatal(err)
	}
	tc, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	queue := "telemetry-" + strings.ReplaceAll(t.Name(), "/", "-")
	w := worker.New(tc, queue, &activities.Activities{Store: db, Logger: log})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	s.tel.Registry().MustRegister(&telemetry.Business{Store: db, Temporal: tc, TaskQueue: queue, Logger: log})
	verify := telemetry.NewVerifyMetrics(s.tel.Registry())
	store := verifyingStore{DB: db, m: verify}
	srv := httptest.NewServer(server.New(server.Config{Store: store, Temporal: tc, TaskQueue: queue, Logger: log,
		Middleware: s.tel.Middleware()}))
	s.api = srv.URL
	var once sync.Once
	s.stopAll = func() {
		once.Do(func() {
			srv.Close()
			w.Stop()
			tc.Close()
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.tel.Shutdown(sctx); err != nil {
				t.Errorf("telemetry shutdown: %v", err)
			}
		})
	}
	t.Cleanup(s.stopAll)
	return s
}

// verifyingStore counts verifications the way cmd/opsflow's store does.
type verifyingStore struct {
	*postgres.DB
	m *telemetry.VerifyMetrics
}

func (s verifyingStore) VerifyAudit(ctx context.Context, stream string) (opsflow.VerifyReport, error) {
	rep, err := s.DB.VerifyAudit(ctx, stream)
	s.m.Observe(stream, rep, err)
	return rep, err
}

func (s *stack) do(t *testing.T, user, method, path string, body any, key string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.api+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.tokens[user])
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// createCAPA reports a nonconformity and triages it: an Update-with-Start,
// then an Update, each answered after the workflow's local activity wrote
// PostgreSQL.
func (s *stack) createCAPA(t *testing.T, n int) string {
	t.Helper()
	code, b := s.do(t, "alice", "POST", "/v1/capas", map[string]any{
		"title": fmt.Sprintf("telemetry %d", n), "type": "corrective",
		"source":  map[string]any{"type": "complaint", "refs": []string{"CMP-1"}},
		"problem": map[string]any{"what": "housing cracks", "how_many": 3}, "owner": "alice",
	}, fmt.Sprintf("telemetry-%s-%d", t.Name(), n))
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, b)
	}
	var c struct{ ID string }
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if code, b := s.do(t, "alice", "POST", "/v1/capas/"+c.ID+"/triage", map[string]any{"severity": 4, "occurrence": 3, "detection": 4}, ""); code != http.StatusOK {
		t.Fatalf("triage: %d %s", code, b)
	}
	return c.ID
}

// TestTraceFromRequestToActivity: one request's spans, from the API's HTTP
// server span through the Temporal client call to the workflow's update
// handler and its activity in the worker, share one trace ID, and the
// request's log line carries it.
func TestTraceFromRequestToActivity(t *testing.T) {
	s := start(t)
	s.createCAPA(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.tel.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}

	spans := s.spans.GetSpans()
	var root *tracetest.SpanStub
	for i := range spans {
		if spans[i].Name == "POST /v1/capas" {
			root = &spans[i]
		}
	}
	if root == nil {
		t.Fatalf("no span named after the route POST /v1/capas among %d spans: %v", len(spans), names(spans))
	}
	trace := root.SpanContext.TraceID()
	var inTrace []string
	for _, sp := range spans {
		if sp.SpanContext.TraceID() == trace {
			inTrace = append(inTrace, sp.Name)
		}
	}
	t.Logf("trace %s: %v", trace, inTrace)
	for _, want := range []string{
		"UpdateWithStartWorkflow:", // the API's Temporal client
		"HandleUpdate:",            // the worker runs the workflow's update handler…
		"RunActivity:",             // …and the local activity that writes PostgreSQL
		// (RunWorkflow: spans end, and are exported, when a process
		// closes: months later for a CAPA.)
	} {
		if !slices.ContainsFunc(inTrace, func(n string) bool { return strings.HasPrefix(n, want) }) {
			t.Errorf("the request's trace has no %s… span: %v", want, inTrace)
		}
	}
	if got := root.Resource.String(); !strings.Contains(got, "opsflow-test") {
		t.Errorf("resource %s does not name the service", got)
	}
	var logged bool
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"http request"`) && strings.Contains(line, `"path":"/v1/capas"`) {
			logged = true
			if !strings.Contains(line, `"trace_id":"`+trace.String()+`"`) {
				t.Errorf("the request's log line lacks its trace ID %s: %s", trace, line)
			}
		}
	}
	if !logged {
		t.Errorf("no request log line for POST /v1/capas in:\n%s", s.logs.String())
	}
}

// TestServedMetrics: the endpoint serves the RED metrics per route
// template, the SDK's metrics and the business gauges, and every metric the
// Grafana dashboard and the alert rules name is among them.
func TestServedMetrics(t *testing.T) {
	s := start(t)
	id := s.createCAPA(t, 1)
	s.createCAPA(t, 2)
	if code, b := s.do(t, "carol", "GET", "/v1/audit/verify", nil, ""); code != http.StatusOK {
		t.Fatalf("verify: %d %s", code, b)
	}
	s.do(t, "carol", "GET", "/v1/capas/"+id, nil, "")
	s.do(t, "carol", "GET", "/v1/nowhere/"+id, nil, "")
	s.do(t, "carol", "GET", "/capas/"+id, nil, "") // a web page: without a session, the sign-in page

	metrics := scrape(t, s.tel)
	for _, want := range []string{
		`opsflow_http_request_duration_seconds_count{method="POST",route="/v1/capas",status_class="2xx"} 2`,
		`opsflow_http_request_duration_seconds_count{method="POST",route="/v1/capas/:id/triage",status_class="2xx"} 2`,
		`opsflow_http_request_duration_seconds_count{method="GET",route="/v1/capas/:id",status_class="2xx"} 1`,
		`opsflow_http_request_duration_seconds_count{method="GET",route="unmatched",status_class="4xx"} 1`,
		`opsflow_http_request_duration_seconds_count{method="GET",route="web",status_class="3xx"} 1`,
		`opsflow_processes_open{kind="capa",state="triage"} `,
		`opsflow_processes_stalled{kind="capa"} 0`,
		`opsflow_task_queue_pollers{task_queue="` + "telemetry-" + t.Name() + `",type="workflow"}`,
		`opsflow_audit_verifications_total{result="ok",scope="all"} 1`,
		`opsflow_stats_up{source="postgres"} 1`,
		`temporal_request_total{`,
		`temporal_workflow_task_execution_latency_seconds_bucket{`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s\n%s", want, grepLines(metrics, "request_duration_seconds_count"))
		}
	}
	if strings.Contains(metrics, id) {
		t.Errorf("a raw path with a process ID became a label: %s", id)
	}
	served := observability.SeriesNames(metrics)
	missing, err := observability.Unserved(served)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Errorf("%s names %s, which /metrics does not serve", m.Where, m.Metric)
	}
	if t.Failed() {
		for _, l := range strings.Split(metrics, "\n") {
			if strings.HasPrefix(l, "opsflow_processes") {
				t.Log(l)
			}
		}
		t.Logf("served: %v", slices.Sorted(maps.Keys(served)))
	}
}

func scrape(t *testing.T, tel *telemetry.Telemetry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	tel.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
