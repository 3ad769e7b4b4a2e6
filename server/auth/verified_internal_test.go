package auth

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/ent/viewer"
)

// TestRememberedTokensKeepTheirWindow: an access token checked once is
// remembered, and still refused the moment its validity window ends (the
// revoked case is TestRevocationsWithRedisUnreachable's).
func TestRememberedTokensKeepTheirWindow(t *testing.T) {
	t.Parallel()
	db := databasetest.New(t, database.Options{})
	ctx := context.Background()
	u, err := db.Client.User.Create().SetEmail("a@example.com").SetName("A").SetPasswordHash("x").Save(viewer.SystemContext(ctx))
	require.NoError(t, err)
	svc := NewService(db.Client, Options{Secret: "test-secret-0123456789abcdef0123456789", Issuer: "issuegraph",
		Audience: "issuegraph-api", AccessTTL: time.Minute, RefreshTTL: time.Hour})
	clock := time.Now().Truncate(time.Second)
	svc.now = func() time.Time { return clock }

	tokens, err := svc.Start(ctx, u.ID)
	require.NoError(t, err)
	got, err := svc.VerifyAccess(tokens.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, u.ID, got)
	assert.True(t, svc.verified.Contains(tokens.AccessToken), "remembered")

	clock = clock.Add(59 * time.Second)
	_, err = svc.VerifyAccess(tokens.AccessToken)
	assert.NoError(t, err, "inside its minute")
	clock = clock.Add(time.Second)
	_, err = svc.VerifyAccess(tokens.AccessToken)
	assert.ErrorIs(t, err, ErrInvalidToken, "expired, though remembered")

	// A token that fails its checks is not remembered: one signed for the
	// future is refused now and accepted once its time has come.
	future := svc.now().Add(time.Hour)
	svc.now = func() time.Time { return future }
	later, err := svc.Start(ctx, u.ID)
	require.NoError(t, err)
	svc.now = func() time.Time { return clock }
	_, err = svc.VerifyAccess(later.AccessToken)
	assert.ErrorIs(t, err, ErrInvalidToken, "not yet valid")
	assert.False(t, svc.verified.Contains(later.AccessToken))
	svc.now = func() time.Time { return future }
	_, err = svc.VerifyAccess(later.AccessToken)
	assert.NoError(t, err)
}
