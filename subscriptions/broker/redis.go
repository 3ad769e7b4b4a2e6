package broker

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// publishTimeout bounds Publish when the caller's context has no deadline,
	// so an unreachable Redis turns into an error the relay can retry instead
	// of a stalled outbox.
	publishTimeout = 2 * time.Second
	// commandTimeout bounds each SUBSCRIBE, UNSUBSCRIBE and PING written on
	// the shared pub/sub connection.
	commandTimeout = 3 * time.Second
	// confirmTimeout bounds the wait for Redis to answer a confirmation PING;
	// it matters on a half-open connection, where writes still succeed.
	confirmTimeout = 5 * time.Second
	// Retry delays of the receive loop while the connection is down.
	minRetry = 100 * time.Millisecond
	maxRetry = 2 * time.Second
	// pingPrefix marks the PING payloads this broker uses; only their pongs
	// are read back, so uniqueness within one broker is enough.
	pingPrefix  = "issuegraph-broker:"
	healthToken = pingPrefix + "health"
)

// Redis is a Broker that carries messages between instances over Redis
// pub/sub. Each instance holds one pub/sub connection, SUBSCRIBEs a channel
// when the first local subscriber of its stream arrives and UNSUBSCRIBEs it
// when the last one leaves.
//
// go-redis reconnects the pub/sub connection by itself and subscribes the
// channels again, so subscriptions survive a Redis outage; messages published
// while the connection is down are not delivered and must be caught up from
// the durable event log.
type Redis struct {
	client *redis.Client
	prefix string
	log    *slog.Logger
	hub    *hub
	ps     *redis.PubSub

	// ctx is cancelled by Close; it stops both goroutines the broker owns.
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	healthy atomic.Bool

	// syncMu serializes SUBSCRIBE and UNSUBSCRIBE so that they reach Redis in
	// the order in which the decisions were taken, whatever the interleaving
	// of subscribers arriving and leaving. active is the set of streams
	// currently subscribed on ps.
	syncMu sync.Mutex
	active map[string]struct{}

	// idle holds streams that lost their last local subscriber. The
	// unsubscribe goroutine UNSUBSCRIBEs them, so that neither
	// Subscription.Close nor the receive loop (which ends slow consumers)
	// ever waits on Redis.
	idleMu sync.Mutex
	idle   map[string]struct{}
	wake   chan struct{}

	// pings maps the payload of each outstanding confirmation PING to the
	// Subscribe call waiting for its pong.
	pingMu  sync.Mutex
	pings   map[string]chan error
	pingSeq atomic.Uint64

	// restored is closed and replaced each time the connection comes back
	// after an outage (see Restored).
	restoredMu sync.Mutex
	restored   chan struct{}
}

var _ Broker = (*Redis)(nil)

// NewRedis returns a broker that publishes and subscribes through client. It
// does not wait for Redis to be reachable; the caller keeps ownership of
// client and closes it after the broker.
func NewRedis(client *redis.Client, opts Options) *Redis {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Redis{
		client: client,
		prefix: opts.Prefix,
		log:    opts.Logger,
		ps:     client.Subscribe(ctx), // no channel yet: no connection either
		ctx:    ctx,
		cancel: cancel,
		active: make(map[string]struct{}),
		idle:   make(map[string]struct{}),
		wake:   make(chan struct{}, 1),
		pings:  make(map[string]chan error),

		restored: make(chan struct{}),
	}
	r.hub = newHub(opts, r.markIdle)
	r.wg.Add(2)
	go r.receive()
	go r.unsubscribeIdle()
	return r
}

// Publish sends payload to the stream's Redis channel. It fails promptly when
// Redis is unreachable (within 2 seconds if ctx has no deadline), so the
// caller can keep the event and retry.
func (r *Redis) Publish(ctx context.Context, stream string, payload []byte) error {
	if r.ctx.Err() != nil {
		return ErrBrokerClosed
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, publishTimeout)
		defer cancel()
	}
	if err := r.client.Publish(ctx, r.prefix+stream, payload).Err(); err != nil {
		return fmt.Errorf("broker: publish %q: %w", stream, err)
	}
	return nil
}

// Subscribe starts receiving the messages published to stream. It returns
// once Redis has confirmed the channel subscription, so every message
// published after it returns is delivered: the subscription layer relies on
// that to read the event log after subscribing without a gap. It fails while
// Redis is unreachable.
func (r *Redis) Subscribe(ctx context.Context, stream string) (*Subscription, error) {
	sub, err := r.hub.subscribe(ctx, stream)
	if err != nil {
		return nil, err
	}
	err = r.sync(stream)
	if err == nil {
		err = r.confirm(ctx)
	}
	if err != nil {
		sub.Close() // the unsubscribe goroutine drops the channel if it was the only subscriber
		return nil, fmt.Errorf("broker: subscribe %q: %w", stream, err)
	}
	return sub, nil
}

// Close ends every subscription with ErrBrokerClosed, closes the pub/sub
// connection and waits for the broker's goroutines. Calling it again does
// nothing. It does not close the Redis client.
func (r *Redis) Close() error {
	if !r.hub.close() {
		return nil
	}
	r.cancel()
	err := r.ps.Close() // unblocks the receive loop's read
	r.wg.Wait()
	if err != nil {
		return fmt.Errorf("broker: close redis pub/sub: %w", err)
	}
	return nil
}

// Healthy reports whether the pub/sub connection to Redis is up. While it is
// down, Subscribe fails and existing subscriptions receive nothing until
// go-redis has reconnected and subscribed the channels again.
func (r *Redis) Healthy() bool { return r.healthy.Load() }

// Restored returns a channel that is closed the next time the pub/sub
// connection comes back after an outage, once go-redis has subscribed the
// channels again. Messages published during the outage were lost, so
// subscribers use it to catch up from the durable log.
func (r *Redis) Restored() <-chan struct{} {
	r.restoredMu.Lock()
	defer r.restoredMu.Unlock()
	return r.restored
}

// receive reads the pub/sub connection and dispatches what arrives until
// Close. It runs no periodic health check: a Redis restart closes the socket,
// and go-redis dials with TCP keep-alive, which ends an idle half-open
// connection within a minute; either way the read fails and go-redis
// reconnects. (A Subscribe meanwhile fails after confirmTimeout.)
func (r *Redis) receive() {
	defer r.wg.Done()
	// down is true from a failure until the connection works again; it keeps
	// the log to one line per outage.
	connect, down, retry := true, false, time.Duration(0)
	fail := func(err error) {
		r.healthy.Store(false)
		r.failConfirmations(err)
		if !down {
			r.log.Warn("broker: redis pub/sub connection down; reconnecting", "error", err)
			down = true
		}
		connect, retry = true, min(max(2*retry, minRetry), maxRetry)
	}
	for {
		if connect {
			if retry > 0 {
				select {
				case <-r.ctx.Done():
					return
				case <-time.After(retry):
				}
			}
			// PING makes go-redis dial and subscribe every active channel
			// again; its pong marks the connection healthy even when no
			// channel is subscribed and nothing else would arrive.
			if err := r.command(r.ps.Ping, healthToken); err != nil {
				if r.ctx.Err() != nil {
					return
				}
				fail(err)
				continue
			}
			connect = false
		}

		msg, err := r.ps.Receive(r.ctx)
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			fail(err)
			continue
		}
		retry = 0
		r.healthy.Store(true)
		if down {
			r.log.Info("broker: redis pub/sub connection restored")
			down = false
			r.restoredMu.Lock()
			close(r.restored)
			r.restored = make(chan struct{})
			r.restoredMu.Unlock()
		}
		switch msg := msg.(type) {
		case *redis.Message:
			stream, ok := strings.CutPrefix(msg.Channel, r.prefix)
			if !ok {
				continue
			}
			r.hub.publish(&Message{Stream: stream, Payload: []byte(msg.Payload)})
		case *redis.Pong:
			r.answer(msg.Payload)
		}
	}
}

// failConfirmations fails the pending confirmations: their pongs may have
// been lost with the connection.
func (r *Redis) failConfirmations(err error) {
	r.pingMu.Lock()
	defer r.pingMu.Unlock()
	for token, done := range r.pings {
		done <- fmt.Errorf("redis pub/sub connection lost: %w", err)
		delete(r.pings, token)
	}
}

// answer completes the confirmation waiting for token, if any.
func (r *Redis) answer(token string) {
	r.pingMu.Lock()
	done, ok := r.pings[token]
	delete(r.pings, token)
	r.pingMu.Unlock()
	if ok {
		done <- nil // buffered, and only one sender: the entry is gone
	}
}

// confirm waits until Redis has processed every command written so far on
// the pub/sub connection. Redis answers the commands of one connection in
// order, so the pong of a PING written after a SUBSCRIBE proves that the
// subscription is in effect. After a reconnect go-redis writes the SUBSCRIBE
// for every channel before anything else, so the proof holds there too.
func (r *Redis) confirm(ctx context.Context) error {
	token := pingPrefix + strconv.FormatUint(r.pingSeq.Add(1), 10)
	done := make(chan error, 1)
	r.pingMu.Lock()
	r.pings[token] = done
	r.pingMu.Unlock()
	defer func() {
		r.pingMu.Lock()
		delete(r.pings, token)
		r.pingMu.Unlock()
	}()

	if err := r.command(r.ps.Ping, token); err != nil {
		return fmt.Errorf("ping redis pub/sub connection: %w", err)
	}
	timer := time.NewTimer(confirmTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-r.ctx.Done():
		return ErrBrokerClosed
	case <-timer.C:
		return fmt.Errorf("redis pub/sub connection: no answer within %s", confirmTimeout)
	}
}

// sync makes the Redis subscription of stream match its local subscribers:
// SUBSCRIBE if it has some and is not subscribed, UNSUBSCRIBE if it has none
// and is. Because it reads the current state under syncMu instead of acting
// on the event that triggered it, concurrent calls converge on the right
// state in any order.
func (r *Redis) sync(stream string) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	want := r.hub.has(stream)
	_, have := r.active[stream]
	channel := r.prefix + stream
	switch {
	case want && !have:
		// go-redis records the channel even when the write fails and
		// subscribes it on reconnect, so it is active either way.
		r.active[stream] = struct{}{}
		if err := r.command(r.ps.Subscribe, channel); err != nil {
			return fmt.Errorf("subscribe redis channel %q: %w", channel, err)
		}
	case !want && have:
		// Likewise go-redis forgets the channel even when the write fails.
		delete(r.active, stream)
		if err := r.command(r.ps.Unsubscribe, channel); err != nil {
			return fmt.Errorf("unsubscribe redis channel %q: %w", channel, err)
		}
	}
	return nil
}

// command runs one write on the shared pub/sub connection under the broker's
// own deadline. A caller's context is never handed to go-redis here: a write
// failing on a cancelled context makes go-redis drop and redial the shared
// connection, which would cost every other subscriber its in-flight messages.
func (r *Redis) command(write func(context.Context, ...string) error, args ...string) error {
	ctx, cancel := context.WithTimeout(r.ctx, commandTimeout)
	defer cancel()
	return write(ctx, args...)
}

// markIdle is the hub's onIdle: it queues stream for the unsubscribe
// goroutine without blocking, as the hub holds its lock.
func (r *Redis) markIdle(stream string) {
	r.idleMu.Lock()
	r.idle[stream] = struct{}{}
	r.idleMu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default: // a wake-up is already pending and will see stream
	}
}

// unsubscribeIdle UNSUBSCRIBEs the streams queued by markIdle until Close.
func (r *Redis) unsubscribeIdle() {
	defer r.wg.Done()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.wake:
		}
		r.idleMu.Lock()
		idle := r.idle
		r.idle = make(map[string]struct{})
		r.idleMu.Unlock()
		for stream := range idle {
			if err := r.sync(stream); err != nil && r.ctx.Err() == nil {
				// Harmless, hence not retried: go-redis has forgotten the
				// channel, and a failed write makes it replace the connection
				// with one that does not subscribe it.
				r.log.Debug("broker: unsubscribe failed", "stream", stream, "error", err)
			}
		}
	}
}
