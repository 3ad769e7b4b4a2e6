// Package server is Issuegraph's HTTP side: the middleware every request
// passes (request id and access log, client address, rate-limit meter,
// deadline, authentication, body checks, idempotency, batches, loaders),
// the GraphQL handler with its transports and extensions, the health
// endpoints and graceful shutdown. What each concern does lives in its own
// subpackage (auth, limits, persisted, realtime, telemetry, graphiql);
// this package only wires them onto one net/http handler. New builds a
// Server from opened parts; server/app opens them.
package server
