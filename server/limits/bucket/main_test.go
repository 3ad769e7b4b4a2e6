package bucket_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/limits/bucket"
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
	prefix := "test:bucket:" + hex.EncodeToString(b) + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			_ = client.Del(ctx, iter.Val()).Err()
		}
	})
	return prefix
}

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is one Limiter under test with the means to let time pass for it.
type fixture struct {
	limiter bucket.Limiter
	// advance lets d pass for the limiter: a fake clock moves for the memory
	// implementation, the test sleeps for Redis, whose server clock is real.
	advance func(d time.Duration)
}

type implementation struct {
	name string
	new  func(t *testing.T, opts ...bucket.Option) fixture
}

var implementations = []implementation{
	{
		name: "memory",
		new: func(t *testing.T, opts ...bucket.Option) fixture {
			clock := newFakeClock()
			opts = append(opts, bucket.WithClock(clock.Now))
			return fixture{limiter: bucket.NewMemory(opts...), advance: clock.Advance}
		},
	},
	{
		name: "redis",
		new: func(t *testing.T, opts ...bucket.Option) fixture {
			client := mustRedisClient(t)
			return fixture{limiter: bucket.NewRedis(client, mustPrefix(t, client), opts...), advance: time.Sleep}
		},
	},
}

// forEachImplementation runs test against every Limiter implementation.
func forEachImplementation(t *testing.T, test func(t *testing.T, f fixture), opts ...bucket.Option) {
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
