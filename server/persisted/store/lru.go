package store

import (
	"context"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
)

// LRU is a Store in process memory that keeps the most recently used queries.
type LRU struct {
	cache         *lru.Cache[string, string]
	maxQueryBytes int
}

var _ Store = (*LRU)(nil)

// NewLRU returns a Store keeping at most size queries (default 1000 when size is
// not positive), dropping the least recently used first; with the size limit on
// queries this bounds its memory.
func NewLRU(size int, opts ...Option) *LRU {
	c := newConfig(opts)
	if size <= 0 {
		size = 1000
	}
	cache, err := lru.New[string, string](size)
	if err != nil {
		// Unreachable: size is positive.
		panic(fmt.Sprintf("persisted store: new LRU: %v", err))
	}
	return &LRU{cache: cache, maxQueryBytes: c.maxQueryBytes}
}

// Get returns the query stored under hash and marks it recently used.
func (l *LRU) Get(_ context.Context, hash string) (string, bool, error) {
	query, ok := l.cache.Get(hash)
	return query, ok, nil
}

// Add stores query under hash, its SHA-256.
func (l *LRU) Add(_ context.Context, hash, query string) error {
	if err := checkAdd(hash, query, l.maxQueryBytes); err != nil {
		return fmt.Errorf("persisted store: %w", err)
	}
	l.cache.Add(hash, query)
	return nil
}
