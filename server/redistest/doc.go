// Package redistest gives tests a real Redis: a client of the test server
// (ISSUEGRAPH_TEST_REDIS_URL, or 127.0.0.1:6379), a key prefix of their own
// that is cleaned up afterwards, and a server that hangs, for timeouts.
package redistest
