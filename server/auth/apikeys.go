package auth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/apikey"
	"github.com/issuegraph/issuegraph/ent/viewer"
)

// APIKeyPrefix starts every API key secret, so the server (and secret
// scanners) can tell keys from access tokens at a glance.
const APIKeyPrefix = "igk_"

// lastUsedPrecision is how stale an API key's last-used time may get: it
// is written at most once per this interval, not on every request.
const lastUsedPrecision = time.Minute

// NewAPIKeySecret returns a new API key secret, the short prefix shown to
// tell keys apart, and the hash to store.
func NewAPIKeySecret() (secret, prefix, hash string, err error) {
	raw, err := randomToken(32)
	if err != nil {
		return "", "", "", err
	}
	secret = APIKeyPrefix + raw
	return secret, secret[:len(APIKeyPrefix)+6], hashToken(secret), nil
}

// NewAPIKey is NewAPIKeySecret, for the resolvers.
func (s *Service) NewAPIKey() (secret, prefix, hash string, err error) { return NewAPIKeySecret() }

// IsAPIKey reports whether a bearer token is an API key rather than an
// access token.
func IsAPIKey(token string) bool { return strings.HasPrefix(token, APIKeyPrefix) }

// VerifyAPIKey returns the service account behind secret, or
// ErrInvalidToken when the key is unknown, revoked or expired. It records
// when the key was last used.
func (s *Service) VerifyAPIKey(ctx context.Context, secret string) (*viewer.APIKey, error) {
	ctx = viewer.SystemContext(ctx)
	k, err := s.client.APIKey.Query().Where(apikey.KeyHash(hashToken(secret))).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("looking up API key: %w", err)
	}
	now := s.now()
	if k.RevokedAt != nil || (k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)) {
		return nil, ErrInvalidToken
	}
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) >= lastUsedPrecision {
		if err := s.client.APIKey.UpdateOne(k).SetLastUsedAt(now).Exec(ctx); err != nil {
			return nil, fmt.Errorf("recording API key use: %w", err)
		}
	}
	return &viewer.APIKey{ID: k.ID, OrganizationID: k.OrganizationID, Role: string(k.Role)}, nil
}
