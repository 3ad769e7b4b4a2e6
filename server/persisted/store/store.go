package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// ErrUnavailable is wrapped by every error that means the store could not answer
// in time; a caller treats it as a miss, and the client resends the full query.
var ErrUnavailable = errors.New("persisted query store unavailable")

// ErrTooLarge is wrapped by Add when a query exceeds the maximum size, which keeps
// clients from using the store as free space.
var ErrTooLarge = errors.New("persisted query too large")

// ErrHashMismatch is wrapped by Add when the hash is not the lowercase hex SHA-256
// of the query, so no caller can make a hash stand for another query.
var ErrHashMismatch = errors.New("persisted query hash does not match the query")

// Store holds query texts by the lowercase hex SHA-256 of their text.
type Store interface {
	// Get returns the query stored under hash; ok is false when there is none.
	Get(ctx context.Context, hash string) (query string, ok bool, err error)
	// Add stores query under hash, its SHA-256.
	Add(ctx context.Context, hash, query string) error
}

// Option configures a Store built by NewRedis or NewLRU.
type Option func(*config)

type config struct {
	maxQueryBytes int
	timeout       time.Duration
}

func newConfig(opts []Option) config {
	c := config{maxQueryBytes: 50 << 10, timeout: 100 * time.Millisecond}
	for _, opt := range opts {
		opt(&c)
	}
	return c
}

// WithMaxQueryBytes sets the largest query Add accepts (default 50 KiB).
func WithMaxQueryBytes(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxQueryBytes = n
		}
	}
}

// WithTimeout bounds every Redis call (default 100ms); NewLRU ignores it.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// checkAdd refuses what must not be stored. The size is checked first so that an
// oversized query is not even hashed.
func checkAdd(hash, query string, maxBytes int) error {
	if len(query) > maxBytes {
		return fmt.Errorf("add %s: %d bytes, at most %d: %w", shortHash(hash), len(query), maxBytes, ErrTooLarge)
	}
	sum := sha256.Sum256([]byte(query))
	if hash != hex.EncodeToString(sum[:]) {
		return fmt.Errorf("add %s: %w", shortHash(hash), ErrHashMismatch)
	}
	return nil
}

// validHash reports whether hash can be a lowercase hex SHA-256. Get answers a
// miss for anything else without a lookup, since nothing can be stored under it,
// and so never sends a client's arbitrary string to Redis as a key.
func validHash(hash string) bool {
	if len(hash) != sha256.Size*2 {
		return false
	}
	for i := range len(hash) {
		c := hash[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// shortHash keeps error messages short whatever a client sent as a hash.
func shortHash(hash string) string {
	if len(hash) > 16 {
		return fmt.Sprintf("%q...", hash[:16])
	}
	return fmt.Sprintf("%q", hash)
}
