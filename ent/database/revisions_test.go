package database_test

import (
	"context"
	"io/fs"
	"testing"
	"time"

	atlas "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/ent/migrate/migrations"
)

// atlasPending asks Atlas's own executor, reading the revision table the
// way `atlas migrate status` does, which migration files it would apply.
func atlasPending(t *testing.T, db *database.DB) []string {
	t.Helper()
	dir := &atlas.MemDir{}
	entries, err := fs.ReadDir(migrations.FS, ".")
	require.NoError(t, err)
	for _, e := range entries {
		b, err := fs.ReadFile(migrations.FS, e.Name())
		require.NoError(t, err)
		require.NoError(t, dir.WriteFile(e.Name(), b))
	}
	drv, err := postgres.Open(db.SQL)
	require.NoError(t, err)
	ex, err := atlas.NewExecutor(drv, dir, database.Revisions(db.SQL))
	require.NoError(t, err)
	files, err := ex.Pending(context.Background())
	if err == atlas.ErrNoPendingFiles {
		return nil
	}
	require.NoError(t, err)
	var versions []string
	for _, f := range files {
		versions = append(versions, f.Version())
	}
	return versions
}

func openEmpty(t *testing.T) *database.DB {
	t.Helper()
	db, err := database.Open(context.Background(), databasetest.EmptyURL(t), database.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// migrated returns a database that Migrate took from empty to current, and
// the migrations it applied.
func migrated(t *testing.T) (*database.DB, []database.Migration) {
	t.Helper()
	db := openEmpty(t)
	all, err := database.Migrations()
	require.NoError(t, err)
	applied, err := database.Migrate(context.Background(), db.SQL)
	require.NoError(t, err)
	require.Len(t, applied, len(all))
	return db, all
}

// TestMigrateRecordsRevisionsAsAtlas migrates an empty database: every
// file is recorded in Atlas's revision table with atlas.sum's hash and
// its statement count, and Atlas finds nothing left to apply.
func TestMigrateRecordsRevisionsAsAtlas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, all := migrated(t)

	revs, err := database.Revisions(db.SQL).ReadRevisions(ctx)
	require.NoError(t, err)
	require.Len(t, revs, len(all))
	for i, m := range all {
		r := revs[i]
		assert.Equal(t, m.Version, r.Version)
		assert.Equal(t, m.Description, r.Description)
		assert.Equal(t, atlas.RevisionTypeExecute, r.Type)
		assert.Equal(t, m.Hash, r.Hash)
		assert.NotEmpty(t, r.Hash)
		assert.Positive(t, r.Total)
		assert.Equal(t, r.Total, r.Applied, "applied in full")
		assert.Empty(t, r.Error)
	}
	assert.Empty(t, atlasPending(t, db), "Atlas reads the state as up to date")
}

// TestMigrateCarriesLegacyStateForward starts from a database that an
// older binary migrated, all but the newest file, recording them in its
// own schema_migrations table: the next Migrate records those in Atlas's
// table as they were, applies only the newest, and Atlas agrees.
func TestMigrateCarriesLegacyStateForward(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openEmpty(t)
	all, err := database.Migrations()
	require.NoError(t, err)
	require.Greater(t, len(all), 1)
	older, newest := all[:len(all)-1], all[len(all)-1]

	// What the older applier did, file by file.
	_, err = db.SQL.Exec(`CREATE TABLE schema_migrations (
		version text PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
	require.NoError(t, err)
	appliedAt := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, m := range older {
		_, err := db.SQL.Exec(m.SQL)
		require.NoError(t, err, m.Version)
		_, err = db.SQL.Exec(`INSERT INTO schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)`, m.Version, m.Description, appliedAt)
		require.NoError(t, err)
	}
	pending, err := database.Pending(ctx, db.SQL)
	require.NoError(t, err)
	assert.Equal(t, []string{newest.Version}, pending, "read from the legacy table until the next Migrate")

	applied, err := database.Migrate(ctx, db.SQL)
	require.NoError(t, err)
	assert.Equal(t, []string{newest.Version}, applied, "nothing the older binary applied runs again")

	revs, err := database.Revisions(db.SQL).ReadRevisions(ctx)
	require.NoError(t, err)
	require.Len(t, revs, len(all))
	for i, m := range older {
		assert.Equal(t, m.Version, revs[i].Version)
		assert.Equal(t, m.Hash, revs[i].Hash)
		assert.True(t, appliedAt.Equal(revs[i].ExecutedAt), "kept when it was applied: %s", revs[i].ExecutedAt)
	}
	assert.Empty(t, atlasPending(t, db))
	pending, err = database.Pending(ctx, db.SQL)
	require.NoError(t, err)
	assert.Empty(t, pending)
	applied, err = database.Migrate(ctx, db.SQL)
	require.NoError(t, err)
	assert.Empty(t, applied)

	var legacyRows int
	require.NoError(t, db.SQL.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&legacyRows))
	assert.Equal(t, len(older), legacyRows, "left for an older binary still running")
}

// TestAtlasSeesAMissingRevision: a revision deleted from the table is
// pending for this package and for Atlas alike.
func TestAtlasSeesAMissingRevision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, all := migrated(t)
	newest := all[len(all)-1].Version
	require.NoError(t, database.Revisions(db.SQL).DeleteRevision(ctx, newest))
	pending, err := database.Pending(ctx, db.SQL)
	require.NoError(t, err)
	assert.Equal(t, []string{newest}, pending)
	assert.Equal(t, []string{newest}, atlasPending(t, db))
}
