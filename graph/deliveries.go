package graph

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/issuegraph/issuegraph/subscriptions"
)

// Each event a subscription delivers gets a span of its own, a child of the
// subscription's context (the WebSocket's or SSE request's span) with a
// link to the span of the mutation that recorded the event, which lives in
// another trace. The span starts when delivery begins (the membership
// check and loading the event's objects) and ends once gqlgen has resolved
// the event's selection.
//
// gqlgen resolves an event with the context that its response middleware
// passes down, and that context is fixed before the event is taken from the
// subscription's channel, so the span cannot travel inside the event.
// Instead the subscription hands each event's span, just before the event
// itself, to the response middleware through a handoff that the operation
// middleware put in the operation's context (PrepareDelivery,
// AwaitDelivery); the middleware resolves the event under that span and
// ends it.

// WithTracing traces event deliveries through tp; without it they are not
// traced.
func WithTracing(tp trace.TracerProvider) Option {
	return func(r *Resolver) { r.tracer = tp.Tracer("github.com/issuegraph/issuegraph/graph") }
}

// handoff carries the spans of one subscription's events from the
// goroutine that delivers them to the transport's goroutine that resolves
// them. The zero of a *handoff (nil) hands nothing over.
type handoff struct {
	spans chan trace.Span // holds one: the next response's span
	armed atomic.Bool     // a delivering goroutine will feed spans
	done  chan struct{}   // closed once it feeds no more
	once  sync.Once
}

type handoffKey struct{}

// PrepareDelivery readies a subscription operation's context for
// AwaitDelivery. It must wrap the operation, so both the subscription's
// resolver and the response middleware see the same handoff.
func PrepareDelivery(ctx context.Context) context.Context {
	// One span may wait: a paced subscription (Pacer) hands its span
	// over before the transport asks for the event, on the same goroutine.
	return context.WithValue(ctx, handoffKey{}, &handoff{spans: make(chan trace.Span, 1), done: make(chan struct{})})
}

func handoffFrom(ctx context.Context) *handoff {
	h, _ := ctx.Value(handoffKey{}).(*handoff)
	return h
}

// AwaitDelivery waits until the subscription of ctx is about to deliver its
// next event and returns that event's span: the caller resolves the next
// response under it and then ends it. It returns false at once when the
// subscription delivers no traced events (it did not start, or ctx was not
// prepared), and false when the subscription ends or ctx is done; the
// caller then resolves the next response as usual.
func AwaitDelivery(ctx context.Context) (trace.Span, bool) {
	h := handoffFrom(ctx)
	if h == nil || !h.armed.Load() {
		return nil, false
	}
	// A span already handed over belongs to the next response, even when
	// the subscription has ended since.
	select {
	case s := <-h.spans:
		return s, true
	default:
	}
	select {
	case s := <-h.spans:
		return s, true
	case <-h.done:
		return nil, false
	case <-ctx.Done():
		return nil, false
	}
}

// arm tells AwaitDelivery that spans will come; it is called before the
// subscription's channel is returned to gqlgen, so before the first
// response is awaited.
func (h *handoff) arm() {
	if h != nil {
		h.armed.Store(true)
	}
}

// give hands span over. It fails when ctx ends or timeout fires before the
// transport asks for the next response; the caller still owns span then.
func (h *handoff) give(ctx context.Context, span trace.Span, timeout <-chan time.Time) error {
	select {
	case h.spans <- span:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout:
		return errSlowClient
	}
}

// close stops AwaitDelivery from waiting; it must run before the
// subscription's channel delivers its last response or closes.
func (h *handoff) close() {
	if h != nil {
		h.once.Do(func() { close(h.done) })
	}
}

// deliverySpans starts the spans of entries of stream, children of ctx.
func (r *Resolver) deliverySpans(ctx context.Context, stream subscriptions.Stream, entries []subscriptions.Entry) []trace.Span {
	field, opName := "subscription", ""
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		field = fc.Field.Name
	}
	if graphql.HasOperationContext(ctx) {
		op := graphql.GetOperationContext(ctx)
		opName = op.OperationName
		if opName == "" && op.Operation != nil {
			opName = op.Operation.Name
		}
	}
	spans := make([]trace.Span, len(entries))
	for i, e := range entries {
		_, span := r.tracer.Start(ctx, "deliver "+field, trace.WithSpanKind(trace.SpanKindConsumer))
		spans[i] = span
		if !span.IsRecording() {
			continue // tracing is off or this trace is not sampled: nothing to describe
		}
		span.SetAttributes(
			attribute.String("graphql.operation.type", "subscription"),
			attribute.String("graphql.operation.name", opName),
			attribute.String("issuegraph.event.type", e.Type),
			attribute.String("issuegraph.event.stream", stream.Name()),
			attribute.Int64("issuegraph.event.position", e.Position),
			attribute.Bool("issuegraph.event.from_log", e.FromLog),
		)
		if sc := mutationSpan(e); sc.IsValid() {
			span.AddLink(trace.Link{SpanContext: sc})
		}
	}
	return spans
}

// mutationSpan is the span context of the mutation that recorded e.
func mutationSpan(e subscriptions.Entry) trace.SpanContext {
	if e.TraceParent == "" {
		return trace.SpanContext{}
	}
	carrier := propagation.MapCarrier{"traceparent": e.TraceParent}
	if e.TraceState != "" {
		carrier["tracestate"] = e.TraceState
	}
	return trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), carrier))
}

// endSpans ends spans that were not handed over, marking them failed with
// err when there is one.
func endSpans(spans []trace.Span, err error) {
	for _, s := range spans {
		if err != nil {
			s.RecordError(err)
			s.SetStatus(codes.Error, "delivery failed")
		}
		s.End()
	}
}
