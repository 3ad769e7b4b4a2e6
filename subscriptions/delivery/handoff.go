package delivery

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"go.opentelemetry.io/otel/trace"

	"github.com/issuegraph/issuegraph/loaders"
)

// Handoff is the one meeting point between a subscription's delivering
// goroutine (Deliverer.Start) and the transport that resolves and writes
// its events. gqlgen resolves each event with the context its response
// middleware passes down, fixed before the event is taken from the
// subscription's channel, so what an event needs beside itself travels
// here, in the operation's context:
//
//   - pacing: a transport that offers a Pacer (WithPacer) resolves each
//     event on the delivering goroutine instead of parking a goroutine of
//     its own on the channel for the subscription's whole life;
//   - the event's span, when the operation is traced (TraceEvents): the
//     response middleware resolves the event under it (Await) and ends it;
//   - the loaders of the burst being delivered, which field resolvers find
//     through loaders.FromContext: loaders living as long as the
//     subscription would cache the first event's rows for every later one.
//
// The zero of a *Handoff (nil) hands nothing over: without one (tests of
// the schema alone) the transport reads the channel as usual.
type Handoff struct {
	pacer  Pacer           // nil: the transport reads the channel itself
	traced bool            // a response middleware takes each event's span
	spans  chan trace.Span // holds one: the next response's span
	armed  atomic.Bool     // a delivering goroutine will feed spans
	done   chan struct{}   // closed once it feeds no more
	once   sync.Once

	mu      sync.Mutex
	build   func() *loaders.Loaders // the current burst's, until a resolver asks
	current *loaders.Loaders

	// key names the subscription's responses, for sharing them with the
	// viewer's other subscriptions (ResponseKeyOf); set by Start.
	key    ResponseKey
	keyset bool
}

// ResponseKey names everything a subscription's response to an event
// depends on besides the event itself: the viewer, the operation (a
// document is parsed once and cached, so the same text is the same
// operation) and its variables. Nothing else in a subscription's context
// changes what it resolves to (the session does not, and API keys cannot
// subscribe). Subscriptions with equal keys that are delivered the same
// Event object may share its response (model.Event.SharedResponse).
type ResponseKey struct {
	user int64
	op   *ast.OperationDefinition
	vars string // the variables as JSON, keys sorted
}

// responseKeyOf is the key of the subscription operation of ctx; false
// when it has none (no operation, or variables that do not encode).
func responseKeyOf(ctx context.Context, userID int64) (ResponseKey, bool) {
	if !graphql.HasOperationContext(ctx) {
		return ResponseKey{}, false
	}
	op := graphql.GetOperationContext(ctx)
	if op.Operation == nil {
		return ResponseKey{}, false
	}
	vars, err := json.Marshal(op.Variables)
	if err != nil {
		return ResponseKey{}, false
	}
	return ResponseKey{user: userID, op: op.Operation, vars: string(vars)}, true
}

// ResponseKeyOf returns the response key of the subscription whose event
// is resolved under ctx; false when its responses are not to be shared.
func ResponseKeyOf(ctx context.Context) (ResponseKey, bool) {
	h := handoffFrom(ctx)
	if h == nil || !h.keyset {
		return ResponseKey{}, false
	}
	return h.key, true
}

// Pacer lets a transport resolve a subscription's events on the goroutine
// that delivers them. The subscription buffers one event in its channel
// and calls Paced once before its resolver returns, then Ready each time
// the channel holds one more thing to take: an event, or the channel's
// close. The transport takes exactly one response per Ready, on the
// caller's goroutine when nothing else is taking one, so the event is
// written by the time Ready returns. Without a Pacer (SSE) the transport
// reads the channel itself.
type Pacer interface {
	Paced()
	Ready()
}

type handoffKey struct{}

// Prepare readies a subscription operation's context for a Handoff; it is
// a no-op when ctx has one. It must wrap the operation, so the
// subscription's resolver and the response middleware see the same one.
func Prepare(ctx context.Context) context.Context {
	if handoffFrom(ctx) != nil {
		return ctx
	}
	// One span may wait: a paced subscription hands its span over before
	// the transport asks for the event, on the same goroutine.
	h := &Handoff{spans: make(chan trace.Span, 1), done: make(chan struct{})}
	return loaders.WithSource(context.WithValue(ctx, handoffKey{}, h), h)
}

// WithPacer makes the subscriptions started under ctx paced by p.
func WithPacer(ctx context.Context, p Pacer) context.Context {
	ctx = Prepare(ctx)
	handoffFrom(ctx).pacer = p
	return ctx
}

// TraceEvents makes the subscription of ctx hand each event's span to the
// caller's response middleware, which must call Await for every response.
func TraceEvents(ctx context.Context) context.Context {
	ctx = Prepare(ctx)
	handoffFrom(ctx).traced = true
	return ctx
}

func handoffFrom(ctx context.Context) *Handoff {
	h, _ := ctx.Value(handoffKey{}).(*Handoff)
	return h
}

// Await waits until the subscription of ctx is about to deliver its next
// event and returns that event's span: the caller resolves the next
// response under it and then ends it. It returns false at once when the
// subscription delivers no traced events (it did not start, or ctx was not
// prepared with TraceEvents), and false when the subscription ends or ctx
// is done; the caller then resolves the next response as usual.
func Await(ctx context.Context) (trace.Span, bool) {
	h := handoffFrom(ctx)
	if h == nil || !h.traced || !h.armed.Load() {
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

// paced reports whether a transport resolves events on the delivering
// goroutine; it tells the transport so (Paced).
func (h *Handoff) paced() bool {
	if h == nil || h.pacer == nil {
		return false
	}
	h.pacer.Paced()
	return true
}

// ready tells the pacer, when there is one, that one more response is
// ready to take.
func (h *Handoff) ready() {
	if h != nil && h.pacer != nil {
		h.pacer.Ready()
	}
}

// tracing reports whether spans are handed over.
func (h *Handoff) tracing() bool { return h != nil && h.traced }

// arm tells Await that spans will come; it is called before the
// subscription's channel is returned to gqlgen, so before the first
// response is awaited.
func (h *Handoff) arm() {
	if h != nil {
		h.armed.Store(true)
	}
}

// give hands span over. It fails when ctx ends or the deadline passes
// before the transport asks for the next response; the caller still owns
// span then.
func (h *Handoff) give(ctx context.Context, span trace.Span, deadline *sendDeadline) error {
	select {
	case h.spans <- span:
		return nil
	default:
	}
	select {
	case h.spans <- span:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-deadline.expired():
		return ErrSlowClient
	}
}

// close stops Await from waiting; it must run before the subscription's
// channel delivers its last response or closes.
func (h *Handoff) close() {
	if h != nil {
		h.once.Do(func() { close(h.done) })
	}
}

// setLoaders makes the loaders build returns (called once, when a
// resolver first asks) the loaders of the events sent from now on. An
// event still being resolved from the previous burst may pick them up
// too: they are newer than that event, so their rows are never older than
// the event. Most subscriptions select no nested edge, and thousands of
// them deliver every event: the loaders are built only when asked for.
func (h *Handoff) setLoaders(build func() *loaders.Loaders) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.build, h.current = build, nil
	h.mu.Unlock()
}

// Loaders returns the loaders of the burst being delivered, or nil before
// the first (loaders.Source).
func (h *Handoff) Loaders() *loaders.Loaders {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.current == nil && h.build != nil {
		h.current, h.build = h.build(), nil
	}
	return h.current
}
