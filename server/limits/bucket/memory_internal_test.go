package bucket

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Idle buckets are invisible through the API (a dropped bucket reads as full,
// like a refilled one), so this test looks at the number kept.
func TestMemoryDropsRefilledBuckets(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMemory(WithClock(func() time.Time { return now }))
	policy := Policy{Capacity: 10, RestoreRate: 10}

	for _, key := range []string{"a", "b", "c", "d"} {
		_, err := m.Charge(ctx, key, 5, policy)
		require.NoError(t, err)
	}
	require.Equal(t, 4, m.buckets.Len())

	// Half a second refills them all; each call then drops up to two.
	now = now.Add(500 * time.Millisecond)
	_, err := m.Peek(ctx, "x", policy)
	require.NoError(t, err)
	assert.Equal(t, 2, m.buckets.Len())
	_, err = m.Charge(ctx, "e", 0, policy)
	require.NoError(t, err)
	assert.Equal(t, 0, m.buckets.Len())
}
