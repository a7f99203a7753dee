package chaos

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/opsflow/opsflow/observability"
	"github.com/opsflow/opsflow/postgres"
)

// otlpReceiver is an OTLP/HTTP trace receiver in the test: what an
// OpenTelemetry Collector would get from the opsflow processes.
type otlpReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []receivedSpan
	errs  []string
}

type receivedSpan struct {
	service, name, trace string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.export))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) url() string { return r.srv.URL }

func (r *otlpReceiver) export(w http.ResponseWriter, req *http.Request) {
	fail := func(code int, format string, args ...any) {
		r.mu.Lock()
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
		r.mu.Unlock()
		http.Error(w, fmt.Sprintf(format, args...), code)
	}
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		fail(http.StatusNotFound, "%s %s: not an OTLP trace export", req.Method, req.URL.Path)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			fail(http.StatusBadRequest, "gzip: %v", err)
			return
		}
		body = gz
	}
	b, err := io.ReadAll(body)
	if err != nil {
		fail(http.StatusBadRequest, "read: %v", err)
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &msg); err != nil {
		fail(http.StatusBadRequest, "decode (Content-Type %s): %v", req.Header.Get("Content-Type"), err)
		return
	}
	r.mu.Lock()
	for _, rs := range msg.GetResourceSpans() {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				r.spans = append(r.spans, receivedSpan{service: service, name: sp.GetName(), trace: hex.EncodeToString(sp.GetTraceId())})
			}
		}
	}
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// crossProcess returns the trace IDs of creates traced end to end: the
// API process's span for POST /v1/capas, and in the same trace a worker
// process's update handler and activity spans.
func (r *otlpReceiver) crossProcess() (traces []string, received int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	type seen struct{ api, handler, activity bool }
	by := map[string]*seen{}
	for _, s := range r.spans {
		x := by[s.trace]
		if x == nil {
			x = &seen{}
			by[s.trace] = x
		}
		switch {
		case s.service == "opsflow-api" && s.name == "POST /v1/capas":
			x.api = true
		case s.service == "opsflow-worker" && strings.HasPrefix(s.name, "HandleUpdate:"):
			x.handler = true
		case s.service == "opsflow-worker" && strings.HasPrefix(s.name, "RunActivity:"):
			x.activity = true
		}
	}
	for id, x := range by {
		if x.api && x.handler && x.activity {
			traces = append(traces, id)
		}
	}
	slices.Sort(traces)
	return traces, len(r.spans)
}

// traces: the API and worker processes sent their spans by OTLP, a create
// is one trace across the two processes, and the API's log line for it
// carries its trace ID.
func (p *prodRun) traces(t *testing.T) {
	var traces []string
	var n int
	deadline := time.Now().Add(15 * time.Second) // batches leave every 0.5 s
	for {
		traces, n = p.otlp.crossProcess()
		if len(traces) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	p.otlp.mu.Lock()
	errs := slices.Clone(p.otlp.errs)
	p.otlp.mu.Unlock()
	for _, e := range errs {
		t.Errorf("OTLP receiver: %s", e)
	}
	creates := 0
	for _, ld := range p.loads {
		creates += len(ld.capas)
	}
	if len(traces) == 0 {
		t.Fatalf("among %d spans received, no create is traced from the API process through a worker's update handler and activity", n)
	}
	t.Logf("%d spans received by OTLP; %d of %d creates traced across API and worker processes (a process killed with spans still buffered loses them)",
		n, len(traces), creates)

	// The API's request log carries the trace ID of one of those traces.
	ids := map[string]bool{}
	for _, id := range traces {
		ids[id] = true
	}
	found := ""
	for _, a := range p.st.apis {
		f, err := os.Open(filepath.Join(p.st.dir, a.name+".log"))
		if err != nil {
			t.Fatalf("%v", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() && found == "" {
			line := sc.Text()
			if !strings.Contains(line, `"msg":"http request"`) || !strings.Contains(line, `"path":"/v1/capas"`) {
				continue
			}
			if _, rest, ok := strings.Cut(line, `"trace_id":"`); ok && ids[rest[:min(32, len(rest))]] {
				found = line
			}
		}
		f.Close()
	}
	if found == "" {
		t.Errorf("no 'http request' log line of POST /v1/capas carries the trace ID of a traced create")
	} else {
		t.Logf("log line with its trace: %s", found)
	}
}

// metrics scrapes every opsflow process's /metrics and Temporal's own:
// each serves its part, and together they serve every metric the Grafana
// dashboard and the alert rules name.
func (p *prodRun) metrics(t *testing.T) {
	served := map[string]bool{}
	bodies := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(p.metricsAddrs)) {
		body, err := get(t.Context(), "http://"+p.metricsAddrs[name]+"/metrics")
		if err != nil {
			t.Errorf("%s /metrics: %v", name, err)
			continue
		}
		bodies[name] = body
		maps.Copy(served, observability.SeriesNames(body))
	}
	want := map[string][]string{
		// The surviving API served the load's steps through both phases.
		"api-2": {
			`opsflow_http_request_duration_seconds_count{method="POST",route="/v1/capas/:id/triage",status_class="2xx"}`,
			`operation="UpdateWorkflowExecution"`,
			`opsflow_task_queue_pollers{task_queue="` + taskQueue + `",type="workflow"}`,
			`opsflow_processes_open{kind="capa",state="investigation"}`,
		},
		"worker-2": {
			`temporal_workflow_task_execution_latency_seconds_count{`,
			`temporal_local_activity_execution_latency_seconds_count{activity_type="SaveSnapshot"`,
			`opsflow_processes_stalled{kind="capa"} 0`,
		},
	}
	for name, lines := range want {
		for _, w := range lines {
			if !strings.Contains(bodies[name], w) {
				t.Errorf("%s /metrics lacks %s", name, w)
			}
		}
	}
	missing, err := observability.Unserved(served)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Errorf("%s names %s, which no opsflow process serves", m.Where, m.Metric)
	}
	// The compose file's Prometheus also scrapes Temporal's own metrics.
	if ts, ok := p.st.temporal.(interface{ MetricsURL() string }); ok {
		body, err := get(t.Context(), ts.MetricsURL())
		if err != nil || !strings.Contains(body, "# TYPE") {
			t.Errorf("Temporal's own /metrics (PROMETHEUS_ENDPOINT): %v", err)
		}
	}
	t.Logf("%d series names served by %d opsflow processes", len(served), len(bodies))
}

func get(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", res.Status, b)
	}
	return string(b), nil
}

// revocation checks that a token revoked outside an API process (here by
// the CLI, as an administrator would) is refused at once by every API,
// not only when the API's token cache would have let it go: each API
// listens for PostgreSQL's announcement and forgets what it trusted.
func (p *prodRun) revocation(t *testing.T) {
	ctx := t.Context()
	out, err := p.st.opsflow(ctx, "token", "create", "--user", "carol", "--label", "revoked at once")
	if err != nil {
		t.Fatalf("opsflow token create: %v\n%s", err, out)
	}
	token := strings.TrimSpace(out)
	me := func(a *apiProcess) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.url()+"/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET /v1/me on %s: %v", a.name, err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	// Each API checks the token and keeps it (for tokenTTL, 5 s).
	for _, a := range p.st.apis {
		if st := me(a); st != http.StatusOK {
			t.Fatalf("%s: the new token answered %d", a.name, st)
		}
	}
	trusted := time.Now()
	if out, err := p.st.opsflow(ctx, "token", "revoke", "--id", postgres.TokenID(token)); err != nil {
		t.Fatalf("opsflow token revoke: %v\n%s", err, out)
	}
	for _, a := range p.st.apis {
		for me(a) != http.StatusUnauthorized {
			if time.Since(trusted) > 30*time.Second {
				t.Fatalf("%s still accepts the revoked token 30 s on", a.name)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Refused before the cache entry would have expired: the API
		// forgot it because it was told, not because time passed.
		if after := time.Since(trusted); after >= 5*time.Second {
			t.Errorf("%s refused the revoked token only %s after it trusted it: as late as its cache allows", a.name, after.Round(time.Millisecond))
		} else {
			t.Logf("%s refused the revoked token %s after it trusted it (its cache would have kept it 5 s)", a.name, after.Round(time.Millisecond))
		}
	}
}
