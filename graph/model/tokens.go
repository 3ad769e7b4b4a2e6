package model

import "time"

// Tokens are the credentials a successful sign-in returns: a short-lived
// access token for the Authorization header and a refresh token that can be
// exchanged once for a new pair.
type Tokens struct {
	AccessToken           string
	AccessTokenExpiresAt  time.Time
	RefreshToken          string
	RefreshTokenExpiresAt time.Time
}
