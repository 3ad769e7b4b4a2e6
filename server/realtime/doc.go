// Package realtime is an Issuegraph instance's real-time side, whole: it
// builds the event broker (Redis, or in-process without Redis), runs the
// outbox relay and the feed subscriptions follow (package subscriptions),
// and serves subscriptions over WebSocket (subpackage wstransport, with
// the instance's authentication, accounting and error rules) and SSE. It
// also ends the open streams of revoked credentials, reports the
// real-time metrics, and shuts down in the order clients need: close 1001
// to every WebSocket before any subscription ends.
//
// package server wires it in: its transports go onto the GraphQL handler
// and DetachWebSockets in front of the middleware; nothing else of
// package server knows about events.
package realtime
