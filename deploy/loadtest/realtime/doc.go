// Command realtime measures real-time delivery: it starts Issuegraph
// instances (the built binary) on a fresh database and a shared Redis,
// holds many WebSocket subscribers of one project across them, and reports
// the server memory per connection and the delay from mutation to
// delivery. See deploy/loadtest/realtime/README.md.
package main
