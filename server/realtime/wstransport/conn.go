package wstransport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// conn is one WebSocket. Its read loop owns reading; writes from any
// goroutine take wmu.
type conn struct {
	t           *Transport
	ws          *websocket.Conn
	exec        graphql.GraphExecutor
	transportWS bool
	closed      func()          // Options.Open's; end runs it once
	base        context.Context // the upgrade request's values, for logs and panics

	mu        sync.Mutex
	ctx       context.Context // the operations' parent; set by connection_init
	initTimer *time.Timer     // nil once initialised or ended
	initSeen  bool
	acked     bool
	pinged    bool // a keep-alive ping waits for its pong
	ops       map[string]*operation

	wmu     sync.Mutex
	closing bool // nothing more is written once set
}

// message is the envelope both subprotocols share.
type message struct {
	ID      *string         `json:"id"`
	Type    *string         `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// readLoop reads client messages until the connection ends, then ends
// every operation of the connection.
func (c *conn) readLoop() {
	defer c.end()
	for {
		_, data, err := c.ws.Read(context.Background())
		if errors.Is(err, websocket.ErrMessageTooBig) {
			// coder/websocket has sent close 1009: wait for the client's
			// close, reading the rest of its message, so it does not meet
			// a reset while still writing.
			c.close(int(websocket.StatusMessageTooBig), "message too big")
			return
		}
		if err != nil {
			return
		}
		// Handled on a short-lived goroutine: decoding a message would
		// grow the stack this loop stays parked on to 16 KiB, where its
		// own depth needs 8.
		received := time.Now()
		res, err := onShortGoroutine(func() (closing, error) {
			code, reason := c.handle(data, received)
			return closing{code, reason}, nil
		}, c.recover)
		if err != nil {
			c.t.opts.Log.ErrorContext(c.base, "websocket: handling a message", "error", err)
			res = closing{int(websocket.StatusInternalError), "internal server error"}
		}
		if res.code != 0 {
			c.close(res.code, res.reason)
			return
		}
	}
}

// closing is a close code and reason; code 0 keeps the connection.
type closing struct {
	code   int
	reason string
}

// end releases the connection once its read loop has returned.
func (c *conn) end() {
	c.mu.Lock()
	if c.initTimer != nil {
		c.initTimer.Stop()
		c.initTimer = nil
	}
	ops := c.ops
	c.ops = map[string]*operation{}
	c.mu.Unlock()
	for _, op := range ops {
		op.cancel()
	}
	c.t.remove(c)
	_ = c.ws.CloseNow()
	c.closed()
}

// handle acts on one client message; a non-zero code closes the
// connection.
func (c *conn) handle(data []byte, received time.Time) (code int, reason string) {
	var m message
	if err := json.Unmarshal(data, &m); err != nil || m.Type == nil {
		return CloseBadMessage, "Invalid message received"
	}
	id := ""
	if m.ID != nil {
		id = *m.ID
	}
	switch typ := *m.Type; typ {
	case "connection_init":
		return c.init(m.Payload)
	case "subscribe", "start":
		if c.transportWS != (typ == "subscribe") {
			return CloseBadMessage, "Invalid message received"
		}
		return c.subscribe(id, m.Payload, received)
	case "complete", "stop":
		if c.transportWS != (typ == "complete") || id == "" {
			return CloseBadMessage, "Invalid message received"
		}
		c.stop(id)
	case "ping", "pong":
		if !c.transportWS {
			return CloseBadMessage, "Invalid message received"
		}
		if typ == "ping" {
			_ = c.write(pongMessage(m.Payload))
			return 0, ""
		}
		c.mu.Lock()
		c.pinged = false
		c.mu.Unlock()
	case "connection_terminate":
		if c.transportWS {
			return CloseBadMessage, "Invalid message received"
		}
		return int(websocket.StatusNormalClosure), ""
	default:
		return CloseBadMessage, "Invalid message received"
	}
	return 0, ""
}

// init authenticates the connection (on a short-lived goroutine, so the
// check does not deepen the read loop's parked stack) and acknowledges it.
func (c *conn) init(payload json.RawMessage) (int, string) {
	c.mu.Lock()
	seen := c.initSeen
	c.initSeen = true
	c.mu.Unlock()
	if seen {
		if c.transportWS {
			return CloseTooManyInits, "Too many initialisation requests"
		}
		return CloseBadMessage, "Too many initialisation requests"
	}
	var p map[string]any
	if t := bytes.TrimSpace(payload); len(t) > 0 {
		if t[0] != '{' && !bytes.Equal(t, []byte("null")) {
			return CloseBadMessage, "Invalid message received"
		}
		if err := json.Unmarshal(t, &p); err != nil {
			return CloseBadMessage, "Invalid message received"
		}
	}
	ctx := c.ctx
	if c.t.opts.Init != nil {
		var err error
		ctx, err = onShortGoroutine(func() (context.Context, error) { return c.t.opts.Init(ctx, p) }, c.recover)
		clear(p) // the access token is not kept past its check
		if err != nil {
			if !c.transportWS {
				c.write(encode("", "connection_error", mustJSON(map[string]string{"message": err.Error()})))
			}
			return CloseForbidden, "Forbidden"
		}
	}
	c.mu.Lock()
	c.ctx = ctx
	c.acked = true
	if c.initTimer != nil {
		c.initTimer.Stop()
		c.initTimer = nil
	}
	c.mu.Unlock()
	c.write([]byte(`{"type":"connection_ack"}`))
	return 0, ""
}

func (c *conn) initTimedOut() {
	c.mu.Lock()
	seen := c.initSeen
	c.mu.Unlock()
	if !seen {
		c.close(CloseInitTimeout, "Connection initialisation timeout")
	}
}

// subscribe starts operation id on a short-lived goroutine; the checks
// that close the connection or refuse the operation run here, in message
// order.
func (c *conn) subscribe(id string, payload json.RawMessage, received time.Time) (int, string) {
	code, reason, refused := c.startOperation(id, payload, received)
	if refused {
		msg := fmt.Sprintf("too many active subscriptions on this connection (at most %d); complete one first", c.t.opts.MaxSubscriptions)
		c.write(encode(id, "error", mustJSON(gqlerror.List{{Message: msg, Extensions: map[string]any{"code": "BAD_USER_INPUT"}}})))
	}
	return code, reason
}

func (c *conn) startOperation(id string, payload json.RawMessage, received time.Time) (code int, reason string, refused bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.acked {
		return CloseUnauthorized, "Unauthorized", false
	}
	if id == "" || len(id) > 128 || len(payload) == 0 {
		return CloseBadMessage, "Invalid message received", false
	}
	if _, ok := c.ops[id]; ok {
		if c.transportWS {
			return CloseSubscriberExists, "Subscriber for " + id + " already exists", false
		}
		return CloseBadMessage, "Subscriber for " + id + " already exists", false
	}
	var params graphql.RawParams
	if err := json.Unmarshal(payload, &params); err != nil {
		return CloseBadMessage, "Invalid message received", false
	}
	if len(c.ops) >= c.t.opts.MaxSubscriptions {
		return 0, "", true
	}
	ctx, cancel := context.WithCancel(c.ctx)
	op := &operation{c: c, id: id, idJSON: mustJSON(id), cancel: cancel}
	c.ops[id] = op
	params.ReadTime = graphql.TraceTiming{Start: received, End: graphql.Now()}
	// Owned by the operation: it returns once the operation has started
	// (a paced subscription) or ended.
	go op.run(ctx, &params)
	return 0, "", false
}

// stop ends operation id at the client's request.
func (c *conn) stop(id string) {
	c.mu.Lock()
	op := c.ops[id]
	delete(c.ops, id)
	c.mu.Unlock()
	if op == nil {
		return
	}
	op.cancel()
	// Confirmed, as gqlgen's transport did; graphql-ws clients ignore a
	// complete for an operation they ended.
	_ = c.write(encode(id, "complete", nil))
}

// forget drops op once it ended; false when the client had stopped it.
func (c *conn) forget(op *operation) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ops[op.id] != op {
		return false
	}
	delete(c.ops, op.id)
	return true
}

// write sends one message unless the connection is closing; a client that
// does not take it within the write timeout is dropped (its connection
// closed, without a handshake). msg may be reused once write returns.
//
// The timeout is a watchdog timer from the transport's pool, not a context
// with a deadline: coder/websocket ties such a context to the connection
// with context.AfterFunc, and the two cost five allocations and a timer
// per message, for every subscriber at every event.
func (c *conn) write(msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closing {
		return errClosed
	}
	w := c.t.watchdogs.arm(c.ws, c.t.opts.WriteTimeout)
	defer c.t.watchdogs.disarm(w)
	return c.ws.Write(context.Background(), websocket.MessageText, msg)
}

// stopWrites makes every later write a no-op (after one in progress).
func (c *conn) stopWrites() {
	c.wmu.Lock()
	c.closing = true
	c.wmu.Unlock()
}

// close stops writes and closes the connection with code.
func (c *conn) close(code int, reason string) {
	c.stopWrites()
	_ = c.ws.Close(websocket.StatusCode(code), reason)
}

// keepAlive pings the connection, or drops it when it did not answer the
// last ping. A connection busy writing is skipped: it is not idle, and
// the keep-alive of every other must not wait for it. Only a ping
// actually written awaits a pong: a connection skipped at one tick (busy
// delivering to a client that reads) is not dropped at the next.
func (c *conn) keepAlive(timeout time.Duration) {
	c.mu.Lock()
	if !c.acked {
		c.mu.Unlock()
		return
	}
	silent := c.transportWS && c.pinged
	c.mu.Unlock()
	if silent {
		// Gone or stuck: no close handshake, which would wait for it too.
		_ = c.ws.CloseNow()
		return
	}
	if !c.wmu.TryLock() {
		return
	}
	defer c.wmu.Unlock()
	if c.closing {
		return
	}
	msg := []byte(`{"type":"ka"}`)
	if c.transportWS {
		msg = []byte(`{"type":"ping"}`)
		// Set before the ping goes out, so its pong cannot come first.
		c.mu.Lock()
		c.pinged = true
		c.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = c.ws.Write(ctx, websocket.MessageText, msg)
}

// recover turns a panic outside the executor into an error.
func (c *conn) recover(p any) error {
	if c.t.opts.Recover != nil {
		return c.t.opts.Recover(c.base, p)
	}
	return fmt.Errorf("internal server error")
}

// onShortGoroutine runs f on a goroutine of its own and waits for it, so
// deep work does not grow the stack of a goroutine parked long after; a
// panic in f becomes rec's error.
func onShortGoroutine[T any](f func() (T, error), rec func(any) error) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		var res result
		defer func() {
			if p := recover(); p != nil {
				res.err = rec(p)
			}
			done <- res
		}()
		res.v, res.err = f()
	}()
	res := <-done
	return res.v, res.err
}

// encode builds a message; payload is JSON or nil.
func encode(id, typ string, payload []byte) []byte {
	b := make([]byte, 0, len(payload)+len(id)+40)
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if id != "" {
		b = append(b, `,"id":`...)
		b = append(b, mustJSON(id)...)
	}
	if payload != nil {
		b = append(b, `,"payload":`...)
		b = append(b, payload...)
	}
	return append(b, '}')
}

func pongMessage(payload json.RawMessage) []byte {
	if t := bytes.TrimSpace(payload); len(t) > 0 && t[0] == '{' {
		return encode("", "pong", t)
	}
	return []byte(`{"type":"pong"}`)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte("null")
	}
	return b
}
