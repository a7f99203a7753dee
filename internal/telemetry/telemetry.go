// Package telemetry is what an operator watches opsflow with:
//
//   - Prometheus metrics on their own listen address (--metrics-addr,
//     OPSFLOW_METRICS_ADDR; off unless set): HTTP RED per route, the
//     Temporal SDK's metrics through its OpenTelemetry contrib and the
//     OpenTelemetry Prometheus exporter, and business gauges read from
//     PostgreSQL and Temporal when scraped (business.go);
//   - OpenTelemetry traces through the API (otelhttp as Echo middleware)
//     and across Temporal (the SDK's tracing interceptor, on the client
//     and so on every worker made from it), sent by OTLP over HTTP when
//     --otlp-endpoint (OTEL_EXPORTER_OTLP_ENDPOINT) is set, off otherwise;
//   - the trace ID on every log line written with a context (LogHandler).
//
// A separate address rather than a route of the API: /metrics then never
// faces the API's clients (no token to manage, nothing to leak through a
// public load balancer), and a worker, which has no HTTP server, serves
// the same way.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// Options configures New.
type Options struct {
	// Service names the process in traces (service.name) unless
	// OTEL_SERVICE_NAME says otherwise: opsflow-api, opsflow-worker.
	Service string
	// MetricsAddr is where Listen serves Prometheus ("" : no endpoint;
	// the metrics are still collected, for tests).
	MetricsAddr string
	// OTLPEndpoint is the base URL of an OTLP/HTTP receiver
	// (http://collector:4318); "" turns tracing off. The exporter also
	// reads the other OTEL_EXPORTER_OTLP_* variables (headers, timeout).
	OTLPEndpoint string
	// SpanExporter replaces the OTLP exporter (tests: an in-memory one).
	SpanExporter sdktrace.SpanExporter
	Logger       *slog.Logger
}

// Telemetry holds a process's metrics registry and, when tracing is on,
// its tracer provider.
type Telemetry struct {
	opts     Options
	registry *prometheus.Registry
	meters   *sdkmetric.MeterProvider
	tracers  *sdktrace.TracerProvider // nil when tracing is off
	http     *httpMetrics
	log      *slog.Logger
}

// propagator carries the trace context (and baggage) in HTTP headers and
// in Temporal's workflow and activity headers alike.
var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// latencyBuckets are for the SDK's timers, recorded in seconds: the
// OpenTelemetry default buckets (0–10000) are meant for milliseconds and
// would put every Temporal call in the first one.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// New sets up metrics (always) and tracing (when configured).
func New(ctx context.Context, opts Options) (*Telemetry, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	t := &Telemetry{opts: opts, registry: prometheus.NewRegistry(), log: opts.Logger}
	t.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	t.http = newHTTPMetrics(t.registry)

	// The SDK's metrics: its contrib handler records into an OpenTelemetry
	// meter, which the Prometheus exporter serves from our registry.
	// Prometheus-style names, explicitly (the exporter's default depends
	// on a global of prometheus/common and is announced to change).
	exp, err := otelprom.New(otelprom.WithRegisterer(t.registry), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo(),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	t.meters = sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(exp),
		sdkmetric.WithView(sdkmetric.NewView(
			sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram, Unit: "s"},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: latencyBuckets}},
		)),
	)

	if opts.OTLPEndpoint != "" || opts.SpanExporter != nil {
		if err := t.startTracing(ctx); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *Telemetry) startTracing(ctx context.Context) error {
	exp := t.opts.SpanExporter
	if exp == nil {
		var err error
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(t.opts.OTLPEndpoint+"/v1/traces"))
		if err != nil {
			return fmt.Errorf("OTLP trace exporter for %s: %w", t.opts.OTLPEndpoint, err)
		}
	}
	// Later detectors win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override the default service name.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(t.opts.Service)),
		resource.WithFromEnv(),
	)
	if err != nil {
		return fmt.Errorf("trace resource: %w", err)
	}
	// The sampler honours OTEL_TRACES_SAMPLER; by default every trace is
	// kept (parent-based, always on): opsflow's volume is people's steps.
	t.tracers = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return nil
}

// Tracing reports whether traces are exported.
func (t *Telemetry) Tracing() bool { return t.tracers != nil }

// TracerProvider is the provider spans come from (a no-op one when tracing
// is off).
func (t *Telemetry) TracerProvider() trace.TracerProvider {
	if t.tracers == nil {
		return noop.NewTracerProvider()
	}
	return t.tracers
}

// Registry is the Prometheus registry Serve exposes; add collectors to it.
func (t *Telemetry) Registry() *prometheus.Registry { return t.registry }

// TemporalClient sets the SDK's metrics handler and, when tracing is on,
// its tracing interceptor on o: the interceptor also serves every worker
// made from the client, so spans continue from the API's request through
// the workflow's update handler to its activities.
func (t *Telemetry) TemporalClient(o *client.Options) error {
	o.MetricsHandler = temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter: t.meters.Meter("go.temporal.io/sdk"),
		// Counters as Prometheus counters (temporal_request_total), so
		// rate() and increase() apply; the default up-down counters come
		// out as gauges.
		UseMonotonicCounters: true,
	})
	if t.tracers == nil {
		return nil
	}
	ti, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		Tracer:            t.tracers.Tracer("go.temporal.io/sdk"),
		TextMapPropagator: propagator,
	})
	if err != nil {
		return fmt.Errorf("temporal tracing interceptor: %w", err)
	}
	o.Interceptors = append(o.Interceptors, ti.(interceptor.ClientInterceptor))
	return nil
}

// Listen binds the metrics address now, so a port that cannot be bound
// fails the start (a process asked for metrics that silently has none is
// worse than one that does not start), and returns a function that serves
// /metrics on it until ctx ends. Without an address, serve returns at once.
func (t *Telemetry) Listen() (serve func(context.Context) error, err error) {
	if t.opts.MetricsAddr == "" {
		return func(context.Context) error { return nil }, nil
	}
	l, err := net.Listen("tcp", t.opts.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", t.opts.MetricsAddr, err)
	}
	t.log.Info("metrics listening", "addr", l.Addr().String())
	return func(ctx context.Context) error { return t.serve(ctx, l) }, nil
}

func (t *Telemetry) serve(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", t.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// Handler serves the registry in Prometheus's text format. Errors of one
// collector are served beside the rest, not instead of them.
func (t *Telemetry) Handler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// ForceFlush exports the spans buffered so far.
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	if t.tracers == nil {
		return nil
	}
	return t.tracers.ForceFlush(ctx)
}

// Shutdown flushes spans still buffered (bounded by ctx).
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	if t.tracers != nil {
		errs = append(errs, t.tracers.Shutdown(ctx))
	}
	errs = append(errs, t.meters.Shutdown(ctx))
	return errors.Join(errs...)
}
