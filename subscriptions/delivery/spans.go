package delivery

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

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
// itself, to the response middleware through the operation's Handoff
// (TraceEvents, Await); the middleware resolves the event under that span
// and ends it.

// spanNames are what a subscription's event spans are called: the same
// for every event, so worked out once, when the subscription starts.
type spanNames struct {
	span      string // "deliver projectEvents"
	operation string // the operation's name, if any
}

func spanNamesOf(ctx context.Context) spanNames {
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
	return spanNames{span: "deliver " + field, operation: opName}
}

// spans starts the spans of entries of stream, children of ctx.
func (d *Deliverer) spans(ctx context.Context, names spanNames, stream subscriptions.Stream, entries []subscriptions.Entry) []trace.Span {
	spans := make([]trace.Span, len(entries))
	if d.tracer == nil {
		// Not traced: a span that records nothing, without asking a no-op
		// tracer for one (which looks for the parent span through the
		// whole context, per subscriber and event).
		for i := range spans {
			spans[i] = noop.Span{}
		}
		return spans
	}
	for i, e := range entries {
		_, span := d.tracer.Start(ctx, names.span, d.spanStart...)
		spans[i] = span
		if !span.IsRecording() {
			continue // tracing is off or this trace is not sampled: nothing to describe
		}
		span.SetAttributes(
			attribute.String("graphql.operation.type", "subscription"),
			attribute.String("graphql.operation.name", names.operation),
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
