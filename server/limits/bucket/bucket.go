package bucket

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrUnavailable is wrapped by every error that means the bucket store could not
// answer in time, so callers can apply their fail-open policy.
var ErrUnavailable = errors.New("bucket store unavailable")

// maxIdle bounds how long a bucket is remembered after its last change. Without it
// a bucket that never refills (RestoreRate 0) would be kept forever; forgetting it
// makes it full again, the same as a bucket never seen.
const maxIdle = 24 * time.Hour

// Policy sets the size and refill speed of a bucket.
type Policy struct {
	// Capacity is the most points a bucket holds; a bucket never seen is full.
	Capacity int
	// RestoreRate is the number of points given back per second; 0 means the
	// bucket refills only through Refund (or after a day without changes).
	RestoreRate float64
}

// Result describes a bucket as a charge or a peek left it.
type Result struct {
	// Allowed reports whether the cost was taken from the bucket.
	Allowed bool
	// NeverFits reports a cost above the capacity, which no wait can satisfy.
	NeverFits bool
	// Remaining is the number of whole points left after the charge.
	Remaining int
	// Limit is the capacity of the bucket.
	Limit int
	// RetryAfter is how long until the refused cost is available; it is 0 when the
	// charge was allowed, when it never fits, and when the bucket does not refill.
	RetryAfter time.Duration
	// ResetAfter is how long until the bucket is full again (0 when it is full or
	// does not refill).
	ResetAfter time.Duration
}

// Limiter charges, refunds and inspects buckets identified by a key such as
// "user:42", "apikey:7" or "ip:1.2.3.4".
type Limiter interface {
	// Charge refills the bucket for the time elapsed, then takes cost points if
	// they are all available; it takes nothing otherwise.
	Charge(ctx context.Context, key string, cost int, policy Policy) (Result, error)
	// Refund gives points back, for example when the actual cost of a request was
	// lower than the cost charged before it ran; the bucket never exceeds capacity.
	Refund(ctx context.Context, key string, points int, policy Policy) error
	// Peek reports the bucket as a zero-cost charge would see it, without
	// changing it.
	Peek(ctx context.Context, key string, policy Policy) (Result, error)
}

// Option configures a Limiter built by NewRedis or NewMemory.
type Option func(*config)

type config struct {
	timeout time.Duration
	now     func() time.Time
	// clock is the clock a test set, nil for the real one.
	clock   func() time.Time
	maxKeys int
}

func newConfig(opts []Option) config {
	c := config{timeout: 100 * time.Millisecond, now: time.Now, maxKeys: 100_000}
	for _, opt := range opts {
		opt(&c)
	}
	return c
}

// WithTimeout bounds every Redis call (default 100ms); NewMemory ignores it.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithClock replaces the clock, for tests: the wall clock of NewMemory, and
// the Redis server's clock that NewRedis otherwise reads (so instances with
// skewed clocks agree), so a test can let time pass exactly.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now, c.clock = now, now
		}
	}
}

// WithMaxKeys bounds the number of buckets NewMemory keeps (default 100000);
// NewRedis ignores it because Redis expires idle buckets itself.
func WithMaxKeys(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxKeys = n
		}
	}
}

func (p Policy) validate() error {
	if p.Capacity <= 0 {
		return fmt.Errorf("bucket policy: capacity %d must be positive", p.Capacity)
	}
	if p.RestoreRate < 0 || math.IsNaN(p.RestoreRate) || math.IsInf(p.RestoreRate, 0) {
		return fmt.Errorf("bucket policy: restore rate %v must be a finite number >= 0", p.RestoreRate)
	}
	return nil
}

func validate(p Policy, points int) error {
	if err := p.validate(); err != nil {
		return err
	}
	if points < 0 {
		return fmt.Errorf("bucket: points %d must not be negative", points)
	}
	return nil
}

// refill returns the points in a bucket that held tokens elapsed ago. Elapsed
// time is multiplied in nanoseconds before dividing so that whole rates give
// whole points without floating-point drift.
func refill(tokens float64, elapsed time.Duration, p Policy) float64 {
	if elapsed < 0 {
		// A clock stepping back must not drain the bucket.
		elapsed = 0
	}
	return math.Min(float64(p.Capacity), tokens+float64(elapsed.Nanoseconds())*p.RestoreRate/1e9)
}

// timeToRestore returns how long the policy takes to give back points.
func (p Policy) timeToRestore(points float64) time.Duration {
	if points <= 0 || p.RestoreRate <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(points / p.RestoreRate * float64(time.Second)))
}

// newResult builds the Result of a charge of cost that left tokens in the bucket,
// so both implementations report the same figures.
func newResult(p Policy, cost int, tokens float64, allowed bool) Result {
	r := Result{
		Allowed:    allowed,
		NeverFits:  cost > p.Capacity,
		Remaining:  int(math.Floor(tokens)),
		Limit:      p.Capacity,
		ResetAfter: p.timeToRestore(float64(p.Capacity) - tokens),
	}
	if !allowed && !r.NeverFits {
		r.RetryAfter = p.timeToRestore(float64(cost) - tokens)
	}
	return r
}
