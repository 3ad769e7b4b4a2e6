package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store in Redis, shared by every instance of the server.
type Redis struct {
	client        redis.UniversalClient
	prefix        string
	ttl           time.Duration
	timeout       time.Duration
	maxQueryBytes int
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Store keeping each query under prefix+hash for ttl (default
// 24h when ttl is not positive); every Add renews it. Every call returns within
// WithTimeout (default 100ms); a failure wraps ErrUnavailable.
func NewRedis(client redis.UniversalClient, prefix string, ttl time.Duration, opts ...Option) *Redis {
	c := newConfig(opts)
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	return &Redis{client: client, prefix: prefix, ttl: ttl, timeout: c.timeout, maxQueryBytes: c.maxQueryBytes}
}

// Get returns the query stored under hash.
func (r *Redis) Get(ctx context.Context, hash string) (string, bool, error) {
	if !validHash(hash) {
		return "", false, nil
	}
	query, err := bounded(ctx, r.timeout, func(ctx context.Context) (string, error) {
		return r.client.Get(ctx, r.prefix+hash).Result()
	})
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("%w: get %s: %w", ErrUnavailable, shortHash(hash), err)
	}
	return query, true, nil
}

// Add stores query under hash, its SHA-256, for the store's ttl.
func (r *Redis) Add(ctx context.Context, hash, query string) error {
	if err := checkAdd(hash, query, r.maxQueryBytes); err != nil {
		return fmt.Errorf("persisted store: %w", err)
	}
	_, err := bounded(ctx, r.timeout, func(ctx context.Context) (string, error) {
		return r.client.Set(ctx, r.prefix+hash, query, r.ttl).Result()
	})
	if err != nil {
		return fmt.Errorf("%w: add %s: %w", ErrUnavailable, shortHash(hash), err)
	}
	return nil
}

type result struct {
	value string
	err   error
}

// bounded runs call and returns once timeout passes even if Redis has not
// answered: go-redis applies a context deadline to socket reads only when the
// client sets ContextTimeoutEnabled, and a request must never wait on a stalled
// Redis whatever the client's options. The abandoned call ends at the client's
// own read timeout; its result is dropped.
func bounded(ctx context.Context, timeout time.Duration, call func(context.Context) (string, error)) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan result, 1)
	go func() {
		v, err := call(ctx)
		done <- result{value: v, err: err}
	}()
	select {
	case res := <-done:
		return res.value, res.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
