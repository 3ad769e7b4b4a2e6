package database_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
)

// preparedOn lists the statements prepared on conn's server session. It
// has no arguments, so it is not prepared itself.
func preparedOn(t *testing.T, conn *sql.Conn) []string {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(), `SELECT statement FROM pg_prepared_statements ORDER BY statement`)
	require.NoError(t, err)
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

// pinned opens a fresh database with opts and holds one connection of it.
func pinned(t *testing.T, opts database.Options) *sql.Conn {
	t.Helper()
	db := databasetest.New(t, opts)
	conn, err := db.SQL.Conn(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func one(t *testing.T, conn *sql.Conn, query string, arg any) int {
	t.Helper()
	var n int
	require.NoError(t, conn.QueryRowContext(context.Background(), query, arg).Scan(&n))
	return n
}

// TestStatementCache: a connection prepares a statement with arguments on
// its first run and reuses it, keeps at most the configured number, and
// evicts the least recently used.
func TestStatementCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := pinned(t, database.Options{StatementCache: 2})

	const q1, q2, q3 = `SELECT $1::int + 1`, `SELECT $1::int + 2`, `SELECT $1::int + 3`
	assert.Equal(t, 2, one(t, conn, q1, 1))
	assert.Equal(t, 3, one(t, conn, q1, 2))
	assert.Equal(t, []string{q1}, preparedOn(t, conn), "prepared once, run twice")

	assert.Equal(t, 3, one(t, conn, q2, 1))
	assert.Equal(t, 2, one(t, conn, q1, 1)) // q1 is now the most recent
	assert.Equal(t, 4, one(t, conn, q3, 1))
	assert.Equal(t, []string{q1, q3}, preparedOn(t, conn), "q2, least recently used, was deallocated")

	// Exec goes through the same cache.
	_, err := conn.ExecContext(ctx, `SELECT set_config('application_name', $1, false)`, "cache-test")
	require.NoError(t, err)
	assert.Contains(t, preparedOn(t, conn), `SELECT set_config('application_name', $1, false)`)

	// A statement that fails to prepare is reported and not kept.
	err = conn.QueryRowContext(ctx, `SELECT $1::int FROM no_such_table`, 1).Scan(new(int))
	require.ErrorContains(t, err, "no_such_table")
	assert.NotContains(t, preparedOn(t, conn), `SELECT $1::int FROM no_such_table`)
}

// TestStatementCacheOff: with no cache, nothing stays prepared.
func TestStatementCacheOff(t *testing.T) {
	t.Parallel()
	conn := pinned(t, database.Options{})
	assert.Equal(t, 2, one(t, conn, `SELECT $1::int + 1`, 1))
	assert.Empty(t, preparedOn(t, conn))
}

// TestStatementCacheAcrossSchemaChangesAndTransactions: a statement whose
// result columns change under it is prepared again; statements prepared
// in a transaction that rolls back stay usable.
func TestStatementCacheAcrossSchemaChangesAndTransactions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := pinned(t, database.Options{StatementCache: 8})

	_, err := conn.ExecContext(ctx, `CREATE TABLE cache_probe (a int)`)
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, `INSERT INTO cache_probe VALUES ($1)`, 7)
	require.NoError(t, err)
	const star = `SELECT * FROM cache_probe WHERE a = $1`
	columns := func() []string {
		rows, err := conn.QueryContext(ctx, star, 7)
		require.NoError(t, err)
		defer rows.Close()
		cols, err := rows.Columns()
		require.NoError(t, err)
		return cols
	}
	assert.Equal(t, []string{"a"}, columns())
	_, err = conn.ExecContext(ctx, `ALTER TABLE cache_probe ADD COLUMN b int`)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, columns(), "re-prepared after the table changed")

	tx, err := conn.BeginTx(ctx, nil)
	require.NoError(t, err)
	var n int
	require.NoError(t, tx.QueryRowContext(ctx, `SELECT $1::int * 10`, 4).Scan(&n))
	assert.Equal(t, 40, n)
	require.NoError(t, tx.Rollback())
	assert.Equal(t, 50, one(t, conn, `SELECT $1::int * 10`, 5), "prepared in a rolled-back transaction, still usable")
}
