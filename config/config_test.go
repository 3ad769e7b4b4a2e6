package config_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDevelopmentDefaults(t *testing.T) {
	c, err := config.Load(env(nil))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", c.Addr)
	assert.True(t, c.DemoData)
	assert.True(t, c.AutoMigrate)
	assert.False(t, c.Production())
}

// TestProductionRefusesUnsafeValues lists every problem at once.
func TestProductionRefusesUnsafeValues(t *testing.T) {
	_, err := config.Load(env(map[string]string{
		"ISSUEGRAPH_ENV":              "production",
		"ISSUEGRAPH_CORS_ORIGINS":     "*",
		"ISSUEGRAPH_ACCESS_TOKEN_TTL": "24h",
		"ISSUEGRAPH_DEMO_DATA":        "true",
		"ISSUEGRAPH_AUTO_MIGRATE":     "true",
	}))
	require.Error(t, err)
	require.True(t, config.IsConfigError(err))
	for _, want := range []string{"ISSUEGRAPH_JWT_SECRET", "ISSUEGRAPH_CORS_ORIGINS", "ISSUEGRAPH_ACCESS_TOKEN_TTL", "ISSUEGRAPH_DEMO_DATA", "ISSUEGRAPH_AUTO_MIGRATE"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestProductionAcceptsSafeValues(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"ISSUEGRAPH_ENV":        "production",
		"ISSUEGRAPH_JWT_SECRET": "0123456789abcdef0123456789abcdef",
	}))
	require.NoError(t, err)
	assert.False(t, c.DemoData)
	assert.False(t, c.AutoMigrate)
}

func TestMalformedValuesAreNamed(t *testing.T) {
	_, err := config.Load(env(map[string]string{
		"ISSUEGRAPH_REQUEST_TIMEOUT":   "soon",
		"ISSUEGRAPH_DB_MAX_OPEN_CONNS": "many",
		"ISSUEGRAPH_DEMO_DATA":         "perhaps",
		"ISSUEGRAPH_ENV":               "staging",
	}))
	require.Error(t, err)
	for _, want := range []string{"ISSUEGRAPH_REQUEST_TIMEOUT", "ISSUEGRAPH_DB_MAX_OPEN_CONNS", "ISSUEGRAPH_DEMO_DATA", "ISSUEGRAPH_ENV"} {
		assert.Contains(t, err.Error(), want)
	}
}

// TestSettingsTableIsComplete keeps the documented settings (the table in
// docs/configuration.md is made from config.Settings) equal to what Load reads.
func TestSettingsTableIsComplete(t *testing.T) {
	read := map[string]bool{}
	_, _ = config.Load(func(k string) string { read[k] = true; return "" })
	documented := map[string]bool{}
	for _, s := range config.Settings {
		documented[s.Name] = true
	}
	assert.Equal(t, read, documented)
}

// TestDocsSettingsTable keeps the settings table of docs/configuration.md
// equal to config.Settings, row for row: edit Settings, then paste the
// table this test prints when they differ.
func TestDocsSettingsTable(t *testing.T) {
	readme, err := os.ReadFile("../docs/configuration.md")
	require.NoError(t, err)
	var b strings.Builder
	b.WriteString("| Variable | Default | Production | What it does |\n| --- | --- | --- | --- |\n")
	for _, s := range config.Settings {
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", s.Name, s.Default, s.Production, s.Help)
	}
	assert.True(t, strings.Contains(string(readme), b.String()), "docs/configuration.md's settings table differs from config.Settings; it should read:\n\n%s", b.String())
}

// TestExemptAPIKeys reads the API keys' IDs as the API shows them and
// names a value that is not one.
func TestExemptAPIKeys(t *testing.T) {
	gid := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	c, err := config.Load(env(map[string]string{"ISSUEGRAPH_PERSISTED_EXEMPT_API_KEYS": gid("APIKey:42") + ", " + gid("APIKey:7")}))
	require.NoError(t, err)
	assert.Equal(t, []int64{42, 7}, c.PersistedExemptAPIKeys)

	for _, bad := range []string{"igk_abc123", gid("User:42"), gid("APIKey:x"), gid("APIKey:0")} {
		_, err := config.Load(env(map[string]string{"ISSUEGRAPH_PERSISTED_EXEMPT_API_KEYS": bad}))
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "ISSUEGRAPH_PERSISTED_EXEMPT_API_KEYS", bad)
	}
}

func TestBatchAndAPIKeyLimitsAreChecked(t *testing.T) {
	_, err := config.Load(env(map[string]string{"ISSUEGRAPH_BATCH_MAX": "-1", "ISSUEGRAPH_RATE_LIMIT_API_KEY": "10", "ISSUEGRAPH_RATE_LIMIT_API_KEY_RATE": "0"}))
	require.Error(t, err)
	for _, want := range []string{"ISSUEGRAPH_BATCH_MAX", "ISSUEGRAPH_RATE_LIMIT_API_KEY must be at least", "restore rates"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestAdmissionSettings(t *testing.T) {
	c, err := config.Load(env(nil))
	require.NoError(t, err)
	assert.Equal(t, 6000*runtime.GOMAXPROCS(0), c.ExecutionBudget, "6,000 points per CPU by default")
	for _, bad := range []map[string]string{
		{"ISSUEGRAPH_EXECUTION_BUDGET": "-1"},
		{"ISSUEGRAPH_OPERATION_QUEUE_TIMEOUT": "0s"},
	} {
		_, err := config.Load(env(bad))
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "ISSUEGRAPH_EXECUTION_BUDGET", bad)
	}
}
