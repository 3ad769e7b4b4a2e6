package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/issuegraph/issuegraph/server/limits/bucket"
)

// Throttle limits failed logIn attempts per account (email) and per
// client address with token buckets: every attempt takes a point from both,
// a successful one gives them back, and an empty bucket refuses attempts
// with RATE_LIMITED until it refills. The buckets are in Redis when one is
// configured, so every instance counts the same failures; in process
// otherwise. Attempts are counted for unknown emails exactly as for known
// ones, so being throttled reveals nothing about which emails have accounts.
type Throttle struct {
	limiter          bucket.Limiter
	account, address bucket.Policy
	log              *slog.Logger
}

// ThrottleOptions size a Throttle.
type ThrottleOptions struct {
	// FailuresPerAccount and FailuresPerAddress are the attempts that may
	// fail in a row before Lockout passes.
	FailuresPerAccount, FailuresPerAddress int
	Lockout                                time.Duration
}

// NewThrottle keeps its buckets in Redis under prefix when rdb is set, in
// process otherwise.
func NewThrottle(rdb *redis.Client, prefix string, o ThrottleOptions, log *slog.Logger) *Throttle {
	var limiter bucket.Limiter = bucket.NewMemory()
	if rdb != nil {
		limiter = bucket.NewRedis(rdb, prefix)
	}
	policy := func(capacity int) bucket.Policy {
		return bucket.Policy{Capacity: capacity, RestoreRate: float64(capacity) / o.Lockout.Seconds()}
	}
	return &Throttle{
		limiter: limiter, log: log,
		account: policy(o.FailuresPerAccount),
		address: policy(o.FailuresPerAddress),
	}
}

// Attempt counts one attempt to sign in as email from the client address
// addr. It fails with a *ThrottledError when the account or the address
// has no attempts left; otherwise done reports the outcome. When the bucket store
// is unreachable, sign-in stays open (logged): locking every user out
// because Redis is down would be worse than a short unthrottled window.
func (s *Throttle) Attempt(ctx context.Context, email, addr string) (done func(ok bool), err error) {
	sum := sha256.Sum256([]byte(email))
	// The email is hashed so the key store never holds addresses.
	accountKey := "account:" + hex.EncodeToString(sum[:16])
	addressKey := "address:" + addr

	charged := make([]string, 0, 2)
	refund := func() {
		for _, key := range charged {
			p := s.account
			if key == addressKey {
				p = s.address
			}
			if err := s.limiter.Refund(context.WithoutCancel(ctx), key, 1, p); err != nil {
				s.log.WarnContext(ctx, "sign-in throttle refund", "error", err)
			}
		}
	}
	for _, b := range []struct {
		key    string
		policy bucket.Policy
	}{{accountKey, s.account}, {addressKey, s.address}} {
		res, err := s.limiter.Charge(ctx, b.key, 1, b.policy)
		if errors.Is(err, bucket.ErrUnavailable) {
			s.log.WarnContext(ctx, "sign-in throttle unavailable; not throttling", "error", err)
			continue
		}
		if err != nil {
			refund()
			return nil, fmt.Errorf("throttling sign-in: %w", err)
		}
		if !res.Allowed {
			refund()
			return nil, &ThrottledError{RetryAfter: res.RetryAfter}
		}
		charged = append(charged, b.key)
	}
	return func(ok bool) {
		if ok {
			refund()
		}
	}, nil
}

// ThrottledError refuses a sign-in attempt until RetryAfter has passed.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-in attempts; try again in %d seconds", e.Seconds())
}

// Seconds is RetryAfter in whole seconds, at least 1.
func (e *ThrottledError) Seconds() int {
	return max(1, int(math.Ceil(e.RetryAfter.Seconds())))
}
