package bucket_test

import (
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/issuegraph/issuegraph/server/limits/bucket"
	"github.com/issuegraph/issuegraph/server/redistest"
)

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
	// advance lets exactly d pass for the limiter: both implementations run
	// on a fake clock (TestRedisServerClock covers Redis' own).
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
			clock := newFakeClock()
			opts = append(opts, bucket.WithClock(clock.Now))
			return fixture{limiter: bucket.NewRedis(client, mustPrefix(t, client), opts...), advance: clock.Advance}
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

func mustRedisClient(tb testing.TB) *redis.Client { return redistest.Client(tb) }

func mustPrefix(tb testing.TB, client *redis.Client) string {
	return redistest.Prefix(tb, client, "bucket")
}

func stalledServer(tb testing.TB) string { return redistest.StalledServer(tb) }
