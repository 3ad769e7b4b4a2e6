package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/persisted/store"
)

const query = `query Issue($id: ID!) { node(id: $id) { id ... on Issue { title } } }`

func TestAddThenGet(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		require.NoError(t, s.Add(ctx, hashOf(query), query))

		got, ok, err := s.Get(ctx, hashOf(query))
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, query, got)

		// Adding the same query again is harmless.
		require.NoError(t, s.Add(ctx, hashOf(query), query))
	})
}

func TestGetMiss(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		for _, hash := range []string{
			hashOf("{ never { added } }"),
			"",
			"not-a-hash",
			strings.ToUpper(hashOf(query)),
			strings.Repeat("a", 10_000),
		} {
			got, ok, err := s.Get(ctx, hash)
			require.NoError(t, err)
			assert.False(t, ok)
			assert.Empty(t, got)
		}
	})
}

func TestAddRefusesHashMismatch(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		other := "{ viewer { id } }"
		for _, hash := range []string{hashOf(other), "", strings.ToUpper(hashOf(query))} {
			err := s.Add(ctx, hash, query)
			require.ErrorIs(t, err, store.ErrHashMismatch)
		}
		_, ok, err := s.Get(ctx, hashOf(other))
		require.NoError(t, err)
		assert.False(t, ok, "a refused add stores nothing")
	})
}

func TestAddRefusesLargeQuery(t *testing.T) {
	// The default limit is 50 KiB, padded with a comment to stay a valid query.
	atLimit := query + "#" + strings.Repeat("x", 50<<10-len(query)-1)
	overLimit := atLimit + "x"

	forEachImplementation(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		require.NoError(t, s.Add(ctx, hashOf(atLimit), atLimit))

		err := s.Add(ctx, hashOf(overLimit), overLimit)
		require.ErrorIs(t, err, store.ErrTooLarge)
		_, ok, err := s.Get(ctx, hashOf(overLimit))
		require.NoError(t, err)
		assert.False(t, ok)
	})

	t.Run("configured", func(t *testing.T) {
		forEachImplementation(t, func(t *testing.T, s store.Store) {
			ctx := context.Background()
			require.ErrorIs(t, s.Add(ctx, hashOf(query), query), store.ErrTooLarge)
			small := "{ a }"
			require.NoError(t, s.Add(ctx, hashOf(small), small))
		}, store.WithMaxQueryBytes(len(query)-1))
	})
}

func TestRedisSetsTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := mustRedisClient(t)
	prefix := mustPrefix(t, client)

	tests := []struct {
		name string
		ttl  time.Duration
		want time.Duration
	}{
		{"configured", time.Hour, time.Hour},
		{"default", 0, 24 * time.Hour},
	}
	for _, tt := range tests {
		s := store.NewRedis(client, prefix+tt.name+":", tt.ttl)
		require.NoError(t, s.Add(ctx, hashOf(query), query))
		ttl, err := client.TTL(ctx, prefix+tt.name+":"+hashOf(query)).Result()
		require.NoError(t, err)
		assert.InDelta(t, tt.want, ttl, float64(time.Minute), tt.name)
	}
}

func TestRedisExpiredQueryIsMiss(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := mustRedisClient(t)
	s := store.NewRedis(client, mustPrefix(t, client), 50*time.Millisecond)

	require.NoError(t, s.Add(ctx, hashOf(query), query))
	require.Eventually(t, func() bool {
		_, ok, err := s.Get(ctx, hashOf(query))
		return err == nil && !ok
	}, 2*time.Second, 20*time.Millisecond)
}

func TestRedisInstancesShareQueries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clientA, clientB := mustRedisClient(t), mustRedisClient(t)
	prefix := mustPrefix(t, clientA)
	// Two stores on two connections stand for two server instances.
	a := store.NewRedis(clientA, prefix, time.Hour)
	b := store.NewRedis(clientB, prefix, time.Hour)

	require.NoError(t, a.Add(ctx, hashOf(query), query))
	got, ok, err := b.Get(ctx, hashOf(query))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, query, got)
}

func TestLRUEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	s := store.NewLRU(2)
	q1, q2, q3 := "{ a }", "{ b }", "{ c }"

	require.NoError(t, s.Add(ctx, hashOf(q1), q1))
	require.NoError(t, s.Add(ctx, hashOf(q2), q2))
	// Reading q1 makes q2 the least recently used.
	_, ok, err := s.Get(ctx, hashOf(q1))
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.Add(ctx, hashOf(q3), q3))

	for q, want := range map[string]bool{q1: true, q2: false, q3: true} {
		_, ok, err := s.Get(ctx, hashOf(q))
		require.NoError(t, err)
		assert.Equal(t, want, ok, q)
	}
}

func TestRedisUnavailableFailsPromptly(t *testing.T) {
	tests := []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"closed port", func(*testing.T) string { return "127.0.0.1:1" }},
		{"stalled server", func(t *testing.T) string { return stalledServer(t) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Default client options: the store's own bound must hold.
			client := redis.NewClient(&redis.Options{Addr: tt.addr(t)})
			t.Cleanup(func() { _ = client.Close() })
			s := store.NewRedis(client, "test:apq:", time.Hour, store.WithTimeout(100*time.Millisecond))
			ctx := context.Background()

			start := time.Now()
			_, ok, err := s.Get(ctx, hashOf(query))
			require.ErrorIs(t, err, store.ErrUnavailable)
			assert.False(t, ok)
			assert.Less(t, time.Since(start), time.Second)

			start = time.Now()
			require.ErrorIs(t, s.Add(ctx, hashOf(query), query), store.ErrUnavailable)
			assert.Less(t, time.Since(start), time.Second)
		})
	}
}
