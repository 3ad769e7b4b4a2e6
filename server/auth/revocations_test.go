package auth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/server/auth"
)

// TestRevocationsWithRedisUnreachable: two instances whose Redis does not
// answer (nothing listens on its port) still agree on revocations through
// PostgreSQL: the revoking one refuses the session's token at once, the
// other from its next read of the database on, and tells its listeners.
func TestRevocationsWithRedisUnreachable(t *testing.T) {
	t.Parallel()
	db := databasetest.New(t, database.Options{})
	ctx := context.Background()
	u, err := db.Client.User.Create().SetEmail("a@example.com").SetName("A").SetPasswordHash("x").Save(viewer.SystemContext(ctx))
	require.NoError(t, err)
	// Port 19101 is this test's own and nothing listens there.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:19101", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	instance := func() (*auth.Service, *auth.Revocations) {
		r := auth.NewRevocations(db.Client, rdb, auth.RevocationOptions{Channel: "test:revocations", Window: 2 * time.Minute})
		return auth.NewService(db.Client, auth.Options{Secret: secret, Issuer: "issuegraph", Audience: "issuegraph-api",
			AccessTTL: time.Minute, RefreshTTL: time.Hour, Revocations: r}), r
	}
	a, _ := instance()
	b, bRevocations := instance()
	var mu sync.Mutex
	var told []string
	bRevocations.OnRevoke(func(keys []string) { mu.Lock(); told = append(told, keys...); mu.Unlock() })

	tokens, err := a.Start(ctx, u.ID)
	require.NoError(t, err)
	other, err := a.Start(ctx, u.ID)
	require.NoError(t, err)
	gotUID, session, err := b.Access(tokens.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, u.ID, gotUID)
	require.NotEmpty(t, session, "access tokens name their session")

	require.NoError(t, a.Revoke(ctx, tokens.RefreshToken))
	_, _, err = a.Access(tokens.AccessToken)
	assert.ErrorIs(t, err, auth.ErrInvalidToken, "refused at once where it was revoked")
	_, _, err = b.Access(tokens.AccessToken)
	assert.NoError(t, err, "B has not read the database yet (no Redis message can come)")

	require.NoError(t, bRevocations.Load(ctx))
	_, _, err = b.Access(tokens.AccessToken)
	assert.ErrorIs(t, err, auth.ErrInvalidToken)
	_, _, err = b.Access(other.AccessToken)
	assert.NoError(t, err, "the user's other session is untouched")
	mu.Lock()
	assert.Equal(t, []string{auth.SessionKey(session)}, told)
	mu.Unlock()
}
