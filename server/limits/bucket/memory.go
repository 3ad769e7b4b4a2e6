package bucket

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Memory is a Limiter that keeps buckets in process, for a single instance
// running without Redis.
type Memory struct {
	now func() time.Time

	// mu makes refill-and-charge one step; the LRU itself is not safe for
	// concurrent use.
	mu      sync.Mutex
	buckets *simplelru.LRU[string, *state]
}

var _ Limiter = (*Memory)(nil)

// state is a bucket that is not full. A full bucket has no state: it is
// indistinguishable from one never seen.
type state struct {
	tokens float64
	last   time.Time
	// forgetAt is when the bucket will be full again (or maxIdle after last), so
	// idle buckets can be dropped without knowing their policy.
	forgetAt time.Time
}

// sweepPerCall is how many of the least recently used buckets each call checks
// for removal: enough to keep the map near the set of active keys without a
// background goroutine or a full scan.
const sweepPerCall = 2

// NewMemory returns an in-process Limiter. It keeps at most WithMaxKeys buckets;
// beyond that the least recently used one is dropped, which refills it early, a
// bounded leniency that keeps a flood of keys from exhausting memory.
func NewMemory(opts ...Option) *Memory {
	c := newConfig(opts)
	buckets, err := simplelru.NewLRU[string, *state](c.maxKeys, nil)
	if err != nil {
		// Unreachable: newConfig keeps maxKeys positive.
		panic(fmt.Sprintf("bucket: new LRU: %v", err))
	}
	return &Memory{now: c.now, buckets: buckets}
}

// Charge takes cost points from the bucket of key if they are all available.
func (m *Memory) Charge(_ context.Context, key string, cost int, policy Policy) (Result, error) {
	if err := validate(policy, cost); err != nil {
		return Result{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	tokens := m.available(key, policy, now)
	allowed := float64(cost) <= tokens
	if allowed && cost > 0 {
		tokens -= float64(cost)
		m.store(key, policy, tokens, now)
	}
	m.sweep(now)
	return newResult(policy, cost, tokens, allowed), nil
}

// Refund gives points back to the bucket of key, up to its capacity.
func (m *Memory) Refund(_ context.Context, key string, points int, policy Policy) error {
	if err := validate(policy, points); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if points > 0 {
		tokens := m.available(key, policy, now) + float64(points)
		m.store(key, policy, min(tokens, float64(policy.Capacity)), now)
	}
	m.sweep(now)
	return nil
}

// Peek reports the bucket of key without changing it.
func (m *Memory) Peek(_ context.Context, key string, policy Policy) (Result, error) {
	if err := validate(policy, 0); err != nil {
		return Result{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	tokens := m.available(key, policy, now)
	m.sweep(now)
	return newResult(policy, 0, tokens, true), nil
}

// available returns the points in the bucket of key at now.
func (m *Memory) available(key string, p Policy, now time.Time) float64 {
	s, ok := m.buckets.Get(key)
	if !ok || !now.Before(s.forgetAt) {
		return float64(p.Capacity)
	}
	return refill(s.tokens, now.Sub(s.last), p)
}

// store records tokens in the bucket of key at now.
func (m *Memory) store(key string, p Policy, tokens float64, now time.Time) {
	if tokens >= float64(p.Capacity) {
		m.buckets.Remove(key)
		return
	}
	keep := maxIdle
	if p.RestoreRate > 0 {
		keep = min(keep, p.timeToRestore(float64(p.Capacity)-tokens))
	}
	next := state{tokens: tokens, last: now, forgetAt: now.Add(keep)}
	// Reuse the state of a known bucket: charging it then allocates nothing.
	if s, ok := m.buckets.Peek(key); ok {
		*s = next
		return
	}
	s := new(state)
	*s = next
	m.buckets.Add(key, s)
}

// sweep drops the least recently used buckets once they are full again.
func (m *Memory) sweep(now time.Time) {
	for range sweepPerCall {
		key, s, ok := m.buckets.GetOldest()
		if !ok || now.Before(s.forgetAt) {
			return
		}
		m.buckets.Remove(key)
	}
}
