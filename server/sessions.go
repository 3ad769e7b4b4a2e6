package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/graph/model"
	"github.com/issuegraph/issuegraph/server/auth"
)

// sessions is the token service as the resolvers need it (graph.Sessions).
// server/auth knows nothing of GraphQL: its tokens become the schema's
// model, and its invalid-token error the one graph tells its users about.
type sessions struct{ *auth.Service }

var _ graph.Sessions = sessions{}

func (s sessions) Start(ctx context.Context, userID int64) (*model.Tokens, error) {
	t, err := s.Service.Start(ctx, userID)
	return (*model.Tokens)(t), err
}

func (s sessions) Refresh(ctx context.Context, refresh string) (int64, *model.Tokens, error) {
	id, t, err := s.Service.Refresh(ctx, refresh)
	return id, (*model.Tokens)(t), invalidToken(err)
}

func (s sessions) Revoke(ctx context.Context, refresh string) error {
	return invalidToken(s.Service.Revoke(ctx, refresh))
}

func invalidToken(err error) error {
	if errors.Is(err, auth.ErrInvalidToken) {
		return fmt.Errorf("%w: %w", graph.ErrInvalidToken, err)
	}
	return err
}

// signInGuard throttles logIn (graph.SignInGuard) by account and by the
// request's client address, answering RATE_LIMITED when either is spent.
type signInGuard struct{ throttle *auth.Throttle }

var _ graph.SignInGuard = signInGuard{}

func (g signInGuard) Attempt(ctx context.Context, email string) (func(ok bool), error) {
	done, err := g.throttle.Attempt(ctx, email, clientAddress(ctx))
	var throttled *auth.ThrottledError
	if errors.As(err, &throttled) {
		return nil, &graph.Error{
			Code: graph.CodeRateLimited, Message: throttled.Error(),
			Extensions: map[string]any{"retryAfter": throttled.Seconds()},
		}
	}
	return done, err
}
