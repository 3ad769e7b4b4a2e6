package loaders_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/loaders"
)

// patient waits long enough that keys handed over together always meet in
// one batch, even on a loaded machine under -race (the default 2 ms is
// sized for production, where a late key only costs one more statement).
var patient = loaders.Options{Wait: 500 * time.Millisecond}

// users creates n users and returns a client that counts statements.
func users(t *testing.T, n int) (*ent.Client, []int64) {
	t.Helper()
	db := databasetest.New(t, database.Options{WrapDriver: database.CountStatements})
	ctx := viewer.SystemContext(context.Background())
	var ids []int64
	for i := range n {
		u, err := db.Client.User.Create().SetEmail(string(rune('a'+i)) + "@example.com").SetName("U").SetPasswordHash("x").Save(ctx)
		require.NoError(t, err)
		ids = append(ids, u.ID)
	}
	return db.Client, ids
}

// TestByIDAnswersInKeyOrderWithPerKeyNotFound loads existing and missing
// ids together: one statement, results in key order, and only the
// missing key fails.
func TestByIDAnswersInKeyOrderWithPerKeyNotFound(t *testing.T) {
	t.Parallel()
	client, ids := users(t, 3)
	ctx, stmts := database.WithStatementCounter(viewer.SystemContext(context.Background()))
	l := loaders.New(client, patient)
	keys := []int64{ids[2], 999999, ids[0], ids[1]}
	got, errs := l.User.LoadMany(ctx, keys)()
	require.Len(t, got, 4)
	require.Len(t, errs, 4)
	for i, k := range keys {
		if k == 999999 {
			assert.ErrorIs(t, errs[i], loaders.ErrNotFound)
			continue
		}
		require.NoError(t, errs[i])
		assert.Equal(t, k, got[i].ID)
	}
	assert.Equal(t, int64(1), stmts.Count())

	// Loaded ids are cached for the rest of the request.
	u, err := l.User.Load(ctx, ids[1])()
	require.NoError(t, err)
	assert.Equal(t, ids[1], u.ID)
	assert.Equal(t, int64(1), stmts.Count())
}

// TestNaiveLoadersFetchOneKeyPerStatement is the benchmark baseline.
func TestNaiveLoadersFetchOneKeyPerStatement(t *testing.T) {
	t.Parallel()
	client, ids := users(t, 3)
	ctx, stmts := database.WithStatementCounter(viewer.SystemContext(context.Background()))
	l := loaders.New(client, loaders.Options{Naive: true})
	_, errs := l.User.LoadMany(ctx, append(ids, ids[0]))()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, int64(4), stmts.Count())
}

// TestCancelledRequestDoesNotPoisonAnother: each request has its own
// loaders, so one request's cancellation fails only its own keys.
func TestCancelledRequestDoesNotPoisonAnother(t *testing.T) {
	t.Parallel()
	client, ids := users(t, 2)
	cancelled, cancel := context.WithCancel(viewer.SystemContext(context.Background()))
	cancel()
	live := viewer.SystemContext(context.Background())
	a, b := loaders.New(client, loaders.Options{}), loaders.New(client, loaders.Options{})
	thunkA := a.User.Load(cancelled, ids[0])
	thunkB := b.User.Load(live, ids[0])
	_, err := thunkA()
	assert.ErrorIs(t, err, context.Canceled)
	u, err := thunkB()
	require.NoError(t, err)
	assert.Equal(t, ids[0], u.ID)
}

// TestPerParentSharesOneLoaderPerShape: the same shape batches, another
// shape does not mix in, and a parent without rows gets the zero value.
func TestPerParentSharesOneLoaderPerShape(t *testing.T) {
	t.Parallel()
	client, ids := users(t, 1)
	l := loaders.New(client, patient)
	var calls [][]int64
	fetch := func(_ context.Context, parents []int64) (map[int64]int, error) {
		calls = append(calls, parents)
		return map[int64]int{ids[0]: 7}, nil
	}
	ctx := context.Background()
	one := loaders.PerParent(l, "count a", fetch).Load(ctx, ids[0])
	two := loaders.PerParent(l, "count a", fetch).Load(ctx, 424242)
	n1, err1 := one()
	n2, err2 := two()
	require.NoError(t, err1)
	require.NoError(t, err2)
	assert.Equal(t, 7, n1)
	assert.Equal(t, 0, n2)
	require.Len(t, calls, 1)
	assert.ElementsMatch(t, []int64{ids[0], 424242}, calls[0])
	assert.NotSame(t, loaders.PerParent(l, "count a", fetch), loaders.PerParent(l, "count b", fetch))
}

// swapping is a Source that hands out its current loaders.
type swapping struct{ current *loaders.Loaders }

func (s *swapping) Loaders() *loaders.Loaders { return s.current }

// TestSourceGivesLoadersOfALongOperation asks a long operation's Source
// for loaders each time: resolvers see its latest, and loaders put in the
// context directly still win.
func TestSourceGivesLoadersOfALongOperation(t *testing.T) {
	t.Parallel()
	client, _ := users(t, 0)
	src := &swapping{}
	ctx := loaders.WithSource(context.Background(), src)
	assert.Nil(t, loaders.FromContext(ctx))
	first := loaders.New(client, loaders.Options{})
	src.current = first
	assert.Same(t, first, loaders.FromContext(ctx))
	second := loaders.New(client, loaders.Options{})
	src.current = second
	assert.Same(t, second, loaders.FromContext(ctx), "the source's latest")

	own := loaders.New(client, loaders.Options{})
	assert.Same(t, own, loaders.FromContext(loaders.NewContext(ctx, own)))
}
