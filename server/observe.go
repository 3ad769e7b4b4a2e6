package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/subscriptions/delivery"
)

// operationTelemetry is a gqlgen extension that traces and measures each
// GraphQL operation: a span named like "query BoardView" with the
// OpenTelemetry GraphQL attributes (the document as a hash, never its
// text, which may carry literals), and the operation counter, duration
// and statement histograms. Resolver spans are resolverSpans'.
type operationTelemetry struct {
	tracer     trace.Tracer
	count      metric.Int64Counter
	duration   metric.Float64Histogram
	statements metric.Int64Histogram
}

var (
	_ graphql.HandlerExtension     = (*operationTelemetry)(nil)
	_ graphql.OperationInterceptor = (*operationTelemetry)(nil)
	_ graphql.ResponseInterceptor  = (*operationTelemetry)(nil)
)

func newOperationTelemetry(tp trace.TracerProvider, mp metric.MeterProvider) (*operationTelemetry, error) {
	meter := mp.Meter("github.com/issuegraph/issuegraph/server")
	count, err := meter.Int64Counter("graphql.operations",
		metric.WithDescription("GraphQL operations by type, name and outcome."), metric.WithUnit("{operation}"))
	if err != nil {
		return nil, err
	}
	duration, err := meter.Float64Histogram("graphql.operation.duration",
		metric.WithDescription("Time to execute a GraphQL operation."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 5))
	if err != nil {
		return nil, err
	}
	statements, err := meter.Int64Histogram("graphql.operation.sql_statements",
		metric.WithDescription("SQL statements one GraphQL operation ran."), metric.WithUnit("{statement}"),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
	if err != nil {
		return nil, err
	}
	return &operationTelemetry{tracer: tp.Tracer("github.com/issuegraph/issuegraph/server"), count: count, duration: duration, statements: statements}, nil
}

func (o *operationTelemetry) ExtensionName() string { return "OperationTelemetry" }

func (o *operationTelemetry) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation lets a subscription hand the span of each event it
// delivers to InterceptResponse (subscriptions/delivery/handoff.go).
func (o *operationTelemetry) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	op := graphql.GetOperationContext(ctx)
	op.Stats.SetExtension(operationLabelsKey, newOperationLabels(op))
	if op.Operation != nil && op.Operation.Operation == ast.Subscription {
		ctx = delivery.TraceEvents(ctx)
		// The subscription's resolver (membership and cursor checks in
		// the database) runs on a short-lived goroutine: the one gqlgen
		// started for the operation then waits for events for the
		// subscription's whole life, with a stack that never grew.
		return onShortGoroutine(func() graphql.ResponseHandler { return next(ctx) })
	}
	return next(ctx)
}

// onShortGoroutine returns f(), run on a goroutine of its own, so the deep
// work in f does not grow the stack of a goroutine that stays parked for a
// long time afterwards (the runtime only halves a parked stack at each
// garbage collection). A panic in f is raised again in the caller, where
// gqlgen recovers it as usual.
func onShortGoroutine[T any](f func() T) T {
	var (
		v        T
		panicked any
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { panicked = recover() }()
		v = f()
	}()
	<-done
	if panicked != nil {
		panic(panicked)
	}
	return v
}

// InterceptResponse wraps the execution of one operation, or the
// resolution of one event a subscription delivers.
//
// A subscription's goroutine stays parked in here between events, for as
// long as the subscription lives: this frame is kept small (the work is in
// observe), so the parked stack fits the Go runtime's smallest size that
// a goroutine which once ran a resolver shrinks back to (4 KiB). Each
// event is resolved on this goroutine, not a short-lived one: a fresh
// stack per event and subscriber, grown again each time, cost 5–10 ms of
// delivery latency at 1,000 subscribers, and the stack it grows to is
// halved back at the next garbage collections.
func (o *operationTelemetry) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if graphql.HasOperationContext(ctx) && isSubscription(graphql.GetOperationContext(ctx)) {
		// Each response of a subscription is one delivered event. Waiting
		// for it first keeps the time between events out of the span and
		// the duration histogram; the event's own span, started by the
		// subscription, is then the one its fields are resolved under.
		if s, ok := delivery.Await(ctx); ok {
			return o.observe(trace.ContextWithSpan(ctx, s), s, next)
		}
	}
	return o.observe(ctx, nil, next)
}

func isSubscription(op *graphql.OperationContext) bool {
	return op.Operation != nil && op.Operation.Operation == ast.Subscription
}

// operationLabels are the names and metric attributes of one operation,
// worked out once (InterceptOperation) for all its responses: a
// subscription delivers thousands of events with the same ones, and
// building the attribute sets afresh was a sixth of an event's telemetry.
type operationLabels struct {
	typ, name string
	// The options of each measurement, as slices made once: a variadic
	// call through the metric interfaces would allocate its arguments'
	// array every time.
	okAdd, failedAdd       []metric.AddOption    // graphql.operations, by outcome
	okRecord, failedRecord []metric.RecordOption // the duration, by outcome
	statements             []metric.RecordOption // graphql.operation.sql_statements
}

const operationLabelsKey = "issuegraph.operationLabels"

func newOperationLabels(op *graphql.OperationContext) *operationLabels {
	l := &operationLabels{typ: "unknown", name: op.OperationName}
	if op.Operation != nil {
		l.typ = string(op.Operation.Operation)
		if l.name == "" {
			l.name = op.Operation.Name
		}
	}
	typ, name := attribute.String("graphql.operation.type", l.typ), attribute.String("graphql.operation.name", l.name)
	ok := metric.WithAttributeSet(attribute.NewSet(typ, name, attribute.String("outcome", "ok")))
	failed := metric.WithAttributeSet(attribute.NewSet(typ, name, attribute.String("outcome", "error")))
	l.okAdd, l.okRecord = []metric.AddOption{ok}, []metric.RecordOption{ok}
	l.failedAdd, l.failedRecord = []metric.AddOption{failed}, []metric.RecordOption{failed}
	l.statements = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(typ, name))}
	return l
}

// labelsOf returns op's labels, made by InterceptOperation (or now, for an
// operation that did not pass there).
func labelsOf(op *graphql.OperationContext) *operationLabels {
	if l, ok := op.Stats.GetExtension(operationLabelsKey).(*operationLabels); ok {
		return l
	}
	return newOperationLabels(op)
}

// observe times, counts and traces one response under span, or under a
// span of its own when span is nil.
func (o *operationTelemetry) observe(ctx context.Context, span trace.Span, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	op := graphql.GetOperationContext(ctx)
	labels := labelsOf(op)
	typ, name := labels.typ, labels.name
	if span == nil {
		spanName := typ
		if name != "" {
			spanName += " " + name
		}
		ctx, span = o.tracer.Start(ctx, spanName, trace.WithAttributes(
			attribute.String("graphql.operation.type", typ),
			attribute.String("graphql.operation.name", name),
		))
		if span.IsRecording() {
			// Only for a span that is kept: hashing the document costs
			// microseconds on every operation otherwise.
			sum := sha256.Sum256([]byte(op.RawQuery))
			span.SetAttributes(attribute.String("graphql.document.sha256", hex.EncodeToString(sum[:])))
		}
	}
	start := time.Now()
	resp := next(ctx)
	add, record := labels.okAdd, labels.okRecord
	if resp != nil && len(resp.Errors) > 0 {
		add, record = labels.failedAdd, labels.failedRecord
		codes := make([]string, 0, len(resp.Errors))
		for _, e := range resp.Errors {
			if c, ok := e.Extensions["code"].(string); ok && !slices.Contains(codes, c) {
				codes = append(codes, c)
			}
		}
		span.SetAttributes(attribute.StringSlice("graphql.error.codes", codes))
		span.SetStatus(errorStatus, resp.Errors[0].Message)
	}
	if c := database.StatementCounterFrom(ctx); c != nil {
		n := c.Count()
		if span.IsRecording() {
			span.SetAttributes(attribute.Int64("db.statements", n))
		}
		o.statements.Record(ctx, n, labels.statements...)
	}
	span.End()
	o.count.Add(ctx, 1, add...)
	o.duration.Record(ctx, time.Since(start).Seconds(), record...)
	return resp
}

// errorStatus marks a span as failed.
const errorStatus = codes.Error

// resolverSpans is a gqlgen extension that gives each resolver that reads
// data (one returning an object or a list) a span under its operation's.
// It is installed only when spans are exported: a field interceptor runs
// for every field of every response, thousands in a deep query.
type resolverSpans struct {
	schema *ast.Schema // set by Validate
	tracer trace.Tracer
}

var _ graphql.FieldInterceptor = (*resolverSpans)(nil)

func newResolverSpans(tp trace.TracerProvider) *resolverSpans {
	return &resolverSpans{tracer: tp.Tracer("github.com/issuegraph/issuegraph/server")}
}

// tracesExported reports whether tp records spans at all.
func tracesExported(tp trace.TracerProvider) bool {
	_, off := tp.(noop.TracerProvider)
	return !off
}

func (o *resolverSpans) ExtensionName() string { return "ResolverSpans" }

// Validate keeps the schema, to tell leaf fields from object fields.
func (o *resolverSpans) Validate(es graphql.ExecutableSchema) error {
	o.schema = es.Schema()
	return nil
}

// InterceptField traces resolvers that read data, in operations whose
// span is kept (sampled).
func (o *resolverSpans) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !fc.IsResolver || fc.Field.Definition == nil || o.isLeaf(fc) {
		return next(ctx)
	}
	if !trace.SpanContextFromContext(ctx).IsSampled() {
		// Not sampled: a child span would not be kept either, and each
		// one adds a context layer that every lookup below walks through.
		// (The span in ctx may be an ended parent resolver's: it still
		// carries the sampling decision.)
		return next(ctx)
	}
	ctx, span := o.tracer.Start(ctx, fc.Object+"."+fc.Field.Name,
		trace.WithAttributes(attribute.String("graphql.field.path", fc.Path().String())))
	defer span.End()
	res, err := next(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "resolver failed")
	}
	return res, err
}

// isLeaf reports whether the field returns a scalar or an enum (possibly
// as a list): such resolvers compute, they do not read.
func (o *resolverSpans) isLeaf(fc *graphql.FieldContext) bool {
	t := fc.Field.Definition.Type
	for t.Elem != nil {
		t = t.Elem
	}
	def := o.schema.Types[t.NamedType]
	return def == nil || def.Kind == ast.Scalar || def.Kind == ast.Enum
}
