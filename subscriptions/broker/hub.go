package broker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// hub is the local fan-out shared by both implementations: it tracks the
// subscribers of each stream and delivers messages to them without ever
// blocking on a subscriber.
//
// One mutex guards everything, including every send on and close of a
// subscriber channel. That is what makes "never send on a closed channel"
// hold, and keeps each stream's messages in order. Sends are non-blocking, so
// the lock is held for O(subscribers) cheap operations at most.
type hub struct {
	bufferSize int
	log        *slog.Logger
	// onIdle, when set, is called with mu held when a stream loses its last
	// subscriber. It must not block.
	onIdle func(stream string)

	mu      sync.Mutex
	closed  bool
	streams map[string]map[*Subscription]struct{}
}

func newHub(opts Options, onIdle func(stream string)) *hub {
	return &hub{
		bufferSize: opts.BufferSize,
		log:        opts.Logger,
		onIdle:     onIdle,
		streams:    make(map[string]map[*Subscription]struct{}),
	}
}

// subscribe registers a local subscriber of stream that ends when ctx is done.
func (h *hub) subscribe(ctx context.Context, stream string) (*Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("broker: subscribe %q: %w", stream, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrBrokerClosed
	}
	sub := &Subscription{hub: h, stream: stream, ch: make(chan *Message, h.bufferSize)}
	subs := h.streams[stream]
	if subs == nil {
		subs = make(map[*Subscription]struct{})
		h.streams[stream] = subs
	}
	subs[sub] = struct{}{}
	// Registered under mu: if ctx is already done the callback runs in its own
	// goroutine and waits for mu, so it always finds the subscriber registered.
	sub.stop = context.AfterFunc(ctx, func() { h.end(sub, nil) })
	return sub, nil
}

// has reports whether stream has local subscribers.
func (h *hub) has(stream string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams[stream]) > 0
}

// publish delivers msg to every local subscriber of msg.Stream. A subscriber
// whose buffer is full is ended with ErrSlowConsumer so that the others, and
// the caller, never wait for it.
func (h *hub) publish(msg *Message) {
	slow := 0
	h.mu.Lock()
	for sub := range h.streams[msg.Stream] {
		select {
		case sub.ch <- msg:
		default:
			h.endLocked(sub, ErrSlowConsumer)
			slow++
		}
	}
	h.mu.Unlock()
	if slow > 0 {
		h.log.Info("broker: ended slow subscribers", "stream", msg.Stream, "count", slow, "buffer", h.bufferSize)
	}
}

// end ends sub with err unless it already ended.
func (h *hub) end(sub *Subscription, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.endLocked(sub, err)
}

func (h *hub) endLocked(sub *Subscription, err error) {
	if sub.done {
		return
	}
	sub.done = true
	sub.err = err
	close(sub.ch)
	// Releases the context's reference to sub when the subscription ends
	// before its context does (long-lived WebSocket contexts).
	sub.stop()

	subs := h.streams[sub.stream]
	delete(subs, sub) // deleting while publish ranges over subs is allowed
	if len(subs) == 0 {
		delete(h.streams, sub.stream)
		if h.onIdle != nil && !h.closed {
			h.onIdle(sub.stream)
		}
	}
}

// close ends every subscription with ErrBrokerClosed and refuses new ones.
// It reports whether the hub was open.
func (h *hub) close() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.closed = true
	for _, subs := range h.streams {
		for sub := range subs {
			h.endLocked(sub, ErrBrokerClosed)
		}
	}
	return true
}

// isClosed reports whether close was called.
func (h *hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}
