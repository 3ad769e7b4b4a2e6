package subscriptions_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/subscriptions"
	"github.com/issuegraph/issuegraph/subscriptions/broker"
)

// TestRelayOrdersByCommitNotByID holds a transaction with a smaller event
// id open while a later one commits: the later one is published first,
// the held one gets the next position when it commits, and the stream has
// no hole and no repeat.
func TestRelayOrdersByCommitNotByID(t *testing.T) {
	t.Parallel()
	db := databasetest.New(t, database.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := broker.NewMemory(broker.Options{BufferSize: 100})
	defer b.Close()
	sub, err := b.Subscribe(ctx, "project:1")
	require.NoError(t, err)
	relay := subscriptions.NewRelay(db.SQL, b, subscriptions.RelayOptions{PollInterval: 20 * time.Millisecond})
	done := make(chan struct{})
	go func() { defer close(done); relay.Run(ctx) }()
	defer func() { cancel(); <-done }()

	insert := `INSERT INTO events (type, project_id, subject_id, created_at, published) VALUES ($1, 1, 1, now(), false) RETURNING id`
	held, err := db.SQL.BeginTx(ctx, nil)
	require.NoError(t, err)
	var heldID, laterID int64
	require.NoError(t, held.QueryRowContext(ctx, insert, "held").Scan(&heldID))
	require.NoError(t, db.SQL.QueryRowContext(ctx, insert, "later").Scan(&laterID))
	require.Less(t, heldID, laterID)

	next := func() subscriptions.Entry {
		t.Helper()
		select {
		case m := <-sub.C():
			var e subscriptions.Entry
			require.NoError(t, json.Unmarshal(m.Payload, &e))
			return e
		case <-time.After(20 * time.Second):
			t.Fatal("nothing published")
			return subscriptions.Entry{}
		}
	}
	first := next()
	assert.Equal(t, "later", first.Type)
	assert.Equal(t, laterID, first.ID)
	assert.Equal(t, int64(1), first.Position)
	assert.Equal(t, int64(0), first.Prev)

	require.NoError(t, held.Commit())
	second := next()
	assert.Equal(t, "held", second.Type)
	assert.Equal(t, heldID, second.ID)
	assert.Equal(t, int64(2), second.Position)
	assert.Equal(t, int64(1), second.Prev, "names the stream's previous position, so a subscriber can see a gap")

	var unpublished int
	require.Eventually(t, func() bool {
		require.NoError(t, db.SQL.QueryRow(`SELECT count(*) FROM events WHERE NOT published`).Scan(&unpublished))
		return unpublished == 0
	}, 20*time.Second, 20*time.Millisecond)
}

// TestCursorRoundTrip: cursors are opaque and refuse what the server did
// not issue.
func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	p, err := subscriptions.ParseCursor(subscriptions.Cursor(42))
	require.NoError(t, err)
	assert.Equal(t, int64(42), p)
	for _, bad := range []string{"", "42", "ZXYx", "!!!", "ZXYxOi0x" /* ev1:-1 */} {
		_, err := subscriptions.ParseCursor(bad)
		assert.ErrorIs(t, err, subscriptions.ErrBadCursor, bad)
	}
}

// TestRelayStopsWhileDatabaseUnreachable: a relay started while the
// database it LISTENs on cannot be reached still stops when asked, so an
// instance can shut down during a database outage.
func TestRelayStopsWhileDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	db := databasetest.New(t, database.Options{})
	b := broker.NewMemory(broker.Options{BufferSize: 10})
	defer b.Close()
	relay := subscriptions.NewRelay(db.SQL, b, subscriptions.RelayOptions{
		DatabaseURL:  "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=1",
		PollInterval: 20 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); relay.Run(ctx) }()
	time.Sleep(100 * time.Millisecond) // Run is waiting for the listener's connection
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the relay did not stop while its LISTEN connection could not be made")
	}
}
