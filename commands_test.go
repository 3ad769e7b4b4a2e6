package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/ent/ent/user"
	"github.com/issuegraph/issuegraph/ent/seed"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// settings is a getenv over m, quiet below warnings unless m says
// otherwise.
func settings(m map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := m[k]; ok {
			return v
		}
		if k == "ISSUEGRAPH_LOG_LEVEL" {
			return "warn"
		}
		return ""
	}
}

// logged waits for the log line with message msg and returns its field.
func logged(t *testing.T, logs *servertest.LogBuffer, msg, field string) string {
	t.Helper()
	var value string
	require.Eventually(t, func() bool {
		for _, line := range logs.Lines() {
			if line["msg"] == msg {
				value, _ = line[field].(string)
				return true
			}
		}
		return false
	}, 60*time.Second, 20*time.Millisecond, "log line %q:\n%s", msg, logs)
	return value
}

func users(t *testing.T, url string) []string {
	t.Helper()
	db, err := database.Open(context.Background(), url, database.Options{})
	require.NoError(t, err)
	defer db.Close()
	emails, err := db.Client.User.Query().Order(user.ByEmail()).Select(user.FieldEmail).Strings(viewer.SystemContext(context.Background()))
	require.NoError(t, err)
	return emails
}

// TestMigrateCommand runs `issuegraph migrate` on an empty database, then
// again: every migration, then none.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	env := settings(map[string]string{"ISSUEGRAPH_DATABASE_URL": databasetest.EmptyURL(t)})
	all, err := database.Migrations()
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"migrate"}, env, &out, io.Discard))
	assert.Contains(t, out.String(), fmt.Sprintf("applied %d migration(s)", len(all)))
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"migrate"}, env, &out, io.Discard))
	assert.Equal(t, "applied 0 migration(s) []\n", out.String())
}

// TestSeedCommand runs `issuegraph seed` on an empty database: it migrates
// it and loads the demo accounts; a second run adds nothing.
func TestSeedCommand(t *testing.T) {
	t.Parallel()
	url := databasetest.EmptyURL(t)
	env := settings(map[string]string{"ISSUEGRAPH_DATABASE_URL": url})
	require.NoError(t, run(context.Background(), []string{"seed"}, env, io.Discard, io.Discard))
	want := append([]string(nil), seed.DemoUsers...)
	got := users(t, url)
	assert.ElementsMatch(t, want, got)
	require.NoError(t, run(context.Background(), []string{"seed"}, env, io.Discard, io.Discard))
	assert.ElementsMatch(t, want, users(t, url), "seeding again adds nothing")
}

// TestUnknownCommandAndBadSettings: both are refused before anything runs.
func TestUnknownCommandAndBadSettings(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"frobnicate"}, settings(nil), io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown command")
	err = run(context.Background(), []string{"serve"}, settings(map[string]string{"ISSUEGRAPH_ENV": "production"}), io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ISSUEGRAPH_DATABASE_URL", "production names the missing settings")
}

// TestServeCommand runs `issuegraph serve` (server.Run) as main does, on
// ports the system picks: it migrates and seeds an empty database, serves
// the API with the demo accounts, serves /metrics and the profiler on the
// metrics listener (and not on the API port), and stops cleanly when its
// context ends.
func TestServeCommand(t *testing.T) {
	t.Parallel()
	url := databasetest.EmptyURL(t)
	logs := &servertest.LogBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, settings(map[string]string{
			"ISSUEGRAPH_DATABASE_URL": url,
			"ISSUEGRAPH_ADDR":         "127.0.0.1:0",
			"ISSUEGRAPH_METRICS_ADDR": "127.0.0.1:0",
			"ISSUEGRAPH_PPROF":        "true",
			"ISSUEGRAPH_LOG_LEVEL":    "info",
		}), io.Discard, logs)
	}()
	api := logged(t, logs, "issuegraph is serving", "api")
	metrics := logged(t, logs, "serving metrics", "url")

	body, err := json.Marshal(map[string]any{
		"query":     `mutation($e:String!,$p:String!){ logIn(input:{email:$e,password:$p}){ tokens{ accessToken } userErrors{ message } } }`,
		"variables": map[string]any{"e": seed.DemoUsers[0], "p": seed.DemoPassword},
	})
	require.NoError(t, err)
	resp, err := http.Post(api, "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", raw)
	assert.Contains(t, string(raw), "accessToken", "the demo account signs in: %s", raw)
	assert.NotContains(t, string(raw), "errors")

	get := func(u string) (int, string) {
		t.Helper()
		resp, err := http.Get(u)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	status, text := get(metrics)
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, text, "http_server_request_duration_seconds", "the API request above is measured")
	base := strings.TrimSuffix(metrics, "/metrics")
	status, _ = get(base + "/debug/pprof/")
	assert.Equal(t, http.StatusOK, status, "the profiler is on the metrics listener")
	status, _ = get(strings.TrimSuffix(api, "/graphql") + "/debug/pprof/")
	assert.Equal(t, http.StatusNotFound, status, "and never on the API port")

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop when its context ended")
	}
	_, err = http.Get(metrics)
	assert.Error(t, err, "the metrics listener is closed too")
}
