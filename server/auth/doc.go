// Package auth holds Issuegraph's credentials: argon2id password hashes,
// signed JWT access tokens, rotating refresh tokens, API keys, and the
// throttle on failed sign-in attempts. It knows nothing of GraphQL: the
// server adapts it to what the resolvers need.
package auth
