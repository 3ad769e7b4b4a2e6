package servertest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Subprotocols a WS client can speak.
const (
	TransportWS = "graphql-transport-ws"
	LegacyWS    = "graphql-ws"
)

// WSMessage is one message of either subprotocol.
type WSMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// WS is a WebSocket client of /graphql. It answers the server's pings by
// itself (unless NoPong) and queues every other message for Next.
type WS struct {
	conn     *websocket.Conn
	Protocol string

	msgs chan WSMessage
	done chan struct{}

	mu       sync.Mutex
	closeErr error
	noPong   bool
}

// WSOption changes how DialWS connects.
type WSOption func(*websocket.DialOptions)

// WithHeader adds a header to the upgrade request.
func WithHeader(name, value string) WSOption {
	return func(o *websocket.DialOptions) {
		if o.HTTPHeader == nil {
			o.HTTPHeader = http.Header{}
		}
		o.HTTPHeader.Set(name, value)
	}
}

// DialWS opens a WebSocket speaking protocol; it is closed when the test
// ends.
func (e *Env) DialWS(tb testing.TB, protocol string, opts ...WSOption) *WS {
	tb.Helper()
	ws, resp, err := e.TryDialWS(protocol, opts...)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		tb.Fatalf("dialing websocket (status %d): %v", status, err)
	}
	tb.Cleanup(func() { ws.conn.CloseNow() })
	return ws
}

// TryDialWS opens a WebSocket and returns the handshake response, for
// tests of refused upgrades. The caller closes the WS with CloseNow.
func (e *Env) TryDialWS(protocol string, opts ...WSOption) (*WS, *http.Response, error) {
	o := &websocket.DialOptions{Subprotocols: []string{protocol}}
	for _, f := range opts {
		f(o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.URL, "http")+"/graphql", o)
	if err != nil {
		return nil, resp, err
	}
	conn.SetReadLimit(16 << 20)
	ws := &WS{conn: conn, Protocol: protocol, msgs: make(chan WSMessage, 100_000), done: make(chan struct{})}
	go ws.read()
	return ws, resp, nil
}

// read runs until the connection ends.
func (w *WS) read() {
	defer close(w.done)
	defer close(w.msgs)
	for {
		_, data, err := w.conn.Read(context.Background())
		if err != nil {
			w.mu.Lock()
			w.closeErr = err
			w.mu.Unlock()
			return
		}
		var m WSMessage
		if err := json.Unmarshal(data, &m); err != nil {
			continue
		}
		w.mu.Lock()
		noPong := w.noPong
		w.mu.Unlock()
		switch {
		case m.Type == "ka":
			continue
		case m.Type == "ping" && w.Protocol == TransportWS && !noPong:
			_ = w.conn.Write(context.Background(), websocket.MessageText, []byte(`{"type":"pong"}`))
			continue
		}
		w.msgs <- m
	}
}

// NoPong stops answering pings, to test keep-alive.
func (w *WS) NoPong() {
	w.mu.Lock()
	w.noPong = true
	w.mu.Unlock()
}

// Send writes v as JSON.
func (w *WS) Send(tb testing.TB, v any) {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("encoding message: %v", err)
	}
	w.SendRaw(tb, string(b))
}

// SendRaw writes a text message as is.
func (w *WS) SendRaw(tb testing.TB, s string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.conn.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		tb.Fatalf("writing message: %v", err)
	}
}

// ErrWSClosed is what Next returns once the connection has ended.
var ErrWSClosed = errors.New("websocket closed")

// TryNext returns the next message, ErrWSClosed once the connection ended,
// or a timeout error.
func (w *WS) TryNext(timeout time.Duration) (WSMessage, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case m, ok := <-w.msgs:
		if !ok {
			return WSMessage{}, ErrWSClosed
		}
		return m, nil
	case <-t.C:
		return WSMessage{}, errors.New("no message within " + timeout.String())
	}
}

// Next returns the next message or fails the test.
func (w *WS) Next(tb testing.TB, timeout time.Duration) WSMessage {
	tb.Helper()
	m, err := w.TryNext(timeout)
	if err != nil {
		tb.Fatalf("waiting for a websocket message: %v (close status %d)", err, w.closeStatus())
	}
	return m
}

// CloseStatus waits for the connection to end and returns the close code
// the server sent (-1: none).
func (w *WS) CloseStatus(tb testing.TB, timeout time.Duration) int {
	tb.Helper()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case _, ok := <-w.msgs:
			if ok {
				continue // drain what came before the close
			}
			<-w.done
			return w.closeStatus()
		case <-t.C:
			tb.Fatalf("websocket still open after %s", timeout)
			return 0
		}
	}
}

// CloseReason returns the reason of the server's close frame.
func (w *WS) CloseReason() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ce websocket.CloseError
	if errors.As(w.closeErr, &ce) {
		return ce.Reason
	}
	return ""
}

func (w *WS) closeStatus() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closeErr == nil {
		return 0
	}
	return int(websocket.CloseStatus(w.closeErr))
}

// Close closes the connection normally.
func (w *WS) Close() { _ = w.conn.Close(websocket.StatusNormalClosure, "bye") }

// CloseNow drops the connection without a close handshake, like a phone
// losing its network.
func (w *WS) CloseNow() { _ = w.conn.CloseNow() }

// Init sends connection_init with token (none when empty) and expects
// connection_ack.
func (w *WS) Init(tb testing.TB, token string) {
	tb.Helper()
	msg := map[string]any{"type": "connection_init"}
	if token != "" {
		msg["payload"] = map[string]any{"Authorization": "Bearer " + token}
	}
	w.Send(tb, msg)
	if m := w.Next(tb, 10*time.Second); m.Type != "connection_ack" {
		tb.Fatalf("want connection_ack, got %s %s", m.Type, m.Payload)
	}
}

// Subscribe starts operation id.
func (w *WS) Subscribe(tb testing.TB, id, query string, vars map[string]any) {
	tb.Helper()
	typ := "subscribe"
	if w.Protocol == LegacyWS {
		typ = "start"
	}
	w.Send(tb, map[string]any{"type": typ, "id": id, "payload": map[string]any{"query": query, "variables": vars}})
}

// Complete stops operation id.
func (w *WS) Complete(tb testing.TB, id string) {
	tb.Helper()
	typ := "complete"
	if w.Protocol == LegacyWS {
		typ = "stop"
	}
	w.Send(tb, map[string]any{"type": typ, "id": id})
}
