//go:build cluster

package cluster_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/issuegraph/issuegraph/subscriptions"
)

const projectEvents = `subscription($p:ID!,$a:String){ projectEvents(projectId:$p, after:$a){ cursor type } }`

func decodeRaw(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// follower is a graphql-transport-ws client of one project's events that
// resumes with after: its last cursor whenever its connection ends, as a
// real-time client does.
type follower struct {
	base       string
	f          fixture
	reconnects atomic.Int64

	mu       sync.Mutex
	got      []int64
	last     int64
	changed  chan struct{}
	stopping bool
	cancel   context.CancelFunc
	done     chan struct{}
	err      error // a refusal that ended it (not a closed connection)
}

// follow subscribes through base after position after and keeps
// following until close.
func follow(base string, f fixture, after int64) *follower {
	ctx, cancel := context.WithCancel(context.Background())
	fl := &follower{base: base, f: f, last: after, changed: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go fl.run(ctx)
	return fl
}

// subscribe is follow for one connection's life: the scenarios that use
// it expect no disconnection.
func subscribe(base string, f fixture, after int64) *follower { return follow(base, f, after) }

func (fl *follower) run(ctx context.Context) {
	defer close(fl.done)
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			fl.reconnects.Add(1)
		}
		err := fl.session(ctx)
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

// session runs one connection; it returns nil when the connection ended
// (resume) and an error when the server refused the subscription.
func (fl *follower) session(ctx context.Context) error {
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dialCtx, "ws"+strings.TrimPrefix(fl.base, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil // the load balancer had nobody ready: try again
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	write := func(v any) error {
		b, _ := json.Marshal(v)
		return conn.Write(ctx, websocket.MessageText, b)
	}
	if write(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + fl.f.token}}) != nil {
		return nil
	}
	fl.mu.Lock()
	after := subscriptions.Cursor(fl.last)
	fl.mu.Unlock()
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
					"query": projectEvents, "variables": map[string]any{"p": fl.f.projectID, "a": after}}}) != nil {
					return nil
				}
			}
		case "next":
			var p struct {
				Data struct {
					ProjectEvents struct{ Cursor string }
				}
				Errors []struct{ Message string }
			}
			if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) > 0 {
				return fmt.Errorf("event with errors: %s", m.Payload)
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
		case "error":
			// UNAVAILABLE (shutting down, Redis away) means resume; any
			// other refusal ends the follower.
			if strings.Contains(string(m.Payload), "UNAVAILABLE") {
				return nil
			}
			return fmt.Errorf("subscription refused: %s", m.Payload)
		case "complete":
			return nil
		}
	}
}

// positions returns what it received so far.
func (fl *follower) positions() []int64 {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return append([]int64(nil), fl.got...)
}

// waitFor waits until n events arrived (or the timeout) and returns them.
func (fl *follower) waitFor(n int, timeout time.Duration) []int64 {
	deadline := time.After(timeout)
	for {
		if got := fl.positions(); len(got) >= n {
			return got
		}
		select {
		case <-fl.changed:
		case <-fl.done:
			return fl.positions()
		case <-deadline:
			return fl.positions()
		}
	}
}

// waitUntil waits until position p arrived (or the timeout).
func (fl *follower) waitUntil(p int64, timeout time.Duration) []int64 {
	deadline := time.After(timeout)
	for {
		fl.mu.Lock()
		reached := fl.last >= p
		fl.mu.Unlock()
		if reached {
			return fl.positions()
		}
		select {
		case <-fl.changed:
		case <-fl.done:
			return fl.positions()
		case <-deadline:
			return fl.positions()
		}
	}
}

func (fl *follower) close() {
	fl.cancel()
	<-fl.done
}
