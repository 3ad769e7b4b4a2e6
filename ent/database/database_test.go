package database_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
)

// TestMigrationsMatchSchema applies the versioned migrations to an empty
// database and asks ent what it would still change to reach ent/schema:
// nothing, or a migration is missing (`make migration NAME=...`).
func TestMigrationsMatchSchema(t *testing.T) {
	t.Parallel()
	db := databasetest.New(t, database.Options{})
	var buf bytes.Buffer
	require.NoError(t, db.Client.Schema.WriteTo(context.Background(), &buf))
	var changes []string
	for _, line := range strings.Split(buf.String(), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line != "BEGIN;" && line != "COMMIT;" {
			changes = append(changes, line)
		}
	}
	assert.Empty(t, changes, "ent/schema differs from the migrations; generate one with `make migration NAME=...`")
}

// TestMigrateIsIdempotent starts from an empty database: everything is
// pending, the first run applies every migration, and a second run applies
// nothing and leaves nothing pending.
func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := database.Open(ctx, databasetest.EmptyURL(t), database.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	all, err := database.Migrations()
	require.NoError(t, err)
	require.NotEmpty(t, all)
	versions := make([]string, len(all))
	for i, m := range all {
		versions[i] = m.Version
	}

	pending, err := database.Pending(ctx, db.SQL)
	require.NoError(t, err)
	assert.Equal(t, versions, pending, "an empty database lacks every migration")
	applied, err := database.Migrate(ctx, db.SQL)
	require.NoError(t, err)
	assert.Equal(t, versions, applied, "the first run applies every migration, in order")

	applied, err = database.Migrate(ctx, db.SQL)
	require.NoError(t, err)
	assert.Empty(t, applied, "the second run applies nothing")
	pending, err = database.Pending(ctx, db.SQL)
	require.NoError(t, err)
	assert.Empty(t, pending)
	var tables int
	require.NoError(t, db.SQL.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'issues'`).Scan(&tables))
	assert.Equal(t, 1, tables, "the schema exists")
}

func TestOpenRefusesBadURL(t *testing.T) {
	t.Parallel()
	_, err := database.Open(context.Background(), "mysql://x", database.Options{})
	require.Error(t, err)
	_, err = database.Open(context.Background(), "postgres://postgres:secret@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", database.Options{})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret", "the password is redacted")
}

// TestPlannerSettingsAndTheURLsOwn: connections plan with random_page_cost
// 1.1 and, with the statement cache, generic plans, unless the URL sets
// either itself.
func TestPlannerSettingsAndTheURLsOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	show := func(db *database.DB, setting string) string {
		var v string
		require.NoError(t, db.SQL.QueryRowContext(ctx, "SHOW "+setting).Scan(&v))
		return v
	}
	url := databasetest.URL(t)
	open := func(rawURL string, opts database.Options) *database.DB {
		db, err := database.Open(ctx, rawURL, opts)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	}

	ours := open(url, database.Options{StatementCache: 8})
	assert.Equal(t, "1.1", show(ours, "random_page_cost"))
	assert.Equal(t, "force_generic_plan", show(ours, "plan_cache_mode"))
	assert.Equal(t, "auto", show(open(url, database.Options{}), "plan_cache_mode"), "no cache, no generic plans")

	theirs := open(url+"&random_page_cost=4&plan_cache_mode=auto", database.Options{StatementCache: 8})
	assert.Equal(t, "4", show(theirs, "random_page_cost"))
	assert.Equal(t, "auto", show(theirs, "plan_cache_mode"))
}
