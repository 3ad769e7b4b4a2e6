package subscriptions

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/issuegraph/issuegraph/subscriptions/broker"
)

// replayPage is how many events a catch-up reads per query.
const replayPage = 200

// Errors a Feed reports to the subscription layer.
var (
	// ErrUnavailable: the broker cannot take a subscription now (Redis is
	// unreachable); the client should retry with its cursor.
	ErrUnavailable = errors.New("real-time delivery is unavailable; retry with your last cursor")
	// ErrCursorExpired: the cursor is older than the log's retention, or
	// names no event of this stream.
	ErrCursorExpired = errors.New("cursor is older than the event log's retention or not from this stream")
	// ErrClosed: the server is shutting down.
	ErrClosed = errors.New("real-time delivery is shutting down")
)

// FeedOptions configures a Feed.
type FeedOptions struct {
	// Retention is the log's retention; cursors older than it are
	// refused. Zero: no limit.
	Retention time.Duration
	Logger    *slog.Logger
}

// Feed follows streams for subscribers: live messages from the broker,
// with the durable log filling any gap.
type Feed struct {
	db     *sql.DB
	broker broker.Broker
	opts   FeedOptions

	// restored is closed and replaced each time the broker's connection
	// comes back, telling every follower to check the log for what it
	// missed meanwhile.
	mu       sync.Mutex
	restored chan struct{}

	active atomic.Int64 // streams being followed, for tests and metrics
}

// Active returns how many follows are live (subscribed to the broker).
func (f *Feed) Active() int { return int(f.active.Load()) }

// NewFeed returns a feed reading db and subscribing through b.
func NewFeed(db *sql.DB, b broker.Broker, opts FeedOptions) *Feed {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Feed{db: db, broker: b, opts: opts, restored: make(chan struct{})}
}

// restoreNotifier is implemented by brokers whose connection can drop and
// come back (Redis).
type restoreNotifier interface{ Restored() <-chan struct{} }

// Run watches the broker's connection until ctx ends, so followers catch up
// from the log after an outage even when no later event reveals the gap.
func (f *Feed) Run(ctx context.Context) {
	rn, ok := f.broker.(restoreNotifier)
	if !ok {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-rn.Restored():
			f.mu.Lock()
			close(f.restored)
			f.restored = make(chan struct{})
			f.mu.Unlock()
		}
	}
}

func (f *Feed) restoredC() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restored
}

// CheckCursor returns the position of cursor after checking it belongs to
// the log's retained part of stream s.
func (f *Feed) CheckCursor(ctx context.Context, s Stream, cursor string) (int64, error) {
	p, err := ParseCursor(cursor)
	if err != nil {
		return 0, err
	}
	if p == 0 {
		return 0, nil
	}
	var createdAt time.Time
	err = f.db.QueryRowContext(ctx, `SELECT created_at FROM events WHERE position = $1 AND `+s.column()+` = $2`, p, s.ID).Scan(&createdAt)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrCursorExpired
	}
	if err != nil {
		return 0, fmt.Errorf("checking cursor: %w", err)
	}
	if f.opts.Retention > 0 && time.Since(createdAt) > f.opts.Retention {
		return 0, ErrCursorExpired
	}
	return p, nil
}

// Follow delivers the events of s to deliver, in order, each exactly once,
// until ctx ends or deliver fails. With after >= 0 it first replays the
// log after that position; with after < 0 it starts with the events
// committed from now on. deliver gets one or more consecutive events.
func (f *Feed) Follow(ctx context.Context, s Stream, after int64, deliver func([]Entry) error) error {
	// Subscribe before reading the log: the broker confirms the
	// subscription, so every event published afterwards arrives live and
	// anything earlier is in the log.
	sub, err := f.subscribe(ctx, s)
	if err != nil {
		return err
	}
	defer func() { sub.Close() }()
	f.active.Add(1)
	defer f.active.Add(-1)
	last := after
	if after < 0 {
		if last, err = head(ctx, f.db, s); err != nil {
			return err
		}
	}
	catchUp := func() error {
		for {
			entries, err := readAfter(ctx, f.db, s, last, replayPage)
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				return nil
			}
			if err := deliver(entries); err != nil {
				return err
			}
			last = entries[len(entries)-1].Position
			if len(entries) < replayPage {
				return nil
			}
		}
	}
	if after >= 0 {
		if err := catchUp(); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-f.restoredC():
			if err := catchUp(); err != nil {
				return err
			}
		case msg, ok := <-sub.C():
			if !ok {
				if !errors.Is(sub.Err(), broker.ErrSlowConsumer) {
					if ctx.Err() != nil {
						return nil
					}
					return ErrClosed
				}
				// A burst overflowed the buffer while this follower was
				// delivering: subscribe again and take the rest from the log.
				if sub, err = f.subscribe(ctx, s); err != nil {
					return err
				}
				if err := catchUp(); err != nil {
					return err
				}
				continue
			}
			v, err := msg.Decode(decodeEntry)
			if err != nil {
				f.opts.Logger.Warn("subscriptions: undecodable message", "stream", msg.Stream, "error", err)
				continue
			}
			e := v.(Entry)
			switch {
			case e.Position <= last:
				// Already delivered (replayed, or published again by a
				// relay that took over).
			case e.Prev == last:
				if err := deliver([]Entry{e}); err != nil {
					return err
				}
				last = e.Position
			default:
				// Something between last and e was not received: the log
				// has it (and e).
				if err := catchUp(); err != nil {
					return err
				}
			}
		}
	}
}

// decodeEntry decodes a broker message into its Entry (once per message,
// for all the stream's local subscribers: see broker.Message.Decode).
func decodeEntry(payload []byte) (any, error) {
	var e Entry
	err := json.Unmarshal(payload, &e)
	return e, err
}

func (f *Feed) subscribe(ctx context.Context, s Stream) (*broker.Subscription, error) {
	sub, err := f.broker.Subscribe(ctx, s.Name())
	if err != nil {
		if errors.Is(err, broker.ErrBrokerClosed) {
			return nil, ErrClosed
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		f.opts.Logger.Warn("subscriptions: broker subscribe failed", "stream", s.Name(), "error", err)
		return nil, ErrUnavailable
	}
	return sub, nil
}
