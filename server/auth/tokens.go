package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/refreshtoken"
	"github.com/issuegraph/issuegraph/ent/viewer"
)

// ErrInvalidToken is returned for every token that must not be honoured:
// malformed, badly signed, expired, revoked or reused. Callers show one
// message for all of them.
var ErrInvalidToken = errors.New("invalid or expired token")

// Tokens are what signing in or refreshing hands a client: a short-lived
// access token and the refresh token that gets the next pair.
type Tokens struct {
	AccessToken           string
	AccessTokenExpiresAt  time.Time
	RefreshToken          string
	RefreshTokenExpiresAt time.Time
}

// Service issues and checks access and refresh tokens.
type Service struct {
	client     *ent.Client
	secret     []byte
	issuer     string
	audience   string
	accessTTL  time.Duration
	refreshTTL time.Duration
	now        func() time.Time
	// revocations refuses access tokens of ended sessions; nil: none are
	// refused before they expire.
	revocations *Revocations
	// verified remembers access tokens this service has checked, by their
	// whole text (signature included): a client sends the same token with
	// every request until it expires, and checking its signature and
	// decoding its claims each time cost 3% of an issue page's CPU. A
	// remembered token is still refused once its validity window ends or
	// its session is revoked.
	verified *lru.Cache[string, verifiedToken]
}

// verifiedTokens is how many checked access tokens a Service remembers.
const verifiedTokens = 10_000

// verifiedToken is what an access token that passed every check said.
type verifiedToken struct {
	userID          int64
	session         string
	validFrom, ends time.Time // not before validFrom (nbf, iat), before ends (exp)
}

// Options configure a Service.
type Options struct {
	Secret     string
	Issuer     string
	Audience   string
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	// Revocations, when set, is told of every session this service ends
	// and refuses the access tokens of revoked ones (revocations.go).
	Revocations *Revocations
}

// NewService returns a token service storing refresh tokens through client.
func NewService(client *ent.Client, o Options) *Service {
	verified, err := lru.New[string, verifiedToken](verifiedTokens)
	if err != nil { // only for a size below one
		panic(err)
	}
	return &Service{
		client: client, secret: []byte(o.Secret), issuer: o.Issuer, audience: o.Audience,
		accessTTL: o.AccessTTL, refreshTTL: o.RefreshTTL, now: time.Now, revocations: o.Revocations,
		verified: verified,
	}
}

// HashPassword hashes a new password.
func (s *Service) HashPassword(password string) (string, error) { return HashPassword(password) }

// CheckPassword compares a password with a stored hash ("" for unknown).
func (s *Service) CheckPassword(hash, password string) bool { return CheckPassword(hash, password) }

// Start signs userID in: a new access token and a refresh token that opens
// a new family.
func (s *Service) Start(ctx context.Context, userID int64) (*Tokens, error) {
	family, err := randomToken(16)
	if err != nil {
		return nil, err
	}
	return s.issue(viewer.SystemContext(ctx), s.client, userID, family)
}

// Refresh exchanges a refresh token for a new pair. Each refresh token works
// once: presenting one again means it leaked, so its whole family is
// revoked and the caller must sign in again.
func (s *Service) Refresh(ctx context.Context, refresh string) (int64, *Tokens, error) {
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
		s.revoked(ctx, rt.Family)
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
	s.revoked(ctx, rt.Family)
	return nil
}

// revoked stops the access tokens of session family on every instance.
func (s *Service) revoked(ctx context.Context, family string) {
	if s.revocations != nil {
		s.revocations.Add(ctx, SessionKey(family))
	}
}

func (s *Service) issue(ctx context.Context, client *ent.Client, userID int64, family string) (*Tokens, error) {
	now := s.now()
	access, accessExp, err := s.signAccess(userID, family, now)
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
	return &Tokens{AccessToken: access, AccessTokenExpiresAt: accessExp, RefreshToken: refresh, RefreshTokenExpiresAt: refreshExp}, nil
}

// accessClaims are an access token's claims: the registered ones and sid,
// the session (refresh-token family) it was issued in, by which logOut and
// refresh-token reuse revoke it.
type accessClaims struct {
	jwt.RegisteredClaims
	Session string `json:"sid,omitempty"`
}

func (s *Service) signAccess(userID int64, session string, now time.Time) (string, time.Time, error) {
	jti, err := randomToken(12)
	if err != nil {
		return "", time.Time{}, err
	}
	exp := now.Add(s.accessTTL)
	claims := accessClaims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    s.issuer,
		Subject:   strconv.FormatInt(userID, 10),
		Audience:  jwt.ClaimStrings{s.audience},
		ExpiresAt: jwt.NewNumericDate(exp),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        jti,
	}, Session: session}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signing access token: %w", err)
	}
	return signed, exp, nil
}

// VerifyAccess checks an access token and returns its user id (Access).
func (s *Service) VerifyAccess(token string) (int64, error) {
	id, _, err := s.Access(token)
	return id, err
}

// Access checks an access token and returns its user id and session. Only
// HS256 with this service's key, issuer and audience is accepted; "alg:
// none", other algorithms, expired and not-yet-valid tokens are refused,
// and so are the tokens of a revoked session. A token without a session
// (issued before sessions were named) cannot be revoked and lives until
// it expires.
func (s *Service) Access(token string) (userID int64, session string, err error) {
	v, ok := s.verified.Get(token)
	if !ok {
		if v, err = s.check(token); err != nil {
			return 0, "", err
		}
		s.verified.Add(token, v)
	}
	if now := s.now(); now.Before(v.validFrom) || !now.Before(v.ends) {
		return 0, "", ErrInvalidToken
	}
	if v.session != "" && s.revocations != nil && s.revocations.Revoked(SessionKey(v.session)) {
		return 0, "", ErrInvalidToken
	}
	return v.userID, v.session, nil
}

// check verifies an access token's signature and claims (Access).
func (s *Service) check(token string) (verifiedToken, error) {
	claims := &accessClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return s.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(s.issuer),
		jwt.WithAudience(s.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(s.now),
	)
	if err != nil {
		return verifiedToken{}, ErrInvalidToken
	}
	id, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil || id <= 0 {
		return verifiedToken{}, ErrInvalidToken
	}
	// The parser checked exp (required), nbf and iat against now; the
	// remembered window is the same, for later requests.
	v := verifiedToken{userID: id, session: claims.Session, ends: claims.ExpiresAt.Time}
	for _, t := range []*jwt.NumericDate{claims.NotBefore, claims.IssuedAt} {
		if t != nil && t.After(v.validFrom) {
			v.validFrom = t.Time
		}
	}
	return v, nil
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
