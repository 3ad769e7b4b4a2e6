package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/graph/model"
	"github.com/issuegraph/issuegraph/subscriptions/delivery"
)

// Sessions is what the account mutations need from the token service.
type Sessions interface {
	HashPassword(password string) (string, error)
	// CheckPassword compares password with hash; hash is "" for an unknown
	// account and the check still takes the same time.
	CheckPassword(hash, password string) bool
	Start(ctx context.Context, userID int64) (*model.Tokens, error)
	Refresh(ctx context.Context, refreshToken string) (int64, *model.Tokens, error)
	Revoke(ctx context.Context, refreshToken string) error
	// NewAPIKey returns a new API key secret, the prefix shown to tell
	// keys apart, and the hash to store.
	NewAPIKey() (secret, prefix, hash string, err error)
}

// ErrInvalidToken is what Sessions returns for a refresh token that must not
// be honoured (unknown, expired, revoked or reused).
var ErrInvalidToken = errors.New("invalid or expired token")

// SignInGuard throttles sign-in attempts.
type SignInGuard interface {
	// Attempt counts one attempt to sign in as email. It returns an *Error
	// (RATE_LIMITED) when too many attempts failed; otherwise done must be
	// called with the outcome.
	Attempt(ctx context.Context, email string) (done func(ok bool), err error)
}

// Resolver is the root of every resolver. It holds the dependencies, built
// once by NewResolver; resolvers keep no other state.
type Resolver struct {
	client   *ent.Client
	sessions Sessions
	log      *slog.Logger
	signIn   SignInGuard

	// events configures real-time delivery (WithEvents, ...); deliverer
	// delivers, built from it once every option is applied, and stays nil
	// when the server runs without subscriptions.
	events    delivery.Options
	deliverer *delivery.Deliverer
}

// Option configures a Resolver.
type Option func(*Resolver)

// WithSignInGuard throttles logIn through g; without it logIn is not
// throttled (tests of the schema alone).
func WithSignInGuard(g SignInGuard) Option { return func(r *Resolver) { r.signIn = g } }

// NewResolver returns the root resolver.
func NewResolver(client *ent.Client, sessions Sessions, log *slog.Logger, opts ...Option) *Resolver {
	r := &Resolver{client: client, sessions: sessions, log: log}
	for _, o := range opts {
		o(r)
	}
	if r.events.Feed != nil {
		r.events.Client, r.events.End = client, r.endError
		r.deliverer = delivery.New(r.events)
	}
	return r
}

// requireUser returns the signed-in user's id: UNAUTHENTICATED for an
// anonymous request, FORBIDDEN for a service account, which is no person
// and cannot author anything.
func requireUser(ctx context.Context) (int64, error) {
	v := viewer.FromContext(ctx)
	if v.APIKey != nil {
		return 0, errNotAPerson
	}
	if !v.Authenticated() {
		return 0, errUnauthenticated
	}
	return v.UserID, nil
}

// requireActor returns UNAUTHENTICATED unless a user or a service account
// makes the request; what they may do is the privacy policies' decision.
func requireActor(ctx context.Context) error {
	if !viewer.FromContext(ctx).Actor() {
		return errUnauthenticated
	}
	return nil
}

// errRejected rolls a mutation's transaction back after its input check
// found problems that only the database could reveal.
var errRejected = errors.New("input rejected")

// mutate runs fn in a transaction. fn reports user-fixable problems through
// check and returns errRejected (or any error) to roll back; the changes
// and the events fn records are committed together or not at all.
func (r *Resolver) mutate(ctx context.Context, check *inputCheck, fn func(tx *ent.Tx) error) error {
	tx, err := r.client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("starting transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil {
			// A rollback fails when the connection is gone, which is what
			// failed the mutation too: err reaches the client and the
			// error log (throttled there), and PostgreSQL rolls back the
			// transaction of a session that ended. One line per failed
			// mutation would flood the log during an outage.
			r.log.DebugContext(ctx, "rolling back", "error", rbErr, "cause", err)
		}
		if errors.Is(err, errRejected) && check.failed() {
			return nil
		}
		return err
	}
	if check.failed() {
		return tx.Rollback()
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}
