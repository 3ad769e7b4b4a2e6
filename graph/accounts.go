package graph

import (
	"context"
	"errors"

	"github.com/issuegraph/issuegraph/graph/model"
)

func invalidCredentials() *model.AuthPayload {
	return &model.AuthPayload{UserErrors: []*model.UserError{{
		Field: []string{"input"}, Message: "email or password is incorrect", Code: model.UserErrorCodeInvalidCredentials,
	}}}
}
func invalidRefresh() *model.AuthPayload {
	return &model.AuthPayload{UserErrors: []*model.UserError{{
		Field: []string{"input", "refreshToken"}, Message: "refresh token is invalid, expired or already used; sign in again", Code: model.UserErrorCodeInvalidToken,
	}}}
}
func isInvalidToken(err error) bool {
	return errors.Is(err, ErrInvalidToken)
}

// attemptSignIn counts a logIn attempt with the sign-in guard, if any.
func (r *Resolver) attemptSignIn(ctx context.Context, email string) (func(ok bool), error) {
	if r.signIn == nil {
		return func(bool) {}, nil
	}
	return r.signIn.Attempt(ctx, email)
}
