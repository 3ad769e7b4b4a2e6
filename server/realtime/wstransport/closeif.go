package wstransport

import (
	"context"

	"github.com/coder/websocket"
)

// CloseIf stops every connection whose operations' context matches (its
// viewer's session was revoked, say) from writing anything more, and
// closes it with code and reason; it returns how many it closed. The
// connection's read loop then ends its operations. The close handshakes
// run on goroutines of their own, each bounded by coder/websocket's close
// timeout, so the caller does not wait for slow clients.
func (t *Transport) CloseIf(match func(ctx context.Context) bool, code int, reason string) int {
	n := 0
	for _, c := range t.snapshot() {
		c.mu.Lock()
		ctx := c.ctx
		c.mu.Unlock()
		if !match(ctx) {
			continue
		}
		n++
		c.stopWrites()
		go func() { _ = c.ws.Close(websocket.StatusCode(code), reason) }()
	}
	return n
}
