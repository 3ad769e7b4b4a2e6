package databasetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/lib/pq"

	"github.com/issuegraph/issuegraph/ent/database"
)

// ServerURL is the PostgreSQL server tests use:
// ISSUEGRAPH_TEST_DATABASE_URL, or the local default.
func ServerURL() string {
	if u := os.Getenv("ISSUEGRAPH_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// lockID serialises template creation and cloning across test packages
// running in parallel.
const lockID int64 = 7_301_912_200_002

// URL creates a fresh migrated database and returns its URL; the database
// is dropped when the test ends.
func URL(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	admin, err := sql.Open("postgres", withDB(ServerURL(), "postgres"))
	if err != nil {
		tb.Fatalf("opening maintenance database: %v", err)
	}
	defer admin.Close()
	conn, err := admin.Conn(ctx)
	if err != nil {
		tb.Fatalf("PostgreSQL is not reachable at %s (start it, or set ISSUEGRAPH_TEST_DATABASE_URL): %v", database.Redact(ServerURL()), err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lockID); err != nil {
		tb.Fatalf("taking test database lock: %v", err)
	}
	template, err := ensureTemplate(ctx, conn)
	if err != nil {
		_, _ = conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, lockID)
		tb.Fatalf("preparing template database: %v", err)
	}
	name := "issuegraph_test_" + randomSuffix()
	_, err = conn.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", pq.QuoteIdentifier(name), pq.QuoteIdentifier(template)))
	_, _ = conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, lockID)
	if err != nil {
		tb.Fatalf("creating test database: %v", err)
	}
	dropAtCleanup(tb, name)
	return withDB(ServerURL(), name)
}

// EmptyURL creates a database with no tables at all (no migration applied)
// and returns its URL; the database is dropped when the test ends.
func EmptyURL(tb testing.TB) string {
	tb.Helper()
	admin, err := sql.Open("postgres", withDB(ServerURL(), "postgres"))
	if err != nil {
		tb.Fatalf("opening maintenance database: %v", err)
	}
	defer admin.Close()
	name := "issuegraph_test_" + randomSuffix()
	if _, err := admin.ExecContext(context.Background(), fmt.Sprintf("CREATE DATABASE %s TEMPLATE template0", pq.QuoteIdentifier(name))); err != nil {
		tb.Fatalf("creating empty test database: %v", err)
	}
	dropAtCleanup(tb, name)
	return withDB(ServerURL(), name)
}

// dropAtCleanup drops database name when the test ends.
func dropAtCleanup(tb testing.TB, name string) {
	tb.Cleanup(func() {
		admin, err := sql.Open("postgres", withDB(ServerURL(), "postgres"))
		if err != nil {
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", pq.QuoteIdentifier(name))); err != nil {
			tb.Logf("dropping test database %s: %v", name, err)
		}
	})
}

// New returns an open connection to a fresh migrated database, closed and
// dropped when the test ends.
func New(tb testing.TB, opts database.Options) *database.DB {
	tb.Helper()
	if opts.MaxOpenConns == 0 {
		// Test packages run side by side on a PostgreSQL with the default
		// 100 connections: an unbounded pool per test would exhaust it.
		opts.MaxOpenConns = 8
	}
	db, err := database.Open(context.Background(), URL(tb), opts)
	if err != nil {
		tb.Fatalf("opening test database: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// ensureTemplate creates the migrated template database once per
// migration set. The caller holds lockID.
func ensureTemplate(ctx context.Context, conn *sql.Conn) (string, error) {
	migrations, err := database.Migrations()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	// The revision table's format is part of the template: a template
	// from before the move to Atlas's table is not reused.
	fmt.Fprintln(h, "revisions: atlas_schema_revisions")
	for _, m := range migrations {
		fmt.Fprintf(h, "%s\n%s\n", m.Version, m.SQL)
	}
	name := "issuegraph_template_" + hex.EncodeToString(h.Sum(nil))[:16]
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	// Build under a temporary name and rename when complete, so a run that
	// dies half way never leaves a half-migrated template behind.
	building := name + "_building"
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", pq.QuoteIdentifier(building))); err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(building)); err != nil {
		return "", err
	}
	db, err := sql.Open("postgres", withDB(ServerURL(), building))
	if err != nil {
		return "", err
	}
	_, err = database.Migrate(ctx, db)
	db.Close()
	if err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", pq.QuoteIdentifier(building), pq.QuoteIdentifier(name))); err != nil {
		return "", err
	}
	return name, nil
}

func withDB(rawURL, name string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	u.Path = "/" + name
	return u.String()
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
