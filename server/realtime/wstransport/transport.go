package wstransport

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"
)

// Subprotocols this transport speaks. A client that names neither gets
// graphql-ws, as gqlgen's transport did.
const (
	TransportWS = "graphql-transport-ws"
	LegacyWS    = "graphql-ws"
)

// Close codes the transport uses besides RFC 6455's.
const (
	CloseBadMessage       = 4400
	CloseUnauthorized     = 4401
	CloseForbidden        = 4403
	CloseInitTimeout      = 4408
	CloseSubscriberExists = 4409
	CloseTooManyInits     = 4429
	// CloseGoingAway: the server is shutting down; reconnect (to another
	// instance) and resume.
	CloseGoingAway = 1001
	// CloseTryAgainLater: a subscription ended for a reason worth
	// retrying; reconnect and resume.
	CloseTryAgainLater = 1013
)

// InitFunc authenticates a connection from its connection_init payload
// and returns the context its operations run with. An error closes the
// connection with 4403 (after a connection_error message in graphql-ws).
type InitFunc func(ctx context.Context, payload map[string]any) (context.Context, error)

// Options configures a Transport.
type Options struct {
	// OriginPatterns are the hosts a browser's Origin may name besides
	// the server's own (coder/websocket's AcceptOptions).
	OriginPatterns []string
	// InitTimeout is how long a connection may wait before
	// connection_init (then 4408).
	InitTimeout time.Duration
	// MaxSubscriptions bounds a connection's active operations; more are
	// answered with an error message.
	MaxSubscriptions int
	// ReadLimit bounds a client message (then 1009).
	ReadLimit int64
	// WriteTimeout bounds one write; a client that does not read for that
	// long is dropped.
	WriteTimeout time.Duration
	// Init authenticates connection_init; nil accepts every connection.
	Init InitFunc
	// Pace puts p into an operation's context so subscriptions can be
	// paced (delivery.WithPacer); nil: every operation is read by a
	// goroutine of its own until it ends.
	Pace func(ctx context.Context, p Pacer) context.Context
	// Retryable reports whether a subscription's response means it ended
	// for a reason the client should retry (the connection is then
	// closed with 1013 instead of the response and a complete).
	Retryable func(*graphql.Response) bool
	// Open is called once a connection is accepted, on the upgrade
	// request's goroutine; the returned func runs once it has closed.
	Open func(ctx context.Context, subprotocol string) (closed func())
	// Recover turns a panic outside the executor into an error (gqlgen's
	// RecoverFunc); nil: a generic error.
	Recover graphql.RecoverFunc
	Log     *slog.Logger
}

// Pacer is what an operation offers a paced subscription (delivery.Pacer).
type Pacer interface {
	Paced()
	Ready()
}

// Transport serves GraphQL over WebSocket and keeps the set of open
// connections, for keep-alive and shutdown.
type Transport struct {
	opts Options
	// messages and watchdogs are shared by every connection's writes.
	messages  messages
	watchdogs watchdogs

	mu      sync.Mutex
	closing bool
	conns   map[*conn]struct{}
}

var _ graphql.Transport = (*Transport)(nil)

// New returns a Transport; run KeepAlive beside it, and GoingAway on
// shutdown.
func New(opts Options) *Transport {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.MaxSubscriptions <= 0 {
		opts.MaxSubscriptions = 100
	}
	if opts.InitTimeout <= 0 {
		opts.InitTimeout = 10 * time.Second
	}
	return &Transport{opts: opts, conns: map[*conn]struct{}{}}
}

// Supports takes WebSocket upgrades.
func (t *Transport) Supports(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" && headerHas(r.Header, "Connection", "upgrade")
}

// Do accepts the WebSocket and serves it on a goroutine of its own, so the
// request's goroutine and its middleware stack unwind at once: the
// connection's parked read loop starts from a shallow stack.
func (t *Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:   []string{TransportWS, LegacyWS},
		OriginPatterns: t.opts.OriginPatterns,
	})
	if err != nil {
		// Accept has answered the request (403 for a foreign origin, 400
		// for a bad handshake).
		t.opts.Log.DebugContext(r.Context(), "websocket: unable to upgrade", "error", err)
		return
	}
	if t.opts.ReadLimit > 0 {
		ws.SetReadLimit(t.opts.ReadLimit)
	}
	proto := ws.Subprotocol()
	if proto == "" {
		proto = LegacyWS
	}
	// The connection outlives the request: its context keeps the values
	// (request info, viewer, span), not the cancellation.
	ctx := context.WithoutCancel(r.Context())
	c := &conn{t: t, ws: ws, exec: exec, ctx: ctx, base: ctx, transportWS: proto == TransportWS, ops: map[string]*operation{}}
	c.closed = func() {}
	if t.opts.Open != nil {
		c.closed = t.opts.Open(ctx, proto)
	}
	if !t.add(c) {
		go func() {
			c.close(CloseGoingAway, "server shutting down")
			c.end()
		}()
		return
	}
	c.initTimer = time.AfterFunc(t.opts.InitTimeout, c.initTimedOut)
	// Owned by the connection: it returns once the connection ends.
	go c.readLoop()
}

func (t *Transport) add(c *conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *Transport) remove(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c)
}

func (t *Transport) snapshot() []*conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		out = append(out, c)
	}
	return out
}

// KeepAlive pings every connection each interval until ctx ends: one
// goroutine and one ticker for the instance, not one per connection. A
// graphql-transport-ws client that did not answer the previous ping is
// dropped; graphql-ws clients get "ka".
func (t *Transport) KeepAlive(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, c := range t.snapshot() {
			c.keepAlive(interval)
		}
	}
}

// GoingAway refuses new connections, stops every connection from writing
// anything more and closes it with 1001, and returns once each close
// handshake is done or ctx ends. Call it before ending subscriptions (the
// broker): no client then sees one of them end, only the close, and
// reconnects to resume.
func (t *Transport) GoingAway(ctx context.Context) {
	t.mu.Lock()
	t.closing = true
	t.mu.Unlock()
	conns := t.snapshot()
	var stopped, closed sync.WaitGroup
	stopped.Add(len(conns))
	closed.Add(len(conns))
	for _, c := range conns {
		// Owned by GoingAway, which waits for it (or gives up with ctx).
		go func() {
			defer closed.Done()
			c.stopWrites()
			stopped.Done()
			_ = c.ws.Close(CloseGoingAway, "server shutting down")
		}()
	}
	wait(ctx, &stopped)
	wait(ctx, &closed)
}

// wait waits for wg or ctx, whichever comes first.
func wait(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Conns is the number of open connections.
func (t *Transport) Conns() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

var errClosed = errors.New("websocket: connection closing")
