package subscriptions

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/issuegraph/issuegraph/subscriptions/broker"
)

// Start follows s for one subscriber: deliver gets the events of s, in
// order, each exactly once, until ctx ends or deliver fails; then end is
// called once, with nil when ctx ended, or with why the subscriber was
// ended (deliver's error, ErrUnavailable, ErrClosed, a log read failing).
// With after >= 0 it first replays the log after that position; with
// after < 0 it starts with the events committed from now on. deliver gets
// one or more consecutive events.
//
// Start returns at once. deliver and end run on a goroutine started when
// there is something to deliver, one call at a time and never after end;
// while the subscriber waits for events it holds no goroutine.
func (f *Feed) Start(ctx context.Context, s Stream, after int64, deliver func([]Entry) error, end func(error)) {
	// running: offers only queue until the first drain starts, below.
	fl := &follower{f: f, s: s, ctx: ctx, after: after, deliver: deliver, end: end, running: true}
	fl.run = fl.drain
	name := s.Name()
	// Join the stream before reading the log (the follower's first run
	// waits for the stream's broker subscription): every event published
	// from then on reaches the follower live, anything earlier is in the
	// log.
	f.mu.Lock()
	sf := f.streams[name]
	create := sf == nil
	if create {
		sf = &streamFeed{f: f, s: s, ready: make(chan struct{}), followers: map[*follower]struct{}{}}
		f.streams[name] = sf
	}
	fl.sf = sf
	sf.mu.Lock()
	sf.followers[fl] = struct{}{}
	sf.mu.Unlock()
	f.mu.Unlock()
	if create {
		// Owned by the stream: it ends when its last follower leaves
		// (remove closes the broker subscription) or the broker closes.
		go sf.run()
	}
	fl.stop = context.AfterFunc(ctx, fl.cancel)
	// Owned by the follower, like every later drain: it returns once
	// nothing is left to deliver, or after end.
	f.drains.run(fl.run)
}

// streamFeed is the instance's one broker subscription to a stream, and
// the followers it hands each message to.
type streamFeed struct {
	f     *Feed
	s     Stream
	ready chan struct{} // closed once the broker subscription is up, or err is set
	err   error

	mu        sync.Mutex
	followers map[*follower]struct{}
	sub       *broker.Subscription
	closed    bool // left f.streams: nobody joins any more
}

// run subscribes to the stream, then hands every message to every follower
// until the last one leaves or the broker closes.
func (sf *streamFeed) run() {
	sub, err := sf.f.subscribe(context.Background(), sf.s)
	sf.mu.Lock()
	sf.err = err
	closed := sf.closed
	if err == nil && !closed {
		sf.sub = sub
	}
	close(sf.ready)
	sf.mu.Unlock()
	switch {
	case err != nil:
		sf.failAll(err)
		return
	case closed:
		sub.Close()
		return
	}
	for {
		msg, ok := <-sub.C()
		if !ok {
			serr := sub.Err()
			switch {
			case serr == nil:
				return // the last follower left (remove closed sub)
			case !errors.Is(serr, broker.ErrSlowConsumer):
				sf.failAll(ErrClosed)
				return
			}
			// This goroutine fell behind the broker (it never waits for a
			// follower, so only under extreme load): subscribe again, and
			// every follower takes what was missed from the log.
			if sub, err = sf.f.subscribe(context.Background(), sf.s); err != nil {
				sf.failAll(err)
				return
			}
			sf.mu.Lock()
			if sf.closed {
				sf.mu.Unlock()
				sub.Close()
				return
			}
			sf.sub = sub
			sf.mu.Unlock()
			sf.allBehind()
			continue
		}
		e := new(Entry)
		if err := json.Unmarshal(msg.Payload, e); err != nil {
			sf.f.opts.Logger.Warn("subscriptions: undecodable message", "stream", msg.Stream, "error", err)
			continue
		}
		e.Received = time.Now()
		sf.mu.Lock()
		for fl := range sf.followers {
			fl.offer(e)
		}
		sf.mu.Unlock()
	}
}

// allBehind makes every follower check the log for what it missed.
func (sf *streamFeed) allBehind() {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	for fl := range sf.followers {
		fl.markBehind()
	}
}

// failAll ends every follower with err and takes the stream out of the
// feed: the next subscriber subscribes anew.
func (sf *streamFeed) failAll(err error) {
	f := sf.f
	f.mu.Lock()
	sf.mu.Lock()
	sf.closed = true
	if f.streams[sf.s.Name()] == sf {
		delete(f.streams, sf.s.Name())
	}
	fls := make([]*follower, 0, len(sf.followers))
	for fl := range sf.followers {
		fls = append(fls, fl)
	}
	sf.mu.Unlock()
	f.mu.Unlock()
	for _, fl := range fls {
		fl.fail(err)
	}
}

// remove takes fl out of the stream; the last one out closes the broker
// subscription, which ends run.
func (sf *streamFeed) remove(fl *follower) {
	f := sf.f
	f.mu.Lock()
	sf.mu.Lock()
	delete(sf.followers, fl)
	var sub *broker.Subscription
	if len(sf.followers) == 0 && !sf.closed {
		sf.closed = true
		if f.streams[sf.s.Name()] == sf {
			delete(f.streams, sf.s.Name())
		}
		sub = sf.sub
	}
	sf.mu.Unlock()
	f.mu.Unlock()
	if sub != nil {
		sub.Close()
	}
}

// follower is one subscriber of a stream.
type follower struct {
	f       *Feed
	sf      *streamFeed
	s       Stream
	ctx     context.Context
	after   int64
	deliver func([]Entry) error
	end     func(error)
	stop    func() bool // unregisters cancel from ctx
	run     func()      // drain, as a func value made once (not one per event)

	// Only the running goroutine (drain) reads and writes these.
	started bool
	last    int64

	mu      sync.Mutex
	queue   []*Entry // live events not delivered yet, at most opts.BufferSize
	behind  bool     // the log may hold events the queue lacks
	running bool     // drain is running
	stopped bool     // ctx ended or the stream failed: drain ends the follower
	stopErr error    // why the stream failed
	live    bool     // counted in Feed.active
	ended   bool
}

// kickLocked starts drain unless it runs. fl.mu must be held.
func (fl *follower) kickLocked() {
	if !fl.running && !fl.ended {
		fl.running = true
		// Owned by the follower: it returns once nothing is left to
		// deliver, or after end. On a goroutine an earlier drain grew.
		fl.f.drains.run(fl.run)
	}
}

// offer queues a live event; a follower whose queue is full drops it and
// reads the log instead.
func (fl *follower) offer(e *Entry) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.stopped || fl.ended {
		return
	}
	if len(fl.queue) >= fl.f.opts.BufferSize {
		fl.queue = nil
		fl.behind = true
	} else {
		fl.queue = append(fl.queue, e)
	}
	fl.kickLocked()
}

func (fl *follower) markBehind() {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	fl.behind = true
	fl.kickLocked()
}

// cancel runs when ctx ends.
func (fl *follower) cancel() {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	fl.stopped = true
	fl.kickLocked()
}

func (fl *follower) fail(err error) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if !fl.stopped {
		fl.stopped, fl.stopErr = true, err
	}
	fl.kickLocked()
}

// drain delivers what the follower has to deliver, then returns; it ends
// the follower when it was stopped or delivery failed.
func (fl *follower) drain() {
	if !fl.started {
		if err := fl.start(); err != nil {
			fl.finish(err)
			return
		}
		fl.started = true
	}
	for {
		fl.mu.Lock()
		if fl.stopped {
			err := fl.stopErr
			fl.mu.Unlock()
			fl.finish(err)
			return
		}
		if fl.behind {
			fl.behind = false
			fl.mu.Unlock()
			if err := fl.catchUp(); err != nil {
				fl.finish(err)
				return
			}
			continue
		}
		batch := fl.queue
		fl.queue = nil
		if len(batch) == 0 {
			fl.running = false
			fl.mu.Unlock()
			return
		}
		fl.mu.Unlock()
		if err := fl.deliverBatch(batch); err != nil || fl.ctx.Err() != nil {
			fl.finish(err)
			return
		}
	}
}

// deliverBatch delivers the queued live events batch, in order; it
// returns early, without error, once the follower's context ends.
func (fl *follower) deliverBatch(batch []*Entry) error {
	for _, e := range batch {
		if fl.ctx.Err() != nil {
			return nil
		}
		switch {
		case e.Position <= fl.last:
			// Already delivered (replayed, or published again by a
			// relay that took over).
		case e.Prev == fl.last:
			if err := fl.deliver([]Entry{*e}); err != nil {
				return err
			}
			fl.last = e.Position
		default:
			// Something between last and e was not received: the log
			// has it (and e).
			if err := fl.catchUp(); err != nil {
				return err
			}
		}
	}
	return nil
}

// start waits for the stream's broker subscription, then finds where to
// start: the log's head, or the events after the cursor.
func (fl *follower) start() error {
	select {
	case <-fl.sf.ready:
	case <-fl.ctx.Done():
		return nil
	}
	if fl.sf.err != nil {
		return fl.sf.err
	}
	if fl.after < 0 {
		var err error
		if fl.last, err = head(fl.ctx, fl.f.db, fl.s); err != nil {
			return err
		}
	} else {
		fl.last = fl.after
	}
	// Counted as active only now that its start is fixed: an event that
	// commits once Active counts it is delivered to it, never taken for
	// part of the log before it started.
	fl.mu.Lock()
	fl.live = true
	fl.mu.Unlock()
	fl.f.active.Add(1)
	if fl.after < 0 {
		return nil
	}
	return fl.catchUp()
}

// catchUp delivers what the log holds after the last delivered event.
func (fl *follower) catchUp() error {
	for {
		entries, err := readAfter(fl.ctx, fl.f.db, fl.s, fl.last, replayPage)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		if err := fl.deliver(entries); err != nil {
			return err
		}
		fl.last = entries[len(entries)-1].Position
		if len(entries) < replayPage {
			return nil
		}
	}
}

// finish ends the follower: it leaves the stream and end is called.
func (fl *follower) finish(err error) {
	fl.mu.Lock()
	if fl.ended {
		fl.mu.Unlock()
		return
	}
	fl.ended, fl.stopped, fl.queue = true, true, nil
	live := fl.live
	fl.mu.Unlock()
	fl.stop()
	fl.sf.remove(fl)
	if live {
		fl.f.active.Add(-1)
	}
	if fl.ctx.Err() != nil {
		err = nil
	}
	fl.end(err)
}
