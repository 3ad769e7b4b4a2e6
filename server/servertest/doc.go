// Package servertest runs a real Issuegraph instance for tests: a fresh
// migrated database, the full HTTP stack on 127.0.0.1:0, and a small
// GraphQL client.
package servertest
