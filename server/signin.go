package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/server/limits/bucket"
)

// signInThrottle limits failed logIn attempts per account (email) and per
// client address with token buckets: every attempt takes a point from both,
// a successful one gives them back, and an empty bucket refuses attempts
// with RATE_LIMITED until it refills. The buckets are in Redis when one is
// configured, so every instance counts the same failures; in process
// otherwise. Attempts are counted for unknown emails exactly as for known
// ones, so being throttled reveals nothing about which emails have accounts.
type signInThrottle struct {
	limiter          bucket.Limiter
	account, address bucket.Policy
	log              *slog.Logger
}

var _ graph.SignInGuard = (*signInThrottle)(nil)

func newSignInThrottle(cfg config.Config, rdb *redis.Client, log *slog.Logger) *signInThrottle {
	var limiter bucket.Limiter = bucket.NewMemory()
	if rdb != nil {
		limiter = bucket.NewRedis(rdb, cfg.RedisPrefix+"signin:")
	}
	policy := func(capacity int) bucket.Policy {
		return bucket.Policy{Capacity: capacity, RestoreRate: float64(capacity) / cfg.SignInLockout.Seconds()}
	}
	return &signInThrottle{
		limiter: limiter, log: log,
		account: policy(cfg.SignInFailuresPerAccount),
		address: policy(cfg.SignInFailuresPerAddress),
	}
}

// Attempt counts one attempt to sign in as email from the request in ctx.
// It fails with RATE_LIMITED when the account or the address has no
// attempts left; otherwise done reports the outcome. When the bucket store
// is unreachable, sign-in stays open (logged): locking every user out
// because Redis is down would be worse than a short unthrottled window.
func (s *signInThrottle) Attempt(ctx context.Context, email string) (done func(ok bool), err error) {
	sum := sha256.Sum256([]byte(email))
	// The email is hashed so the key store never holds addresses.
	accountKey := "account:" + hex.EncodeToString(sum[:16])
	addressKey := "address:" + clientAddress(ctx)

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
			return nil, rateLimited(res.RetryAfter)
		}
		charged = append(charged, b.key)
	}
	return func(ok bool) {
		if ok {
			refund()
		}
	}, nil
}

func rateLimited(retryAfter time.Duration) *graph.Error {
	secs := int(math.Ceil(retryAfter.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return &graph.Error{
		Code:       graph.CodeRateLimited,
		Message:    fmt.Sprintf("too many failed sign-in attempts; try again in %d seconds", secs),
		Extensions: map[string]any{"retryAfter": secs},
	}
}

type clientAddressKey struct{}

// clientAddress returns the address the request in ctx came from ("" when
// unknown).
func clientAddress(ctx context.Context) string {
	s, _ := ctx.Value(clientAddressKey{}).(string)
	return s
}

// withClientAddress records where each request comes from: the
// connection's address, or behind hops trusted reverse proxies the
// X-Forwarded-For entry the outermost of them added. Entries further left
// are written by the client and cannot be trusted.
func withClientAddress(hops int) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			addr, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				addr = r.RemoteAddr
			}
			if hops > 0 {
				var entries []string
				for _, h := range r.Header.Values("X-Forwarded-For") {
					for _, e := range strings.Split(h, ",") {
						entries = append(entries, strings.TrimSpace(e))
					}
				}
				if len(entries) >= hops {
					if ip := net.ParseIP(entries[len(entries)-hops]); ip != nil {
						addr = ip.String()
					}
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientAddressKey{}, addr)))
		})
	}
}
