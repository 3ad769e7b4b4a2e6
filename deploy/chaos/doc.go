// Package chaos holds `make chaos`: a fault suite that starts its own
// PostgreSQL and Redis and two Issuegraph instances, breaks them one way
// after another under load (database stop and start, Redis outage,
// SIGTERM, kill -9, relay leader killed, a soak) and prints one table of
// what it measured against the targets of docs/reliability.md
// (chaos_test.go, build tag chaos, so `make test` does not run it).
package chaos
