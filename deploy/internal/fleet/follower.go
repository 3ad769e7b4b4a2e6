package fleet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/issuegraph/issuegraph/subscriptions"
)

// ProjectEvents is the subscription the followers hold.
const ProjectEvents = `subscription($p:ID!,$a:String){ projectEvents(projectId:$p, after:$a){ cursor type } }`

// Transport is how a follower subscribes.
type Transport string

// The transports a follower speaks.
const (
	WebSocket Transport = "graphql-transport-ws"
	SSE       Transport = "sse"
)

// Follower follows one project's events and resumes with after: its last
// cursor whenever its connection ends, as a real-time client does.
type Follower struct {
	base       string
	f          Fixture
	transport  Transport
	Reconnects atomic.Int64

	mu      sync.Mutex
	got     []int64
	last    int64
	changed chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	err     error // a refusal that ended it (not a closed connection)
}

// Follow subscribes through base over transport after position after and
// keeps following until Close.
func Follow(base string, f Fixture, transport Transport, after int64) *Follower {
	ctx, cancel := context.WithCancel(context.Background())
	fl := &Follower{base: base, f: f, transport: transport, last: after, changed: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go fl.run(ctx)
	return fl
}

func (fl *Follower) run(ctx context.Context) {
	defer close(fl.done)
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			fl.Reconnects.Add(1)
		}
		session := fl.webSocket
		if fl.transport == SSE {
			session = fl.sse
		}
		err := session(ctx)
		if err != nil && ctx.Err() == nil {
			fl.mu.Lock()
			fl.err = err
			fl.mu.Unlock()
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// after is the cursor to resume from.
func (fl *Follower) after() string {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return subscriptions.Cursor(fl.last)
}

// receive records one event's payload ({"data":{"projectEvents":...}}).
func (fl *Follower) receive(payload []byte) error {
	var p struct {
		Data struct {
			ProjectEvents struct{ Cursor string }
		}
		Errors []struct{ Message string }
	}
	if err := json.Unmarshal(payload, &p); err != nil || len(p.Errors) > 0 {
		if bytes.Contains(payload, []byte("UNAVAILABLE")) {
			return errResume
		}
		return fmt.Errorf("event with errors: %s", payload)
	}
	pos, err := subscriptions.ParseCursor(p.Data.ProjectEvents.Cursor)
	if err != nil {
		return err
	}
	fl.mu.Lock()
	fl.got = append(fl.got, pos)
	fl.last = pos
	fl.mu.Unlock()
	select {
	case fl.changed <- struct{}{}:
	default:
	}
	return nil
}

// errResume ends a session for the follower to resume (UNAVAILABLE:
// shutting down, Redis away).
var errResume = fmt.Errorf("resume")

// webSocket runs one graphql-transport-ws connection; it returns nil when
// the connection ended (resume) and an error when the server refused the
// subscription.
func (fl *Follower) webSocket(ctx context.Context) error {
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dialCtx, "ws"+strings.TrimPrefix(fl.base, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil // nobody ready: try again
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	write := func(v any) error {
		b, _ := json.Marshal(v)
		return conn.Write(ctx, websocket.MessageText, b)
	}
	if write(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + fl.f.Token}}) != nil {
		return nil
	}
	after := fl.after()
	subscribed := false
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return nil
		}
		var m struct {
			ID      string
			Type    string
			Payload json.RawMessage
		}
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		switch m.Type {
		case "ping":
			_ = write(map[string]any{"type": "pong"})
		case "connection_ack":
			if !subscribed {
				subscribed = true
				if write(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{
					"query": ProjectEvents, "variables": map[string]any{"p": fl.f.ProjectID, "a": after}}}) != nil {
					return nil
				}
			}
		case "next":
			if err := fl.receive(m.Payload); err == errResume {
				return nil
			} else if err != nil {
				return err
			}
		case "error":
			if strings.Contains(string(m.Payload), "UNAVAILABLE") {
				return nil
			}
			return fmt.Errorf("subscription refused: %s", m.Payload)
		case "complete":
			return nil
		}
	}
}

// sse runs one Server-Sent Events stream; like webSocket, nil means
// resume.
func (fl *Follower) sse(ctx context.Context) error {
	body, _ := json.Marshal(map[string]any{"query": ProjectEvents, "variables": map[string]any{"p": fl.f.ProjectID, "a": fl.after()}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fl.base+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+fl.f.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil // nobody ready: try again
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests {
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("SSE subscription: status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			if event == "complete" {
				return nil
			}
		case strings.HasPrefix(line, "data:") && event == "next":
			if err := fl.receive([]byte(strings.TrimSpace(strings.TrimPrefix(line, "data:")))); err == errResume {
				return nil
			} else if err != nil {
				return err
			}
		}
	}
	return nil
}

// Err is the refusal that ended the follower, nil while it follows.
func (fl *Follower) Err() error {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.err
}

// Positions returns the positions received so far, in arrival order.
func (fl *Follower) Positions() []int64 {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return append([]int64(nil), fl.got...)
}

// WaitFor waits until n events arrived (or the timeout) and returns them.
func (fl *Follower) WaitFor(n int, timeout time.Duration) []int64 {
	return fl.wait(func() bool { return len(fl.got) >= n }, timeout)
}

// WaitUntil waits until position p arrived (or the timeout) and returns
// what arrived.
func (fl *Follower) WaitUntil(p int64, timeout time.Duration) []int64 {
	return fl.wait(func() bool { return fl.last >= p }, timeout)
}

// wait waits until reached (called under the lock) holds.
func (fl *Follower) wait(reached func() bool, timeout time.Duration) []int64 {
	deadline := time.After(timeout)
	for {
		fl.mu.Lock()
		ok := reached()
		fl.mu.Unlock()
		if ok {
			return fl.Positions()
		}
		select {
		case <-fl.changed:
		case <-fl.done:
			return fl.Positions()
		case <-deadline:
			return fl.Positions()
		}
	}
}

// Close stops following.
func (fl *Follower) Close() {
	fl.cancel()
	<-fl.done
}
