package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/refreshtoken"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/graph/model"
)

// ErrInvalidToken is returned for every token that must not be honoured:
// malformed, badly signed, expired, revoked or reused. Callers show one
// message for all of them.
var ErrInvalidToken = graph.ErrInvalidToken

// Service issues and checks access and refresh tokens.
type Service struct {
	client     *ent.Client
	secret     []byte
	issuer     string
	audience   string
	accessTTL  time.Duration
	refreshTTL time.Duration
	now        func() time.Time
}

// Options configure a Service.
type Options struct {
	Secret     string
	Issuer     string
	Audience   string
	AccessTTL  time.Duration
	RefreshTTL time.Duration
}

// NewService returns a token service storing refresh tokens through client.
func NewService(client *ent.Client, o Options) *Service {
	return &Service{
		client: client, secret: []byte(o.Secret), issuer: o.Issuer, audience: o.Audience,
		accessTTL: o.AccessTTL, refreshTTL: o.RefreshTTL, now: time.Now,
	}
}

// HashPassword hashes a new password.
func (s *Service) HashPassword(password string) (string, error) { return HashPassword(password) }

// CheckPassword compares a password with a stored hash ("" for unknown).
func (s *Service) CheckPassword(hash, password string) bool { return CheckPassword(hash, password) }

// Start signs userID in: a new access token and a refresh token that opens
// a new family.
func (s *Service) Start(ctx context.Context, userID int64) (*model.Tokens, error) {
	family, err := randomToken(16)
	if err != nil {
		return nil, err
	}
	return s.issue(viewer.SystemContext(ctx), s.client, userID, family)
}

// Refresh exchanges a refresh token for a new pair. Each refresh token works
// once: presenting one again means it leaked, so its whole family is
// revoked and the caller must sign in again.
func (s *Service) Refresh(ctx context.Context, refresh string) (int64, *model.Tokens, error) {
	ctx = viewer.SystemContext(ctx)
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("starting refresh: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	rt, err := tx.RefreshToken.Query().Where(refreshtoken.TokenHash(hashToken(refresh))).ForUpdate().Only(ctx)
	if ent.IsNotFound(err) {
		return 0, nil, ErrInvalidToken
	}
	if err != nil {
		return 0, nil, fmt.Errorf("looking up refresh token: %w", err)
	}
	now := s.now()
	if rt.UsedAt != nil || rt.RevokedAt != nil {
		// Reuse: revoke the family and commit that, then refuse.
		if _, err := tx.RefreshToken.Update().Where(refreshtoken.Family(rt.Family), refreshtoken.RevokedAtIsNil()).SetRevokedAt(now).Save(ctx); err != nil {
			return 0, nil, fmt.Errorf("revoking token family: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return 0, nil, fmt.Errorf("revoking token family: %w", err)
		}
		return 0, nil, ErrInvalidToken
	}
	if now.After(rt.ExpiresAt) {
		return 0, nil, ErrInvalidToken
	}
	if err := tx.RefreshToken.UpdateOne(rt).SetUsedAt(now).Exec(ctx); err != nil {
		return 0, nil, fmt.Errorf("rotating refresh token: %w", err)
	}
	tokens, err := s.issue(ctx, tx.Client(), rt.UserID, rt.Family)
	if err != nil {
		return 0, nil, err
	}
	if err := tx.Commit(); err != nil {
		return 0, nil, fmt.Errorf("rotating refresh token: %w", err)
	}
	return rt.UserID, tokens, nil
}

// Revoke ends the session a refresh token belongs to (its whole family).
func (s *Service) Revoke(ctx context.Context, refresh string) error {
	ctx = viewer.SystemContext(ctx)
	rt, err := s.client.RefreshToken.Query().Where(refreshtoken.TokenHash(hashToken(refresh))).Only(ctx)
	if ent.IsNotFound(err) {
		return ErrInvalidToken
	}
	if err != nil {
		return fmt.Errorf("looking up refresh token: %w", err)
	}
	_, err = s.client.RefreshToken.Update().Where(refreshtoken.Family(rt.Family), refreshtoken.RevokedAtIsNil()).SetRevokedAt(s.now()).Save(ctx)
	if err != nil {
		return fmt.Errorf("revoking session: %w", err)
	}
	return nil
}

func (s *Service) issue(ctx context.Context, client *ent.Client, userID int64, family string) (*model.Tokens, error) {
	now := s.now()
	access, accessExp, err := s.signAccess(userID, now)
	if err != nil {
		return nil, err
	}
	refresh, err := randomToken(32)
	if err != nil {
		return nil, err
	}
	refresh = "igr_" + refresh
	refreshExp := now.Add(s.refreshTTL)
	err = client.RefreshToken.Create().
		SetUserID(userID).SetTokenHash(hashToken(refresh)).SetFamily(family).SetExpiresAt(refreshExp).
		Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("storing refresh token: %w", err)
	}
	return &model.Tokens{AccessToken: access, AccessTokenExpiresAt: accessExp, RefreshToken: refresh, RefreshTokenExpiresAt: refreshExp}, nil
}

func (s *Service) signAccess(userID int64, now time.Time) (string, time.Time, error) {
	jti, err := randomToken(12)
	if err != nil {
		return "", time.Time{}, err
	}
	exp := now.Add(s.accessTTL)
	claims := jwt.RegisteredClaims{
		Issuer:    s.issuer,
		Subject:   strconv.FormatInt(userID, 10),
		Audience:  jwt.ClaimStrings{s.audience},
		ExpiresAt: jwt.NewNumericDate(exp),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        jti,
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signing access token: %w", err)
	}
	return signed, exp, nil
}

// VerifyAccess checks an access token and returns its user id. Only HS256
// with this service's key, issuer and audience is accepted; "alg: none",
// other algorithms, expired and not-yet-valid tokens are refused.
func (s *Service) VerifyAccess(token string) (int64, error) {
	claims := &jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return s.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(s.issuer),
		jwt.WithAudience(s.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(s.now),
	)
	if err != nil {
		return 0, ErrInvalidToken
	}
	id, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil || id <= 0 {
		return 0, ErrInvalidToken
	}
	return id, nil
}

func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}
