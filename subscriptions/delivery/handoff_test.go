package delivery

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/loaders"
)

// TestHandoffGivesEachBurstFreshLoaders swaps a subscription's loaders
// burst by burst: resolvers see the latest burst's, built only when one
// asks, and once per burst.
func TestHandoffGivesEachBurstFreshLoaders(t *testing.T) {
	t.Parallel()
	ctx := Prepare(context.Background())
	assert.Same(t, ctx, Prepare(ctx), "one hand-off per operation")
	h := handoffFrom(ctx)
	require.NotNil(t, h)
	assert.Nil(t, loaders.FromContext(ctx), "no burst yet")

	built := 0
	burst := func() *loaders.Loaders { built++; return loaders.New(nil, loaders.Options{}) }
	h.setLoaders(burst)
	assert.Zero(t, built, "built only when a resolver asks")
	first := loaders.FromContext(ctx)
	require.NotNil(t, first)
	assert.Same(t, first, loaders.FromContext(ctx), "one burst, one set of loaders")
	h.setLoaders(burst)
	second := loaders.FromContext(ctx)
	assert.NotSame(t, first, second, "the next burst gets fresh ones")
	assert.Equal(t, 2, built)

	var none *Handoff
	none.setLoaders(burst) // a context without a hand-off takes none
	assert.Equal(t, 2, built)
}

// TestAwaitWithoutTracingReturnsAtOnce: a subscription whose operation is
// not traced hands no spans over, so a response never waits for one.
func TestAwaitWithoutTracingReturnsAtOnce(t *testing.T) {
	t.Parallel()
	ctx := Prepare(context.Background())
	handoffFrom(ctx).arm()
	_, ok := Await(ctx)
	assert.False(t, ok)
	_, ok = Await(context.Background())
	assert.False(t, ok)
	assert.False(t, handoffFrom(ctx).tracing())
	assert.True(t, handoffFrom(TraceEvents(ctx)).tracing())
}
