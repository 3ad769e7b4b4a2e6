package bucket_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/limits/bucket"
)

func TestChargeUntilEmptyThenRefused(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, f fixture) {
		ctx := context.Background()
		// A slow refill keeps the points restored while the test runs negligible.
		policy := bucket.Policy{Capacity: 10, RestoreRate: 0.1}

		for i := 1; i <= 10; i++ {
			res, err := f.limiter.Charge(ctx, "user:42", 1, policy)
			require.NoError(t, err)
			require.True(t, res.Allowed, "charge %d", i)
			assert.Equal(t, 10-i, res.Remaining)
			assert.Equal(t, 10, res.Limit)
			assert.Zero(t, res.RetryAfter)
		}

		res, err := f.limiter.Charge(ctx, "user:42", 3, policy)
		require.NoError(t, err)
		assert.False(t, res.Allowed)
		assert.False(t, res.NeverFits)
		assert.Equal(t, 0, res.Remaining)
		assert.Equal(t, 10, res.Limit)
		// 3 points at 0.1 point/s take 30s; no time passed on the clock.
		assert.Equal(t, 30*time.Second, res.RetryAfter)
		assert.Equal(t, 100*time.Second, res.ResetAfter)

		// The refused charge took nothing, and other keys are untouched.
		peek, err := f.limiter.Peek(ctx, "user:42", policy)
		require.NoError(t, err)
		assert.Equal(t, 0, peek.Remaining)
		other, err := f.limiter.Peek(ctx, "user:43", policy)
		require.NoError(t, err)
		assert.Equal(t, 10, other.Remaining)
	})
}

func TestRefillOverTime(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, f fixture) {
		ctx := context.Background()
		// One point every 20ms, on a clock that moves only when told to.
		policy := bucket.Policy{Capacity: 5, RestoreRate: 50}

		res, err := f.limiter.Charge(ctx, "apikey:7", 5, policy)
		require.NoError(t, err)
		require.True(t, res.Allowed)
		assert.Equal(t, 0, res.Remaining)

		res, err = f.limiter.Charge(ctx, "apikey:7", 5, policy)
		require.NoError(t, err)
		assert.False(t, res.Allowed, "an emptied bucket cannot refill 5 points at once")

		f.advance(60 * time.Millisecond)
		res, err = f.limiter.Charge(ctx, "apikey:7", 2, policy)
		require.NoError(t, err)
		assert.True(t, res.Allowed, "60ms restore 3 points")

		f.advance(time.Second)
		peek, err := f.limiter.Peek(ctx, "apikey:7", policy)
		require.NoError(t, err)
		assert.Equal(t, 5, peek.Remaining, "refill stops at capacity")
		assert.Zero(t, peek.ResetAfter)

		res, err = f.limiter.Charge(ctx, "apikey:7", 5, policy)
		require.NoError(t, err)
		assert.True(t, res.Allowed)
	})
}

func TestMemoryRefillIsExact(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	limiter := bucket.NewMemory(bucket.WithClock(clock.Now))
	policy := bucket.Policy{Capacity: 1000, RestoreRate: 50}

	res, err := limiter.Charge(ctx, "user:1", 1000, policy)
	require.NoError(t, err)
	require.True(t, res.Allowed)
	assert.Equal(t, 20*time.Second, res.ResetAfter)

	res, err = limiter.Charge(ctx, "user:1", 100, policy)
	require.NoError(t, err)
	assert.False(t, res.Allowed)
	assert.Equal(t, 2*time.Second, res.RetryAfter)

	clock.Advance(1500 * time.Millisecond)
	res, err = limiter.Charge(ctx, "user:1", 100, policy)
	require.NoError(t, err)
	assert.False(t, res.Allowed)
	assert.Equal(t, 75, res.Remaining)
	assert.Equal(t, 500*time.Millisecond, res.RetryAfter)

	clock.Advance(500 * time.Millisecond)
	res, err = limiter.Charge(ctx, "user:1", 100, policy)
	require.NoError(t, err)
	assert.True(t, res.Allowed)
	assert.Equal(t, 0, res.Remaining)

	clock.Advance(time.Hour)
	peek, err := limiter.Peek(ctx, "user:1", policy)
	require.NoError(t, err)
	assert.Equal(t, 1000, peek.Remaining)
}

func TestMemoryClockSteppingBackDoesNotDrain(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	limiter := bucket.NewMemory(bucket.WithClock(clock.Now))
	policy := bucket.Policy{Capacity: 10, RestoreRate: 1}

	_, err := limiter.Charge(ctx, "user:1", 4, policy)
	require.NoError(t, err)
	clock.Advance(-time.Hour)
	peek, err := limiter.Peek(ctx, "user:1", policy)
	require.NoError(t, err)
	assert.Equal(t, 6, peek.Remaining)
}

func TestRefundCapsAtCapacity(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, f fixture) {
		ctx := context.Background()
		policy := bucket.Policy{Capacity: 10, RestoreRate: 0}

		res, err := f.limiter.Charge(ctx, "user:1", 4, policy)
		require.NoError(t, err)
		require.True(t, res.Allowed)
		require.Equal(t, 6, res.Remaining)

		require.NoError(t, f.limiter.Refund(ctx, "user:1", 2, policy))
		peek, err := f.limiter.Peek(ctx, "user:1", policy)
		require.NoError(t, err)
		assert.Equal(t, 8, peek.Remaining)

		require.NoError(t, f.limiter.Refund(ctx, "user:1", 100, policy))
		peek, err = f.limiter.Peek(ctx, "user:1", policy)
		require.NoError(t, err)
		assert.Equal(t, 10, peek.Remaining)

		// Exactly the capacity is spendable after the large refund, no more.
		res, err = f.limiter.Charge(ctx, "user:1", 10, policy)
		require.NoError(t, err)
		assert.True(t, res.Allowed)
		res, err = f.limiter.Charge(ctx, "user:1", 1, policy)
		require.NoError(t, err)
		assert.False(t, res.Allowed)

		// A refund to a bucket never seen leaves it full.
		require.NoError(t, f.limiter.Refund(ctx, "user:2", 5, policy))
		peek, err = f.limiter.Peek(ctx, "user:2", policy)
		require.NoError(t, err)
		assert.Equal(t, 10, peek.Remaining)
	})
}

func TestCostAboveCapacityNeverFits(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, f fixture) {
		ctx := context.Background()
		policy := bucket.Policy{Capacity: 10, RestoreRate: 1}

		res, err := f.limiter.Charge(ctx, "ip:1.2.3.4", 11, policy)
		require.NoError(t, err)
		assert.False(t, res.Allowed)
		assert.True(t, res.NeverFits)
		assert.Zero(t, res.RetryAfter, "no wait makes it fit")
		assert.Equal(t, 10, res.Remaining, "nothing was taken")

		res, err = f.limiter.Charge(ctx, "ip:1.2.3.4", 10, policy)
		require.NoError(t, err)
		assert.True(t, res.Allowed)
		assert.False(t, res.NeverFits)

		// Once the bucket is drained, a cost that fits the capacity is refused
		// with a wait, not as never fitting.
		res, err = f.limiter.Charge(ctx, "ip:1.2.3.4", 10, policy)
		require.NoError(t, err)
		assert.False(t, res.Allowed)
		assert.False(t, res.NeverFits)
		assert.Positive(t, res.RetryAfter)
	})
}

func TestPeekDoesNotCharge(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, f fixture) {
		ctx := context.Background()
		policy := bucket.Policy{Capacity: 10, RestoreRate: 0}

		for range 3 {
			peek, err := f.limiter.Peek(ctx, "user:1", policy)
			require.NoError(t, err)
			assert.True(t, peek.Allowed)
			assert.Equal(t, 10, peek.Remaining)
			assert.Equal(t, 10, peek.Limit)
		}
		_, err := f.limiter.Charge(ctx, "user:1", 3, policy)
		require.NoError(t, err)
		for range 3 {
			peek, err := f.limiter.Peek(ctx, "user:1", policy)
			require.NoError(t, err)
			assert.Equal(t, 7, peek.Remaining)
		}
	})
}

func TestConcurrentChargesNeverOverspend(t *testing.T) {
	forEachImplementation(t, func(t *testing.T, f fixture) {
		ctx := context.Background()
		policy := bucket.Policy{Capacity: 100, RestoreRate: 0}

		var allowed, refused atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 200 {
			wg.Go(func() {
				<-start
				res, err := f.limiter.Charge(ctx, "user:1", 1, policy)
				if !assert.NoError(t, err) {
					return
				}
				if res.Allowed {
					allowed.Add(1)
				} else {
					refused.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		assert.Equal(t, int64(100), allowed.Load())
		assert.Equal(t, int64(100), refused.Load())
	}, bucket.WithTimeout(10*time.Second)) // 200 calls queue for the client's pool; this test is about atomicity, not latency.
}

func TestInvalidArgumentsAreRefused(t *testing.T) {
	tests := []struct {
		name   string
		policy bucket.Policy
		points int
	}{
		{"zero capacity", bucket.Policy{Capacity: 0, RestoreRate: 1}, 1},
		{"negative capacity", bucket.Policy{Capacity: -5, RestoreRate: 1}, 1},
		{"negative rate", bucket.Policy{Capacity: 10, RestoreRate: -1}, 1},
		{"NaN rate", bucket.Policy{Capacity: 10, RestoreRate: math.NaN()}, 1},
		{"infinite rate", bucket.Policy{Capacity: 10, RestoreRate: math.Inf(1)}, 1},
		{"negative points", bucket.Policy{Capacity: 10, RestoreRate: 1}, -1},
	}
	forEachImplementation(t, func(t *testing.T, f fixture) {
		ctx := context.Background()
		for _, tt := range tests {
			_, err := f.limiter.Charge(ctx, "user:1", tt.points, tt.policy)
			assert.Error(t, err, "charge: %s", tt.name)
			assert.NotErrorIs(t, err, bucket.ErrUnavailable)
			assert.Error(t, f.limiter.Refund(ctx, "user:1", tt.points, tt.policy), "refund: %s", tt.name)
			if tt.points >= 0 {
				_, err = f.limiter.Peek(ctx, "user:1", tt.policy)
				assert.Error(t, err, "peek: %s", tt.name)
			}
		}
	})
}

func TestMemoryForgetsLeastRecentlyUsedBeyondMaxKeys(t *testing.T) {
	ctx := context.Background()
	limiter := bucket.NewMemory(bucket.WithMaxKeys(2))
	policy := bucket.Policy{Capacity: 10, RestoreRate: 0}

	for _, key := range []string{"ip:1", "ip:2", "ip:3"} {
		_, err := limiter.Charge(ctx, key, 5, policy)
		require.NoError(t, err)
	}
	for key, want := range map[string]int{"ip:2": 5, "ip:3": 5, "ip:1": 10} {
		peek, err := limiter.Peek(ctx, key, policy)
		require.NoError(t, err)
		assert.Equal(t, want, peek.Remaining, key)
	}
}

func TestRedisInstancesShareOneBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clientA, clientB := mustRedisClient(t), mustRedisClient(t)
	prefix := mustPrefix(t, clientA)
	// Two limiters on two connections stand for two server instances.
	a, b := bucket.NewRedis(clientA, prefix), bucket.NewRedis(clientB, prefix)
	policy := bucket.Policy{Capacity: 10, RestoreRate: 0}

	res, err := a.Charge(ctx, "user:42", 3, policy)
	require.NoError(t, err)
	require.True(t, res.Allowed)
	peek, err := b.Peek(ctx, "user:42", policy)
	require.NoError(t, err)
	assert.Equal(t, 7, peek.Remaining)

	allowed := 0
	for i := range 20 {
		limiter := bucket.Limiter(a)
		if i%2 == 1 {
			limiter = b
		}
		res, err := limiter.Charge(ctx, "user:42", 1, policy)
		require.NoError(t, err)
		if res.Allowed {
			allowed++
		}
	}
	assert.Equal(t, 7, allowed)

	require.NoError(t, b.Refund(ctx, "user:42", 2, policy))
	peek, err = a.Peek(ctx, "user:42", policy)
	require.NoError(t, err)
	assert.Equal(t, 2, peek.Remaining)
}

func TestRedisIdleBucketsExpire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := mustRedisClient(t)
	prefix := mustPrefix(t, client)
	limiter := bucket.NewRedis(client, prefix)

	// 5 points missing at 100 points/s: the key lives until the bucket is full.
	policy := bucket.Policy{Capacity: 10, RestoreRate: 100}
	_, err := limiter.Charge(ctx, "user:1", 5, policy)
	require.NoError(t, err)
	ttl, err := client.PTTL(ctx, prefix+"user:1").Result()
	require.NoError(t, err)
	assert.Positive(t, ttl)
	assert.LessOrEqual(t, ttl, 50*time.Millisecond)

	// A bucket that never refills is still forgotten after a day.
	slow := bucket.Policy{Capacity: 10, RestoreRate: 0}
	_, err = limiter.Charge(ctx, "user:2", 5, slow)
	require.NoError(t, err)
	ttl, err = client.PTTL(ctx, prefix+"user:2").Result()
	require.NoError(t, err)
	assert.InDelta(t, 24*time.Hour, ttl, float64(time.Minute))

	// A refund back to full removes the key: a full bucket needs no state.
	require.NoError(t, limiter.Refund(ctx, "user:2", 5, slow))
	n, err := client.Exists(ctx, prefix+"user:2").Result()
	require.NoError(t, err)
	assert.Zero(t, n)

	// Peeks and refused charges write nothing.
	_, err = limiter.Peek(ctx, "user:3", slow)
	require.NoError(t, err)
	_, err = limiter.Charge(ctx, "user:3", 11, slow)
	require.NoError(t, err)
	n, err = client.Exists(ctx, prefix+"user:3").Result()
	require.NoError(t, err)
	assert.Zero(t, n)
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
			// Default client options: a 3s read timeout and context deadlines
			// ignored on the socket. The limiter's own bound must still hold.
			client := redis.NewClient(&redis.Options{Addr: tt.addr(t)})
			t.Cleanup(func() { _ = client.Close() })
			limiter := bucket.NewRedis(client, "test:bucket:", bucket.WithTimeout(100*time.Millisecond))
			ctx := context.Background()
			policy := bucket.Policy{Capacity: 10, RestoreRate: 1}

			calls := map[string]func() error{
				"charge": func() error { _, err := limiter.Charge(ctx, "user:1", 1, policy); return err },
				"refund": func() error { return limiter.Refund(ctx, "user:1", 1, policy) },
				"peek":   func() error { _, err := limiter.Peek(ctx, "user:1", policy); return err },
			}
			for name, call := range calls {
				start := time.Now()
				err := call()
				elapsed := time.Since(start)
				require.ErrorIs(t, err, bucket.ErrUnavailable, name)
				assert.Less(t, elapsed, time.Second, name)
			}
		})
	}
}

func TestRedisCallerCancellationIsReported(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: stalledServer(t)})
	t.Cleanup(func() { _ = client.Close() })
	limiter := bucket.NewRedis(client, "test:bucket:", bucket.WithTimeout(time.Minute))

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := limiter.Charge(ctx, "user:1", 1, bucket.Policy{Capacity: 10, RestoreRate: 1})
	require.ErrorIs(t, err, bucket.ErrUnavailable)
	assert.True(t, errors.Is(err, context.DeadlineExceeded))
}

// TestRedisServerClock runs on the Redis server's own clock, as in
// production: an emptied bucket refills by itself as real time passes.
func TestRedisServerClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := mustRedisClient(t)
	limiter := bucket.NewRedis(client, mustPrefix(t, client))
	policy := bucket.Policy{Capacity: 5, RestoreRate: 50}

	res, err := limiter.Charge(ctx, "user:1", 5, policy)
	require.NoError(t, err)
	require.True(t, res.Allowed)
	require.Eventually(t, func() bool {
		peek, err := limiter.Peek(ctx, "user:1", policy)
		return err == nil && peek.Remaining == 5
	}, 20*time.Second, 10*time.Millisecond, "the bucket refills on the server's clock")
}
