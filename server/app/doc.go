// Package app is Issuegraph's composition root: it builds one instance
// (telemetry, the database, Redis, the HTTP server) in one visible order,
// serves it with Run and releases it with Close. main and the end-to-end
// tests (server/servertest) build their instances through it.
package app
