package realtime

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/server/realtime/wstransport"
	"github.com/issuegraph/issuegraph/subscriptions/delivery"
)

// newWSTransport is the WebSocket transport (server/realtime/wstransport)
// with the instance's settings, authentication, accounting and error rules.
func (rt *Realtime) newWSTransport() *wstransport.Transport {
	return wstransport.New(wstransport.Options{
		OriginPatterns:   originHosts(rt.cfg.CORSOrigins),
		InitTimeout:      rt.cfg.WSInitTimeout,
		MaxSubscriptions: rt.cfg.WSMaxSubscriptions,
		ReadLimit:        rt.cfg.BodyLimit,
		WriteTimeout:     rt.cfg.SubscriptionSendTimeout,
		Init:             rt.initConnection,
		Pace:             func(ctx context.Context, p wstransport.Pacer) context.Context { return delivery.WithPacer(ctx, p) },
		Retryable:        retryableEnd,
		Open:             rt.openConnection,
		Recover:          rt.opts.Recover,
		Log:              rt.log,
	})
}

// openConnection counts a WebSocket by subprotocol
// (websocket_connections_active) until it closes.
func (rt *Realtime) openConnection(ctx context.Context, subprotocol string) (closed func()) {
	counted := metric.WithAttributeSet(attribute.NewSet(attribute.String("subprotocol", subprotocol)))
	rt.connections.Add(ctx, 1, counted)
	return func() {
		rt.connections.Add(ctx, -1, counted)
	}
}

// retryableEnd reports whether a subscription's response ends it for a
// reason the client should retry: no data and an UNAVAILABLE error (the
// server is going away, the broker cannot take the subscription, the
// client read too slowly). The transport then closes the connection with
// 1013 instead of sending it and completing the subscription.
func retryableEnd(resp *graphql.Response) bool {
	if len(resp.Data) > 0 && !bytes.Equal(resp.Data, []byte("null")) {
		return false
	}
	for _, e := range resp.Errors {
		if e.Extensions["code"] == string(graph.CodeUnavailable) {
			return true
		}
	}
	return false
}

// SubscriptionErrors makes an event's errors follow the GraphQL spec:
// gqlgen resolves each event of a subscription without the subscription
// field in its path, so an error inside the event reads ["cursor"], and a
// non-null field's error leaves {"projectEvents": null} where the spec
// wants data to be null. The root field's alias is put in front of each
// path, and a null root field makes data null.
//
// It is a gqlgen response interceptor (handler.Server.AroundResponses),
// for the WebSocket and SSE transports alike.
func SubscriptionErrors(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || len(resp.Errors) == 0 || !graphql.HasOperationContext(ctx) {
		return resp
	}
	op := graphql.GetOperationContext(ctx)
	if !isSubscription(op) || len(op.Operation.SelectionSet) != 1 {
		return resp
	}
	field, ok := op.Operation.SelectionSet[0].(*ast.Field)
	if !ok {
		return resp
	}
	alias := field.Alias
	if alias == "" {
		alias = field.Name
	}
	for _, e := range resp.Errors {
		if len(e.Path) == 0 {
			continue
		}
		if name, ok := e.Path[0].(ast.PathName); ok && string(name) == alias {
			continue
		}
		e.Path = append(ast.Path{ast.PathName(alias)}, e.Path...)
	}
	if bytes.Equal(bytes.ReplaceAll(resp.Data, []byte(" "), nil), []byte(`{"`+alias+`":null}`)) {
		resp.Data = nil
	}
	return resp
}

// Buffer sizes of a WebSocket's connection. coder/websocket keeps the
// reader and writer the hijack hands it for the connection's whole life;
// net/http's are 4 KiB each. Clients send a few small messages (init,
// subscribe, pong) and events are a few hundred bytes; a larger message is
// read or written past the buffer, not cut.
const (
	wsReadBuffer  = 512
	wsWriteBuffer = 1024
)

// DetachWebSockets gives each WebSocket upgrade small buffers in place of
// net/http's 4 KiB reader and writer, which coder/websocket would keep for
// the connection's whole life (about 8 KiB per idle subscriber). The
// middleware chain returns once the connection is hijacked (wstransport
// serves it on a goroutine of its own), so net/http's goroutine, its
// response and its headers are let go of too.
func DetachWebSockets(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&detachedWriter{w: w}, r)
	})
}

// detachedWriter passes a WebSocket upgrade's response through to net/http
// until the hijack, then lets go of it: nothing may write to a hijacked
// connection's response, and keeping it would keep its buffers.
type detachedWriter struct {
	mu     sync.Mutex
	w      http.ResponseWriter // nil once hijacked
	header http.Header         // what Header returns after the hijack (set by Hijack)
}

func (d *detachedWriter) Header() http.Header {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w == nil {
		return d.header
	}
	return d.w.Header()
}

func (d *detachedWriter) Write(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w == nil {
		return 0, http.ErrHijacked
	}
	return d.w.Write(b)
}

func (d *detachedWriter) WriteHeader(code int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w != nil {
		d.w.WriteHeader(code)
	}
}

// Hijack takes the connection over from net/http and hands it on with
// small buffers (wsReadBuffer, wsWriteBuffer) in place of net/http's.
func (d *detachedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w == nil {
		return nil, nil, http.ErrHijacked
	}
	conn, brw, err := http.NewResponseController(d.w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// What the client sent right after its upgrade request may sit in
	// net/http's reader already. It must end up buffered in the new reader:
	// coder/websocket keeps what is buffered and reads the rest from conn.
	// Without any, the reader reads conn itself: one frame less under
	// every parked read loop (see wstransport).
	early, _ := brw.Reader.Peek(brw.Reader.Buffered())
	r := bufio.NewReaderSize(conn, wsReadBuffer)
	if len(early) > 0 {
		r = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn), max(wsReadBuffer, len(early)))
		if _, err := r.Peek(len(early)); err != nil {
			_ = conn.Close()
			return nil, nil, fmt.Errorf("buffering early WebSocket data: %w", err)
		}
	}
	// coder/websocket reads the chosen subprotocol back from the header
	// after the hijack; nothing else of it matters any more.
	const proto = "Sec-WebSocket-Protocol"
	d.header = http.Header{}
	if p := d.w.Header().Get(proto); p != "" {
		d.header.Set(proto, p)
	}
	d.w = nil
	return conn, bufio.NewReadWriter(r, bufio.NewWriterSize(conn, wsWriteBuffer)), nil
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func isSubscription(op *graphql.OperationContext) bool {
	return op.Operation != nil && op.Operation.Operation == ast.Subscription
}
