package store_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/persisted/store"
)

// redisAddr is the real Redis the tests run against.
const redisAddr = "127.0.0.1:6379"

// mustRedisClient returns a client of the test Redis, failing the test when it
// does not answer.
func mustRedisClient(tb testing.TB) *redis.Client {
	tb.Helper()
	client := redis.NewClient(&redis.Options{Addr: redisAddr})
	tb.Cleanup(func() { _ = client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.NoError(tb, client.Ping(ctx).Err(), "tests need Redis at %s", redisAddr)
	return client
}

// mustPrefix returns a key prefix of its own for one test and deletes its keys
// when the test ends, so parallel tests and other users of the Redis never meet.
func mustPrefix(tb testing.TB, client *redis.Client) string {
	tb.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	prefix := "test:apq:" + hex.EncodeToString(b) + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			_ = client.Del(ctx, iter.Val()).Err()
		}
	})
	return prefix
}

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

// stalledServer accepts connections and never answers, like a Redis that hangs.
func stalledServer(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, conn := range conns {
			_ = conn.Close()
		}
	})
	return ln.Addr().String()
}
