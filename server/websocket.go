package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"runtime/debug"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/issuegraph/issuegraph/graph"
)

// Close codes graphql-transport-ws defines for a client's bad behaviour.
const (
	closeBadMessage       = 4400
	closeUnauthorized     = 4401
	closeInitTimeout      = 4408
	closeSubscriberExists = 4409
	closeTooManyInits     = 4429
)

const (
	protoTransportWS = "graphql-transport-ws"
	protoLegacyWS    = "graphql-ws"
)

// wsImplementation accepts WebSockets through gqlgen's coder/websocket
// adapter and wraps each connection in a wsConn, which enforces what
// gqlgen's transport leaves open: the graphql-transport-ws close codes, the
// init timeout, the per-connection subscription limit, and closing with
// 1001 on shutdown.
type wsImplementation struct {
	inner       transport.CoderWebsocketImplementation
	conns       *wsConns
	initTimeout time.Duration
	maxSubs     int
	// connections counts open WebSockets by subprotocol
	// (websocket_connections_active).
	connections metric.Int64UpDownCounter
}

var _ transport.WebsocketImplementation = (*wsImplementation)(nil)

func (i *wsImplementation) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	inner, err := i.inner.Accept(w, r, opts)
	if err != nil {
		return nil, err
	}
	// gqlgen keeps the request's headers for the connection's whole life
	// (for each operation's context; nothing here reads them): about 1 KiB
	// per subscriber. The handshake is done, so they go.
	r.Header = http.Header{}
	c := &wsConn{inner: inner, maxSubs: i.maxSubs, conns: i.conns, active: map[string]struct{}{}, errored: map[string]struct{}{}}
	// The connection counts from here until Close. gqlgen closes every
	// connection it gives up once it has read the init message (closing
	// the socket ends its read loop, which closes it); before that, it
	// gives up without Close only on a subprotocol it does not speak (it
	// offers coder/websocket only those it does) or an init payload it
	// cannot decode (check closes those first).
	proto := inner.Subprotocol()
	if proto == "" {
		proto = protoLegacyWS // what gqlgen speaks when the client names none
	}
	counted := metric.WithAttributeSet(attribute.NewSet(attribute.String("subprotocol", proto)))
	i.connections.Add(r.Context(), 1, counted)
	// Close also writes the access line, which waits for the connection
	// to end (wsTransport).
	ctx := context.WithoutCancel(r.Context()) // not r: it would keep the request alive
	ri := infoFrom(ctx)
	c.release = func() {
		i.connections.Add(ctx, -1, counted)
		ri.finish()
	}
	if !i.conns.add(c) {
		c.closeWith(closeGoingAway, "server shutting down")
		return c, nil
	}
	// Owned by the connection: stopped at the acknowledgement or in
	// Close, or fires once.
	c.mu.Lock()
	defer c.mu.Unlock()
	c.initTimer = time.AfterFunc(i.initTimeout, func() {
		c.mu.Lock()
		initialised := c.initSeen
		c.mu.Unlock()
		if !initialised {
			c.closeWith(closeInitTimeout, "Connection initialisation timeout")
		}
	})
	return c, nil
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

// detachWebSockets gives each WebSocket upgrade small buffers in place of
// net/http's 4 KiB reader and writer, which coder/websocket would keep for
// the connection's whole life (about 8 KiB per idle subscriber). The
// middleware chain returns once the connection is hijacked (wsTransport
// serves it on a goroutine of its own), so net/http's goroutine, its
// response and its headers are let go of too.
func detachWebSockets(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&detachedWriter{w: w}, r)
	})
}

// wsTransport is gqlgen's WebSocket transport, started so that what stays
// parked for a connection's whole life is a shallow stack: gqlgen's read
// loop over coder/websocket's reader, nothing above it. The Go runtime
// keeps a parked goroutine's stack at up to 4 times its depth, and that
// loop sits just under the 4 KiB of depth that an 8 KiB stack allows:
// under the ~25 handlers of the middleware chain, or even one frame with a
// few defers, each connection would keep 16 KiB.
//
// Do accepts the WebSocket on the request's goroutine, as gqlgen would,
// then runs gqlgen's transport on the accepted connection on a goroutine
// of its own (acceptedConn) and returns: the middleware chain ends at the
// upgrade (the request's span covers the handshake), while the access
// line still covers the whole connection (requestInfo.detach, written when
// the connection closes). What the chain put in the request's context
// (request info, viewer, span) stays: the connection runs on that context,
// minus its cancellation.
type wsTransport struct {
	transport.Websocket
	log *slog.Logger
}

var _ graphql.Transport = wsTransport{}

// wsSubprotocols are the subprotocols gqlgen's transport speaks.
var wsSubprotocols = []string{protoLegacyWS, protoTransportWS}

func (t wsTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	// net/http cancels the request's context when the handler returns;
	// the WebSocket ends by itself (the client goes, or shutdown closes it).
	r = r.WithContext(context.WithoutCancel(r.Context()))
	ri := infoFrom(r.Context())
	ri.detach()
	conn, err := t.Implementation.Accept(w, r, transport.WebsocketAcceptOptions{ResponseHeader: http.Header{}, Subprotocols: wsSubprotocols})
	if err != nil {
		ri.finish()
		t.log.DebugContext(r.Context(), "websocket: unable to upgrade", "error", err)
		transport.SendErrorf(w, http.StatusBadRequest, "unable to upgrade")
		return
	}
	ws := t.Websocket
	ws.Implementation = acceptedConn{conn}
	// Owned by the WebSocket: it returns when the connection ends. Nothing
	// above gqlgen's Do, not even a recover: what could panic on it runs on
	// short-lived goroutines that recover (shallowExecutor for parsing and
	// validation, realtime.initConnection for authentication).
	go ws.Do(nil, r, shallowExecutor{exec, t.log})
}

// acceptedConn hands gqlgen's transport a WebSocket wsTransport accepted.
type acceptedConn struct{ conn transport.WebsocketConn }

func (a acceptedConn) Accept(http.ResponseWriter, *http.Request, transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	return a.conn, nil
}

// shallowExecutor runs the parsing and validation of a WebSocket's
// operations (CreateOperationContext, which gqlgen calls on the
// connection's read loop) on a short-lived goroutine, recovering a panic
// there as the HTTP handler would.
type shallowExecutor struct {
	graphql.GraphExecutor
	log *slog.Logger
}

func (e shallowExecutor) CreateOperationContext(ctx context.Context, params *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	type result struct {
		rc   *graphql.OperationContext
		errs gqlerror.List
	}
	done := make(chan result, 1)
	go func() {
		var res result
		defer func() {
			if p := recover(); p != nil {
				e.log.ErrorContext(ctx, "panic preparing a websocket operation", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				res = result{
					rc:   &graphql.OperationContext{RawQuery: params.Query, Variables: params.Variables, OperationName: params.OperationName},
					errs: gqlerror.List{{Message: "internal server error (request id " + RequestID(ctx) + ")", Extensions: map[string]any{"code": string(graph.CodeInternal)}}},
				}
			}
			done <- res
		}()
		res.rc, res.errs = e.GraphExecutor.CreateOperationContext(ctx, params)
	}()
	res := <-done
	return res.rc, res.errs
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
	// every parked read loop (see wsTransport).
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

// wsConn checks every client message before gqlgen reads it.
type wsConn struct {
	inner   transport.WebsocketConn
	maxSubs int
	conns   *wsConns

	// release uncounts the connection; Close runs it once.
	release   func()
	closeOnce sync.Once

	mu        sync.Mutex
	initTimer *time.Timer // nil once the connection is acknowledged or closed
	initSeen  bool
	acked     bool
	closed    bool
	pinged    bool                // a keep-alive ping is waiting for its pong
	active    map[string]struct{} // subscription ids the server has not completed
	// errored holds ids that got an error message: in graphql-transport-ws
	// an error ends the operation, so gqlgen's complete after it is not
	// sent.
	errored map[string]struct{}
}

var (
	_ transport.WebsocketConn          = (*wsConn)(nil)
	_ transport.WebsocketReadLimiter   = (*wsConn)(nil)
	_ transport.WebsocketReadDeadliner = (*wsConn)(nil)
)

// wsMessage is the envelope both subprotocols share.
type wsMessage struct {
	ID      *string         `json:"id"`
	Type    *string         `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// NextReader returns the next message the client may send, closing the
// connection with the protocol's code when it breaks a rule.
func (c *wsConn) NextReader() (int, io.Reader, error) {
	for {
		typ, r, err := c.inner.NextReader()
		if err != nil {
			return typ, r, err
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return typ, nil, err
		}
		code, reason, skip := c.check(data)
		if code != 0 {
			c.closeWith(code, reason)
			return typ, nil, transport.ErrWebsocketClosed
		}
		if skip {
			continue
		}
		return typ, bytes.NewReader(data), nil
	}
}

// check applies the subprotocol's rules to one client message. It returns
// a close code to end the connection, or skip when the message has been
// answered here and gqlgen must not see it.
func (c *wsConn) check(data []byte) (code int, reason string, skip bool) {
	var m wsMessage
	if err := json.Unmarshal(data, &m); err != nil || m.Type == nil {
		return closeBadMessage, "Invalid message received", false
	}
	id := ""
	if m.ID != nil {
		id = *m.ID
	}
	transportWS := c.inner.Subprotocol() == protoTransportWS
	c.mu.Lock()
	defer c.mu.Unlock()
	switch *m.Type {
	case "connection_init":
		if c.initSeen {
			if transportWS {
				return closeTooManyInits, "Too many initialisation requests", false
			}
			return closeBadMessage, "Too many initialisation requests", false
		}
		c.initSeen = true
		// gqlgen drops, without closing, a connection whose init payload is
		// not an object.
		if p := bytes.TrimSpace(m.Payload); len(p) > 0 && p[0] != '{' && !bytes.Equal(p, []byte("null")) {
			return closeBadMessage, "Invalid message received", false
		}
	case "subscribe", "start":
		if transportWS != (*m.Type == "subscribe") {
			return closeBadMessage, "Invalid message received", false
		}
		if !c.acked {
			return closeUnauthorized, "Unauthorized", false
		}
		if id == "" || len(id) > 128 || len(m.Payload) == 0 {
			return closeBadMessage, "Invalid message received", false
		}
		if _, ok := c.active[id]; ok {
			if transportWS {
				return closeSubscriberExists, "Subscriber for " + id + " already exists", false
			}
			return closeBadMessage, "Subscriber for " + id + " already exists", false
		}
		if len(c.active) >= c.maxSubs {
			c.refuseLocked(id, fmt.Sprintf("too many active subscriptions on this connection (at most %d); complete one first", c.maxSubs))
			return 0, "", true
		}
		c.active[id] = struct{}{}
		delete(c.errored, id)
	case "complete", "stop":
		if transportWS != (*m.Type == "complete") || id == "" {
			return closeBadMessage, "Invalid message received", false
		}
		delete(c.active, id)
	case "ping", "pong":
		if !transportWS {
			return closeBadMessage, "Invalid message received", false
		}
		if *m.Type == "pong" {
			c.pinged = false
		}
	case "connection_terminate":
		if transportWS {
			return closeBadMessage, "Invalid message received", false
		}
	default:
		return closeBadMessage, "Invalid message received", false
	}
	return 0, "", false
}

// refuseLocked answers a subscription with an error message of its own.
func (c *wsConn) refuseLocked(id, msg string) {
	_ = c.inner.WriteJSON(map[string]any{
		"type": "error", "id": id,
		"payload": []map[string]any{{"message": msg, "extensions": map[string]any{"code": "BAD_USER_INPUT"}}},
	})
}

// WriteJSON sends a server message, noting the acknowledgement and the
// subscriptions that end.
func (c *wsConn) WriteJSON(v any) error {
	id, typ, ok := envelope(v)
	if !ok {
		return c.inner.WriteJSON(v)
	}
	transportWS := c.inner.Subprotocol() == protoTransportWS
	c.mu.Lock()
	switch typ {
	case "connection_ack":
		c.acked = true
		// The init timeout has done its job: let its timer go now rather
		// than keep it for the connection's whole life.
		if c.initTimer != nil {
			c.initTimer.Stop()
			c.initTimer = nil
		}
	case "error":
		delete(c.active, id)
		if transportWS {
			c.errored[id] = struct{}{}
		}
	case "complete":
		delete(c.active, id)
		if _, ok := c.errored[id]; ok {
			delete(c.errored, id)
			c.mu.Unlock()
			return nil
		}
	}
	c.mu.Unlock()
	return c.inner.WriteJSON(v)
}

// envelope returns the id and type of a message gqlgen sends. Its message
// structs are unexported but their ID and Type fields are not: reading them
// by reflection spares encoding every event twice and decoding it once
// more, per subscriber, just to see its type.
func envelope(v any) (id, typ string, ok bool) {
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() != reflect.Struct {
		return "", "", false
	}
	idf, typf := rv.FieldByName("ID"), rv.FieldByName("Type")
	if idf.Kind() != reflect.String || typf.Kind() != reflect.String {
		return "", "", false
	}
	return idf.String(), typf.String(), true
}

// WriteClose closes with code unless the connection is already closing
// (the first reason given wins).
func (c *wsConn) WriteClose(code int, reason string) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	return c.inner.WriteClose(code, reason)
}

func (c *wsConn) closeWith(code int, reason string) {
	_ = c.WriteClose(code, reason)
}

// Close closes the connection once; later calls do nothing.
func (c *wsConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.mu.Lock()
		if c.initTimer != nil {
			c.initTimer.Stop()
			c.initTimer = nil
		}
		c.mu.Unlock()
		c.conns.remove(c)
		err = c.inner.Close()
		c.release()
	})
	return err
}

func (c *wsConn) Subprotocol() string { return c.inner.Subprotocol() }

func (c *wsConn) SetReadLimit(limit int64) {
	if l, ok := c.inner.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(limit)
	}
}

func (c *wsConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.inner.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

// keepAlive pings c (graphql-transport-ws) or sends it "ka" (graphql-ws),
// and drops it when it did not answer the previous ping.
func (c *wsConn) keepAlive(writeTimeout time.Duration) {
	transportWS := c.inner.Subprotocol() == protoTransportWS
	c.mu.Lock()
	if !c.acked || c.closed {
		c.mu.Unlock()
		return
	}
	silent := transportWS && c.pinged
	c.pinged = transportWS
	c.mu.Unlock()
	if silent {
		// A client that does not answer is gone or stuck: no close
		// handshake, which would wait for it too.
		_ = c.inner.Close()
		return
	}
	msg := json.RawMessage(`{"type":"ka"}`)
	if transportWS {
		msg = json.RawMessage(`{"type":"ping"}`)
	}
	// Writes have no deadline of their own: one client that stopped
	// reading must not hold up the keep-alive of every other.
	stuck := time.AfterFunc(writeTimeout, func() { _ = c.inner.Close() })
	defer stuck.Stop()
	_ = c.inner.WriteJSON(msg)
}

// wsConns is the set of open WebSockets, so shutdown can close them.
type wsConns struct {
	mu      sync.Mutex
	closing bool
	set     map[*wsConn]struct{}
}

func newWSConns() *wsConns { return &wsConns{set: map[*wsConn]struct{}{}} }

// add registers c; false once shutdown has begun.
func (s *wsConns) add(c *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.set[c] = struct{}{}
	return true
}

func (s *wsConns) remove(c *wsConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.set, c)
}

// keepAlive runs the keep-alive of every connection each interval until
// ctx ends: one ticker for the instance rather than a goroutine and a
// ticker per connection, which is what holding thousands of idle
// subscribers costs most.
func (s *wsConns) keepAlive(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		conns := make([]*wsConn, 0, len(s.set))
		for c := range s.set {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			c.keepAlive(interval)
		}
	}
}

// closeAll closes every connection with code and refuses new ones.
func (s *wsConns) closeAll(code int, reason string) {
	s.mu.Lock()
	s.closing = true
	conns := make([]*wsConn, 0, len(s.set))
	for c := range s.set {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWith(code, reason)
	}
}
