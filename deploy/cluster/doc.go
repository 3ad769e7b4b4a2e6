// Package cluster holds `make cluster`: three Issuegraph instances behind
// HAProxy on this machine, sharing PostgreSQL and Redis, and the scenarios
// that check a scaled-out deployment (cluster_test.go, build tag cluster,
// so `make test` does not run it).
package cluster
