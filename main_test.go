package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/ent/ent/persistedoperation"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/server/persisted"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// TestPersistedImportCommand runs `issuegraph persisted import` on an Apollo
// manifest and checks the rows, then refuses a manifest with an operation
// this schema does not validate.
func TestPersistedImportCommand(t *testing.T) {
	t.Parallel()
	url := databasetest.URL(t)
	run := func(args []string) error {
		return run(context.Background(), args, settings(map[string]string{"ISSUEGRAPH_DATABASE_URL": url}), io.Discard, io.Discard)
	}
	doc := `query Viewer { viewer { id } }`
	dir := t.TempDir()
	good := filepath.Join(dir, "manifest.json")
	require.NoError(t, os.WriteFile(good, []byte(`{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"`+persisted.Hash(doc)+`","name":"Viewer","type":"query","body":"`+doc+`"}]}`), 0o600))
	require.NoError(t, run([]string{"persisted", "import", good, "--client", "ios"}))
	require.NoError(t, run([]string{"persisted", "import", "--client", "ios", good}), "importing again is harmless")

	db, err := database.Open(context.Background(), url, database.Options{})
	require.NoError(t, err)
	defer db.Close()
	ops, err := db.Client.PersistedOperation.Query().Where(persistedoperation.ClientName("ios")).All(viewer.SystemContext(context.Background()))
	require.NoError(t, err)
	require.Len(t, ops, 1)
	assert.Equal(t, persisted.Hash(doc), ops[0].Hash)
	assert.Equal(t, "Viewer", ops[0].OperationName)

	bad := filepath.Join(dir, "bad.json")
	other := `{ viewer { shoeSize } }`
	require.NoError(t, os.WriteFile(bad, []byte(`{"`+persisted.Hash(other)+`":"`+other+`"}`), 0o600))
	err = run([]string{"persisted", "import", bad, "--client", "web"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not validate")
	assert.Error(t, run([]string{"persisted", "import", good}), "--client is required")
}

// TestHealthcheckCommand: `issuegraph healthcheck` succeeds against a
// ready instance and fails, naming why, where nothing is ready.
func TestHealthcheckCommand(t *testing.T) {
	env := servertest.Start(t)
	vars := map[string]string{"ISSUEGRAPH_LOG_LEVEL": "error"}
	cmd := func(args ...string) error {
		return run(context.Background(), args, settings(vars), io.Discard, io.Discard)
	}
	require.NoError(t, cmd("healthcheck", env.URL+"/readyz"))
	vars["ISSUEGRAPH_ADDR"] = strings.TrimPrefix(env.URL, "http://")
	require.NoError(t, cmd("healthcheck"), "the default URL is this instance's /readyz")

	err := cmd("healthcheck", env.URL+"/nothing-here")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "404")
	require.NoError(t, env.Stop())
	assert.Error(t, cmd("healthcheck"), "a stopped instance is not healthy")
}

// TestVersionCommand: `issuegraph version` needs no configuration.
func TestVersionCommand(t *testing.T) {
	var out strings.Builder
	production := settings(map[string]string{"ISSUEGRAPH_ENV": "production"}) // would refuse to load
	require.NoError(t, run(context.Background(), []string{"version"}, production, &out, io.Discard))
	assert.Contains(t, out.String(), "issuegraph ")
}
