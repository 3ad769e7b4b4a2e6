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

// TestMigrateIsIdempotent applies migrations twice: the second run applies
// nothing and nothing is pending.
func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	db := databasetest.New(t, database.Options{})
	ctx := context.Background()
	applied, err := database.Migrate(ctx, db.SQL)
	require.NoError(t, err)
	assert.Empty(t, applied)
	pending, err := database.Pending(ctx, db.SQL)
	require.NoError(t, err)
	assert.Empty(t, pending)
}

func TestOpenRefusesBadURL(t *testing.T) {
	t.Parallel()
	_, err := database.Open(context.Background(), "mysql://x", database.Options{})
	require.Error(t, err)
	_, err = database.Open(context.Background(), "postgres://postgres:secret@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", database.Options{})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret", "the password is redacted")
}
