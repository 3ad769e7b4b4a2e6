package subscriptions_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/subscriptions"
	"github.com/issuegraph/issuegraph/subscriptions/broker"
)

const (
	feedWait = 20 * time.Second
	feedPoll = 10 * time.Millisecond
)

var project1 = subscriptions.Stream{Kind: subscriptions.ProjectStream, ID: 1}

// feedEnv is a database, an in-process broker, a relay publishing what is
// inserted into the events table, and a feed following it.
type feedEnv struct {
	db   *database.DB
	feed *subscriptions.Feed
}

func newFeedEnv(t *testing.T, buffer int) *feedEnv {
	t.Helper()
	// A bounded pool, as in production: hundreds of subscribers replaying
	// at once wait for a connection rather than exhaust the server's.
	db := databasetest.New(t, database.Options{MaxOpenConns: 10})
	ctx, cancel := context.WithCancel(context.Background())
	// The broker holds the stream's one subscription: room for every
	// burst here, so only the subscribers' queues (buffer) overflow.
	b := broker.NewMemory(broker.Options{BufferSize: 1000})
	relay := subscriptions.NewRelay(db.SQL, b, subscriptions.RelayOptions{PollInterval: 10 * time.Millisecond})
	done := make(chan struct{})
	go func() { defer close(done); relay.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = b.Close() })
	return &feedEnv{db: db, feed: subscriptions.NewFeed(db.SQL, b, subscriptions.FeedOptions{BufferSize: buffer})}
}

// insert records n events of project 1; the relay publishes them.
func (e *feedEnv) insert(t *testing.T, n int) {
	t.Helper()
	for range n {
		_, err := e.db.SQL.Exec(`INSERT INTO events (type, project_id, subject_id, created_at, published) VALUES ('issue.created', 1, 1, now(), false)`)
		require.NoError(t, err)
	}
}

// recorder collects what one subscriber is delivered.
type recorder struct {
	mu        sync.Mutex
	positions []int64
	fromLog   int
	ended     int
	endErr    error
	afterEnd  int // deliveries after end: must stay 0
}

func (r *recorder) deliver(entries []subscriptions.Entry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended > 0 {
		r.afterEnd++
	}
	for _, e := range entries {
		r.positions = append(r.positions, e.Position)
		if e.FromLog {
			r.fromLog++
		}
	}
	return nil
}

func (r *recorder) end(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended++
	r.endErr = err
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.positions)
}

// assertSequence checks r got positions 1..n, in order, each once.
func (r *recorder) assertSequence(t *testing.T, n int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	assert.Equal(t, want, r.positions)
}

// TestFeedFansOutInOrderExactlyOnce: many subscribers of one stream, some
// replaying the log from the start while events keep coming, all get
// every event once, in order; an idle subscriber holds no goroutine; and
// ending one calls its end once, with nothing delivered after it.
func TestFeedFansOutInOrderExactlyOnce(t *testing.T) {
	env := newFeedEnv(t, 64)
	const subs, events = 200, 30
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	env.insert(t, 10) // before anyone subscribes: only a replay finds them
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, env.db.SQL.QueryRow(`SELECT count(*) FROM events WHERE published`).Scan(&n))
		return n == 10
	}, feedWait, feedPoll)

	goroutines := runtime.NumGoroutine()
	recs := make([]*recorder, subs)
	for i := range recs {
		recs[i] = &recorder{}
		env.feed.Start(ctx, project1, 0, recs[i].deliver, recs[i].end)
	}
	require.Eventually(t, func() bool { return env.feed.Active() == subs }, feedWait, feedPoll)
	for _, r := range recs {
		require.Eventually(t, func() bool { return r.count() == 10 }, feedWait, feedPoll, "the replay")
		r.mu.Lock()
		require.Zero(t, r.ended, "ended early: %v", r.endErr)
		r.mu.Unlock()
	}
	// Idle: the stream's goroutine waits, the subscribers hold none.
	require.Eventually(t, func() bool { return runtime.NumGoroutine()-goroutines < subs/10 }, feedWait, feedPoll,
		"idle subscribers hold goroutines: %d more than before %d subscribed", runtime.NumGoroutine()-goroutines, subs)

	env.insert(t, events-10)
	for _, r := range recs {
		require.Eventually(t, func() bool { return r.count() >= events }, feedWait, feedPoll)
	}
	for _, r := range recs {
		r.assertSequence(t, events)
	}

	cancel()
	require.Eventually(t, func() bool { return env.feed.Active() == 0 }, feedWait, feedPoll)
	env.insert(t, 5)
	time.Sleep(100 * time.Millisecond) // room for a wrong delivery after end
	for _, r := range recs {
		r.mu.Lock()
		assert.Equal(t, 1, r.ended, "end is called once")
		assert.NoError(t, r.endErr, "ending the context is no error")
		assert.Zero(t, r.afterEnd)
		assert.Len(t, r.positions, events, "nothing after the context ended")
		r.mu.Unlock()
	}
}

// TestFeedSubscriberBehindCatchesUpFromLog: a subscriber that does not
// keep up overflows its queue while the others take every event live; it
// then catches up from the log, and still gets every event once, in order.
func TestFeedSubscriberBehindCatchesUpFromLog(t *testing.T) {
	env := newFeedEnv(t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	fast := &recorder{}
	env.feed.Start(ctx, project1, -1, fast.deliver, fast.end)
	slow := &recorder{}
	gate := make(chan struct{})
	var once sync.Once
	env.feed.Start(ctx, project1, -1, func(entries []subscriptions.Entry) error {
		once.Do(func() { <-gate }) // stuck on its first event
		return slow.deliver(entries)
	}, slow.end)
	require.Eventually(t, func() bool { return env.feed.Active() == 2 }, feedWait, feedPoll)

	// One event at a time: the subscriber that keeps up never has more
	// than one waiting; the stuck one overflows its queue of 4 (on events
	// 6, 11, 16 and 21: the last one overflows too, so no later event
	// shows the gap; only the overflow itself sends it to the log).
	const events = 21
	for i := 1; i <= events; i++ {
		env.insert(t, 1)
		require.Eventually(t, func() bool { return fast.count() == i }, feedWait, feedPoll)
	}
	close(gate)
	require.Eventually(t, func() bool { return slow.count() >= events }, feedWait, feedPoll)
	time.Sleep(50 * time.Millisecond) // room for a duplicate
	fast.assertSequence(t, events)
	slow.assertSequence(t, events)
	slow.mu.Lock()
	assert.Positive(t, slow.fromLog, "the events its queue could not hold came from the log")
	slow.mu.Unlock()
	fast.mu.Lock()
	assert.Zero(t, fast.fromLog, "a subscriber that keeps up gets every event live")
	fast.mu.Unlock()
}

// TestFeedDeliverErrorEndsOnlyThatSubscriber: deliver failing ends its
// subscriber with that error; the stream's other subscribers go on.
func TestFeedDeliverErrorEndsOnlyThatSubscriber(t *testing.T) {
	env := newFeedEnv(t, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	boom := errors.New("client gone")
	failing := &recorder{}
	env.feed.Start(ctx, project1, -1, func([]subscriptions.Entry) error { return boom }, failing.end)
	other := &recorder{}
	env.feed.Start(ctx, project1, -1, other.deliver, other.end)
	require.Eventually(t, func() bool { return env.feed.Active() == 2 }, feedWait, feedPoll)

	env.insert(t, 3)
	require.Eventually(t, func() bool { return env.feed.Active() == 1 }, feedWait, feedPoll)
	require.Eventually(t, func() bool { return other.count() == 3 }, feedWait, feedPoll)
	failing.mu.Lock()
	assert.Equal(t, 1, failing.ended)
	assert.ErrorIs(t, failing.endErr, boom)
	failing.mu.Unlock()
	other.assertSequence(t, 3)

	env.insert(t, 2)
	require.Eventually(t, func() bool { return other.count() == 5 }, feedWait, feedPoll)
	other.assertSequence(t, 5)
}

// TestFeedBrokerClosedEndsSubscribers: the broker closing (shutdown) ends
// every subscriber with ErrClosed, so clients resume elsewhere.
func TestFeedBrokerClosedEndsSubscribers(t *testing.T) {
	db := databasetest.New(t, database.Options{})
	b := broker.NewMemory(broker.Options{})
	feed := subscriptions.NewFeed(db.SQL, b, subscriptions.FeedOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recs := []*recorder{{}, {}}
	for _, r := range recs {
		feed.Start(ctx, project1, -1, r.deliver, r.end)
	}
	require.Eventually(t, func() bool { return feed.Active() == 2 }, feedWait, feedPoll)
	require.NoError(t, b.Close())
	require.Eventually(t, func() bool { return feed.Active() == 0 }, feedWait, feedPoll)
	for _, r := range recs {
		r.mu.Lock()
		assert.Equal(t, 1, r.ended)
		assert.ErrorIs(t, r.endErr, subscriptions.ErrClosed)
		r.mu.Unlock()
	}
}

// TestCheckCursorTellsAheadFromExpired: a cursor past the log's last
// event (a database restored from an older backup) is refused with its own
// error, apart from one that is unknown or too old.
func TestCheckCursorTellsAheadFromExpired(t *testing.T) {
	e := newFeedEnv(t, 0)
	e.insert(t, 3)
	var head int64
	require.Eventually(t, func() bool {
		require.NoError(t, e.db.SQL.QueryRow(`SELECT coalesce(max(position), 0) FROM events`).Scan(&head))
		return head == 3
	}, feedWait, feedPoll)
	ctx := context.Background()

	p, err := e.feed.CheckCursor(ctx, project1, subscriptions.Cursor(2))
	require.NoError(t, err)
	assert.Equal(t, int64(2), p)
	_, err = e.feed.CheckCursor(ctx, project1, subscriptions.Cursor(head+5))
	assert.ErrorIs(t, err, subscriptions.ErrCursorAhead)
	_, err = e.feed.CheckCursor(ctx, subscriptions.Stream{Kind: subscriptions.ProjectStream, ID: 2}, subscriptions.Cursor(2))
	assert.ErrorIs(t, err, subscriptions.ErrCursorExpired, "an event of another stream")
}
