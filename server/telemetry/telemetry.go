package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/attribute"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Telemetry holds an instance's providers. It is passed to whatever
// instruments itself; nothing is registered globally.
type Telemetry struct {
	Tracer     trace.TracerProvider
	Meter      metric.MeterProvider
	Propagator propagation.TextMapPropagator
	// Metrics serves the Prometheus text format.
	Metrics  http.Handler
	shutdown []func(context.Context) error
}

// Options configure Setup.
type Options struct {
	ServiceName string
	Version     string
	Environment string
	// PrintSpans writes every span to stderr (development).
	PrintSpans bool
	// SpanExporter, when set, receives every span synchronously (tests use
	// an in-memory exporter). It wins over the environment.
	SpanExporter sdktrace.SpanExporter
	// BatchExporter, when set, receives spans in batches as a collector
	// exporter would (benchmarks). It wins over the environment.
	BatchExporter sdktrace.SpanExporter
	// Getenv reads OTEL_* variables; os.Getenv when nil.
	Getenv func(string) string
}

// tracesConfigured reports whether the environment asks for trace export:
// OTEL_TRACES_EXPORTER other than "none", or an OTLP endpoint.
func tracesConfigured(getenv func(string) string) bool {
	if e := getenv("OTEL_TRACES_EXPORTER"); e != "" {
		return e != "none"
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup builds the providers. Close flushes and stops them.
func Setup(ctx context.Context, o Options) (*Telemetry, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(o.ServiceName),
		semconv.ServiceVersion(o.Version),
		attribute.String("deployment.environment.name", o.Environment),
	))
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	t := &Telemetry{Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}

	// Traces.
	var exporters []sdktrace.TracerProviderOption
	switch {
	case o.SpanExporter != nil:
		exporters = append(exporters, sdktrace.WithSyncer(o.SpanExporter))
	case o.BatchExporter != nil:
		exporters = append(exporters, sdktrace.WithBatcher(o.BatchExporter))
	case o.PrintSpans:
		exp, err := stdouttrace.New(stdouttrace.WithWriter(os.Stderr))
		if err != nil {
			return nil, fmt.Errorf("stdout span exporter: %w", err)
		}
		exporters = append(exporters, sdktrace.WithBatcher(exp))
	case tracesConfigured(getenv):
		exp, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return nil, fmt.Errorf("span exporter from OTEL_* settings: %w", err)
		}
		exporters = append(exporters, sdktrace.WithBatcher(exp))
	}
	if len(exporters) == 0 {
		t.Tracer = noop.NewTracerProvider()
	} else {
		tp := sdktrace.NewTracerProvider(append(exporters, sdktrace.WithResource(res))...)
		t.Tracer = tp
		t.shutdown = append(t.shutdown, tp.Shutdown)
	}

	// Metrics: a private Prometheus registry (no global state), plus OTLP
	// when OTEL_METRICS_EXPORTER asks for it.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	promReader, err := promexporter.New(promexporter.WithRegisterer(reg), promexporter.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	readers := []sdkmetric.Option{sdkmetric.WithReader(promReader), sdkmetric.WithResource(res)}
	if e := getenv("OTEL_METRICS_EXPORTER"); e != "" && e != "none" && e != "prometheus" {
		r, err := autoexport.NewMetricReader(ctx)
		if err != nil {
			return nil, fmt.Errorf("metric exporter from OTEL_* settings: %w", err)
		}
		readers = append(readers, sdkmetric.WithReader(r))
	}
	mp := sdkmetric.NewMeterProvider(readers...)
	t.Meter = mp
	t.shutdown = append(t.shutdown, mp.Shutdown)
	t.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return t, nil
}

// Close flushes pending spans and metrics.
func (t *Telemetry) Close(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

// Noop returns providers that record nothing, for servers built without
// telemetry (most tests).
func Noop() *Telemetry {
	return &Telemetry{
		Tracer:     noop.NewTracerProvider(),
		Meter:      metricnoop.NewMeterProvider(),
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Metrics:    http.NotFoundHandler(),
	}
}
