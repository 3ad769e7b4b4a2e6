// Package database opens Issuegraph's PostgreSQL database and applies its
// versioned migrations.
package database
