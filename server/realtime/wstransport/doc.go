// Package wstransport is Issuegraph's GraphQL transport over WebSocket, on
// github.com/coder/websocket: graphql-transport-ws (the graphql-ws
// library's protocol) and the legacy graphql-ws of
// subscriptions-transport-ws. It is a gqlgen graphql.Transport, so every
// operation still runs through gqlgen's executor and its extensions.
//
// It is built to hold many idle subscribers cheaply:
//
//   - one long-lived goroutine per connection, its read loop; writes take a
//     mutex instead of going through a writer goroutine;
//   - no goroutine per subscription: a subscription that supports pacing
//     (delivery.Pacer) has each event resolved and written on the goroutine
//     that delivers it; other operations run on a short-lived goroutine;
//   - one keep-alive goroutine for every connection of the instance
//     (KeepAlive), and one timer per connection only until it is
//     initialised.
//
// Going away (GoingAway): every connection stops writing and gets close
// 1001 before the caller ends any subscription, so no client is told that
// a subscription completed when it should reconnect and resume. A
// subscription that the server ends for a reason worth retrying
// (Options.Retryable) is not completed either: its connection is closed
// with 1013, which the clients' retry logic reconnects after. See
// docs/realtime.md for what a client sees in each case.
package wstransport
