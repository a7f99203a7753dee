package telemetry

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// httpMetrics are the API's RED metrics: one histogram whose _count is
// the request rate, whose status_class="5xx" share is the error rate and
// whose buckets are the duration, per method and route template (never
// the raw path: /v1/capas/capa-123 and /v1/capas/capa-456 are one route).
type httpMetrics struct {
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// unmatchedRoute labels requests no route matched, so scanners probing
// random paths cannot mint a series per path.
const unmatchedRoute = "unmatched"

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "opsflow_http_request_duration_seconds",
			Help: "HTTP requests to the API by method, route template and status class (1xx–5xx), with their duration.",
			// Steps wait for a workflow update: tens of milliseconds
			// normally, up to the 15 s request deadline when Temporal or
			// PostgreSQL is slow.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30},
		}, []string{"method", "route", "status_class"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "opsflow_http_requests_in_flight",
			Help: "HTTP requests the API is serving now.",
		}),
	}
	reg.MustRegister(m.duration, m.inFlight)
	return m
}

// Middleware returns the API's telemetry middleware, outermost first: the
// trace of a request (when tracing is on), then its RED metrics. Pass it
// as server.Config.Middleware.
func (t *Telemetry) Middleware() []echo.MiddlewareFunc {
	var mw []echo.MiddlewareFunc
	if t.tracers != nil {
		mw = append(mw,
			echo.WrapMiddleware(otelhttp.NewMiddleware("opsflow-api",
				otelhttp.WithTracerProvider(t.tracers),
				otelhttp.WithPropagators(propagator),
				// The RED metrics below are the API's; otelhttp's own
				// would be a second, differently labelled copy.
				otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
				// Probes every few seconds are noise in a trace store.
				otelhttp.WithFilter(func(r *http.Request) bool {
					return r.URL.Path != "/healthz" && r.URL.Path != "/readyz"
				}),
			)),
			nameSpanByRoute,
		)
	}
	return append(mw, t.http.middleware)
}

// nameSpanByRoute names the request's span after its route template once
// Echo has routed it (otelhttp runs before routing and cannot know it).
func nameSpanByRoute(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if span := trace.SpanFromContext(c.Request().Context()); span.IsRecording() {
			route := routeOf(c)
			span.SetName(c.Request().Method + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
		}
		return next(c)
	}
}

func (m *httpMetrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		if err := next(c); err != nil {
			c.Error(err) // commit the response, so the status below is the one sent
		}
		m.duration.WithLabelValues(methodOf(c.Request()), routeOf(c), statusClass(c.Response().Status)).
			Observe(time.Since(start).Seconds())
		return nil
	}
}

// routeOf is the route template Echo matched, e.g. /v1/capas/:id/triage
// (also for a 405: the template whose methods did not match); Echo leaves
// it empty when no route matched.
func routeOf(c echo.Context) string {
	switch c.Path() {
	case "", "/v1/*": // no route, or the API group's catch-all (its 404)
		return unmatchedRoute
	case "/*":
		// The catch-all the web app is mounted on: its pages, one label
		// (their paths hold record IDs), and unknown /v1 paths, which are
		// the API's 404s.
		if p := c.Request().URL.Path; p == "/v1" || strings.HasPrefix(p, "/v1/") {
			return unmatchedRoute
		}
		return webRoute
	}
	return c.Path()
}

// webRoute labels the web app's pages.
const webRoute = "web"

// methodOf caps the method label at the methods the API serves.
func methodOf(r *http.Request) string {
	switch r.Method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions:
		return r.Method
	}
	return "other"
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "unknown"
	}
	return strconv.Itoa(code/100) + "xx"
}
