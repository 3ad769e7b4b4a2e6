package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/issuegraph/issuegraph/server/persisted/store"
	"github.com/issuegraph/issuegraph/server/redistest"
)

// hashOf returns the APQ hash of query.
func hashOf(query string) string {
	sum := sha256.Sum256([]byte(query))
	return hex.EncodeToString(sum[:])
}

type implementation struct {
	name string
	new  func(t *testing.T, opts ...store.Option) store.Store
}

var implementations = []implementation{
	{
		name: "lru",
		new: func(t *testing.T, opts ...store.Option) store.Store {
			return store.NewLRU(0, opts...)
		},
	},
	{
		name: "redis",
		new: func(t *testing.T, opts ...store.Option) store.Store {
			client := mustRedisClient(t)
			return store.NewRedis(client, mustPrefix(t, client), 0, opts...)
		},
	},
}

// forEachImplementation runs test against every Store implementation.
func forEachImplementation(t *testing.T, test func(t *testing.T, s store.Store), opts ...store.Option) {
	t.Helper()
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			test(t, impl.new(t, opts...))
		})
	}
}

func mustRedisClient(tb testing.TB) *redis.Client { return redistest.Client(tb) }

func mustPrefix(tb testing.TB, client *redis.Client) string {
	return redistest.Prefix(tb, client, "apq")
}

func stalledServer(tb testing.TB) string { return redistest.StalledServer(tb) }
