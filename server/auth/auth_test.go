package auth_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/server/auth"
)

const secret = "test-secret-0123456789abcdef0123456789"

func newService(t *testing.T) (*auth.Service, int64) {
	t.Helper()
	db := databasetest.New(t, database.Options{})
	// Accounts are created by the system (sign-up); the privacy policy
	// refuses anyone else.
	u, err := db.Client.User.Create().SetEmail("a@example.com").SetName("A").SetPasswordHash("x").Save(viewer.SystemContext(context.Background()))
	require.NoError(t, err)
	return auth.NewService(db.Client, auth.Options{Secret: secret, Issuer: "issuegraph", Audience: "issuegraph-api", AccessTTL: time.Minute, RefreshTTL: time.Hour}), u.ID
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.RegisteredClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	require.NoError(t, err)
	return s
}

// TestAccessTokenRejections: only an HS256 token with our key, issuer and
// audience, inside its validity window, is accepted.
func TestAccessTokenRejections(t *testing.T) {
	t.Parallel()
	svc, uid := newService(t)
	tokens, err := svc.Start(context.Background(), uid)
	require.NoError(t, err)
	got, err := svc.VerifyAccess(tokens.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, uid, got)

	now := time.Now()
	valid := jwt.RegisteredClaims{
		Issuer: "issuegraph", Subject: strconv.FormatInt(uid, 10), Audience: jwt.ClaimStrings{"issuegraph-api"},
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), NotBefore: jwt.NewNumericDate(now.Add(-time.Second)), IssuedAt: jwt.NewNumericDate(now.Add(-time.Second)),
	}
	with := func(f func(*jwt.RegisteredClaims)) jwt.RegisteredClaims { c := valid; f(&c); return c }
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	cases := map[string]string{
		"alg none":       none,
		"HS512":          sign(t, jwt.SigningMethodHS512, []byte(secret), valid),
		"wrong key":      sign(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef0123"), valid),
		"expired":        sign(t, jwt.SigningMethodHS256, []byte(secret), with(func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute)) })),
		"not yet valid":  sign(t, jwt.SigningMethodHS256, []byte(secret), with(func(c *jwt.RegisteredClaims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) })),
		"wrong audience": sign(t, jwt.SigningMethodHS256, []byte(secret), with(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"other"} })),
		"wrong issuer":   sign(t, jwt.SigningMethodHS256, []byte(secret), with(func(c *jwt.RegisteredClaims) { c.Issuer = "other" })),
		"no expiry":      sign(t, jwt.SigningMethodHS256, []byte(secret), with(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil })),
		"bad subject":    sign(t, jwt.SigningMethodHS256, []byte(secret), with(func(c *jwt.RegisteredClaims) { c.Subject = "root" })),
		"garbage":        "a.b.c",
		"tampered":       tokens.AccessToken[:len(tokens.AccessToken)-2] + "xx",
	}
	for name, tok := range cases {
		_, err := svc.VerifyAccess(tok)
		assert.ErrorIs(t, err, auth.ErrInvalidToken, name)
	}
}

// TestRefreshRotationAndReuse: a refresh token works once; presenting it
// again revokes the whole family, including the token it was rotated into.
func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	svc, uid := newService(t)
	ctx := context.Background()
	first, err := svc.Start(ctx, uid)
	require.NoError(t, err)
	gotUID, second, err := svc.Refresh(ctx, first.RefreshToken)
	require.NoError(t, err)
	assert.Equal(t, uid, gotUID)
	assert.NotEqual(t, first.RefreshToken, second.RefreshToken)

	_, _, err = svc.Refresh(ctx, first.RefreshToken)
	assert.ErrorIs(t, err, auth.ErrInvalidToken, "reuse is refused")
	_, _, err = svc.Refresh(ctx, second.RefreshToken)
	assert.ErrorIs(t, err, auth.ErrInvalidToken, "reuse revoked the family")

	third, err := svc.Start(ctx, uid)
	require.NoError(t, err)
	require.NoError(t, svc.Revoke(ctx, third.RefreshToken))
	_, _, err = svc.Refresh(ctx, third.RefreshToken)
	assert.ErrorIs(t, err, auth.ErrInvalidToken, "logged-out sessions cannot refresh")
}

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h, err := auth.HashPassword("correct horse battery")
	require.NoError(t, err)
	assert.True(t, auth.CheckPassword(h, "correct horse battery"))
	assert.False(t, auth.CheckPassword(h, "correct horse batterz"))
	assert.False(t, auth.CheckPassword("", "anything"), "unknown account never matches")
	h2, err := auth.HashPassword("correct horse battery")
	require.NoError(t, err)
	assert.NotEqual(t, h, h2, "salted")
}
