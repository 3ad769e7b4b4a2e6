package subscriptions

import (
	"context"
	"database/sql"
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
	// ErrCursorAhead: the cursor is past the end of the log. The server
	// issued it, so the log lost its tail: the database was restored from
	// a backup taken before that event. The client must refetch.
	ErrCursorAhead = errors.New("cursor is newer than the event log's last event")
	// ErrClosed: the server is shutting down.
	ErrClosed = errors.New("real-time delivery is shutting down")
)

// FeedOptions configures a Feed.
type FeedOptions struct {
	// Retention is the log's retention; cursors older than it are
	// refused. Zero: no limit.
	Retention time.Duration
	// BufferSize is how many live events wait for one subscriber that is
	// still delivering earlier ones; past it the subscriber takes the rest
	// from the log instead. Zero: broker.DefaultBufferSize.
	BufferSize int
	Logger     *slog.Logger
}

// Feed follows streams for subscribers: live messages from the broker,
// with the durable log filling any gap.
//
// An instance holds one broker subscription per stream with local
// subscribers, and one goroutine per such stream that hands each message
// to every subscriber's bounded queue. A subscriber has no goroutine of its
// own while it waits: one takes it up when it has something to deliver (or
// to read from the log) and leaves it when it has delivered it (a runner
// keeps such goroutines for a moment, for the next fan-out). With thousands
// of subscribers that are idle most of the time, that is what keeps each
// one cheap.
type Feed struct {
	db     *sql.DB
	broker broker.Broker
	opts   FeedOptions

	mu      sync.Mutex
	streams map[string]*streamFeed

	active atomic.Int64 // subscribers following live, for tests and metrics

	drains *runner // runs followers' drains
}

// Active returns how many subscribers follow live (their stream's broker
// subscription is up).
func (f *Feed) Active() int { return int(f.active.Load()) }

// NewFeed returns a feed reading db and subscribing through b.
func NewFeed(db *sql.DB, b broker.Broker, opts FeedOptions) *Feed {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = broker.DefaultBufferSize
	}
	return &Feed{db: db, broker: b, opts: opts, streams: map[string]*streamFeed{}, drains: newRunner(runnerIdle)}
}

// restoreNotifier is implemented by brokers whose connection can drop and
// come back (Redis).
type restoreNotifier interface{ Restored() <-chan struct{} }

// Run watches the broker's connection until ctx ends, so subscribers catch
// up from the log after an outage even when no later event reveals the gap.
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
			streams := make([]*streamFeed, 0, len(f.streams))
			for _, sf := range f.streams {
				streams = append(streams, sf)
			}
			f.mu.Unlock()
			for _, sf := range streams {
				sf.allBehind()
			}
		}
	}
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
		var head int64
		if err := f.db.QueryRowContext(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&head); err != nil {
			return 0, fmt.Errorf("checking cursor: %w", err)
		}
		if p > head {
			return 0, ErrCursorAhead
		}
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
