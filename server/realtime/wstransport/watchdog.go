package wstransport

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// watchdogs hands out timers that drop a connection whose write has not
// finished in time. A timer serves one write at a time and goes back to
// the pool afterwards, so neither an idle connection nor a write holds one
// of its own.
type watchdogs struct{ pool sync.Pool }

// watchdog closes its connection when its timer fires.
type watchdog struct {
	timer *time.Timer
	ws    atomic.Pointer[websocket.Conn]
}

func (w *watchdog) fire() {
	if ws := w.ws.Load(); ws != nil {
		// A client that does not read is gone or stuck: no close
		// handshake, which would wait for it too.
		_ = ws.CloseNow()
	}
}

// arm starts a watchdog that closes ws after timeout, unless disarmed
// first.
func (p *watchdogs) arm(ws *websocket.Conn, timeout time.Duration) *watchdog {
	w, _ := p.pool.Get().(*watchdog)
	if w == nil {
		w = &watchdog{}
		w.timer = time.AfterFunc(time.Hour, w.fire)
		w.timer.Stop()
	}
	w.ws.Store(ws)
	w.timer.Reset(timeout)
	return w
}

// disarm stops w. One that fired (or is firing) is not reused: its close
// may still be running, and must never reach another connection.
func (p *watchdogs) disarm(w *watchdog) {
	if !w.timer.Stop() {
		return
	}
	w.ws.Store(nil)
	p.pool.Put(w)
}
