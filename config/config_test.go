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

// production is a production environment that obeys every rule.
func production(overrides ...map[string]string) map[string]string {
	m := map[string]string{
		"ISSUEGRAPH_ENV":          "production",
		"ISSUEGRAPH_DATABASE_URL": "postgres://issuegraph@db.internal:5432/issuegraph?sslmode=verify-full",
		"ISSUEGRAPH_JWT_SECRET":   "0123456789abcdef0123456789abcdef",
	}
	for _, o := range overrides {
		for k, v := range o {
			m[k] = v
		}
	}
	return m
}

// productionRules has one row per rule the settings table states for
// production: bad breaks the rule, which must be refused with the variable
// named; fixed (applied over bad) obeys it again, which must be accepted.
var productionRules = []struct {
	variable   string
	bad, fixed map[string]string
}{
	{"ISSUEGRAPH_DATABASE_URL", map[string]string{"ISSUEGRAPH_DATABASE_URL": ""}, map[string]string{"ISSUEGRAPH_DATABASE_URL": "postgres://db.internal/issuegraph"}},
	{"ISSUEGRAPH_JWT_SECRET", map[string]string{"ISSUEGRAPH_JWT_SECRET": ""}, map[string]string{"ISSUEGRAPH_JWT_SECRET": strings.Repeat("k", 32)}},
	{"ISSUEGRAPH_JWT_SECRET", map[string]string{"ISSUEGRAPH_JWT_SECRET": config.DevJWTSecret}, map[string]string{"ISSUEGRAPH_JWT_SECRET": strings.Repeat("k", 40)}},
	{"ISSUEGRAPH_JWT_SECRET", map[string]string{"ISSUEGRAPH_JWT_SECRET": strings.Repeat("k", 31)}, map[string]string{"ISSUEGRAPH_JWT_SECRET": strings.Repeat("k", 32)}},
	{"ISSUEGRAPH_ACCESS_TOKEN_TTL", map[string]string{"ISSUEGRAPH_ACCESS_TOKEN_TTL": "61m"}, map[string]string{"ISSUEGRAPH_ACCESS_TOKEN_TTL": "1h"}},
	{"ISSUEGRAPH_CORS_ORIGINS", map[string]string{"ISSUEGRAPH_CORS_ORIGINS": "https://app.example.com,*"}, map[string]string{"ISSUEGRAPH_CORS_ORIGINS": "https://app.example.com"}},
	{"ISSUEGRAPH_METRICS_ADDR", map[string]string{"ISSUEGRAPH_METRICS_ADDR": "0.0.0.0:9464"}, map[string]string{"ISSUEGRAPH_METRICS_ADDR": "10.0.0.7:9464"}},
	{"ISSUEGRAPH_METRICS_ADDR", map[string]string{"ISSUEGRAPH_METRICS_ADDR": ":9464"}, map[string]string{"ISSUEGRAPH_METRICS_ADDR": "127.0.0.1:9464"}},
	{"ISSUEGRAPH_METRICS_ADDR", map[string]string{"ISSUEGRAPH_METRICS_ADDR": "[::]:9464"}, map[string]string{"ISSUEGRAPH_METRICS_ADDR": "[fd00::7]:9464"}},
	{"ISSUEGRAPH_METRICS_ADDR", map[string]string{"ISSUEGRAPH_METRICS_ADDR": "203.0.113.9:9464"}, map[string]string{"ISSUEGRAPH_METRICS_ADDR": "off"}},
	{"ISSUEGRAPH_METRICS_ADDR", map[string]string{"ISSUEGRAPH_METRICS_ADDR": "metrics.example.com:9464"}, map[string]string{"ISSUEGRAPH_METRICS_ADDR": "localhost:9464"}},
	{"ISSUEGRAPH_PPROF", map[string]string{"ISSUEGRAPH_PPROF": "true"}, map[string]string{"ISSUEGRAPH_PPROF": "false"}},
	{"ISSUEGRAPH_TRACE_STDOUT", map[string]string{"ISSUEGRAPH_TRACE_STDOUT": "true"}, map[string]string{"ISSUEGRAPH_TRACE_STDOUT": "false"}},
	{"ISSUEGRAPH_DEMO_DATA", map[string]string{"ISSUEGRAPH_DEMO_DATA": "true"}, map[string]string{"ISSUEGRAPH_DEMO_DATA": "false"}},
	{"ISSUEGRAPH_AUTO_MIGRATE", map[string]string{"ISSUEGRAPH_AUTO_MIGRATE": "true"}, map[string]string{"ISSUEGRAPH_AUTO_MIGRATE": "false"}},
	{"ISSUEGRAPH_LOADERS", map[string]string{"ISSUEGRAPH_LOADERS": "false"}, map[string]string{"ISSUEGRAPH_LOADERS": "true"}},
}

// TestProductionRules checks every production rule on its own: broken, it
// is refused with its variable named (and only that problem); fixed, the
// configuration is accepted. The same values pass in development.
func TestProductionRules(t *testing.T) {
	for _, r := range productionRules {
		t.Run(r.variable+"="+fmt.Sprint(r.bad[r.variable]), func(t *testing.T) {
			_, err := config.Load(env(production(r.bad)))
			require.Error(t, err)
			require.True(t, config.IsConfigError(err))
			var ce *config.Error
			require.ErrorAs(t, err, &ce)
			require.Len(t, ce.Problems, 1, "only the broken rule is reported: %v", err)
			assert.True(t, strings.HasPrefix(ce.Problems[0], r.variable+" "), "the problem names %s: %q", r.variable, ce.Problems[0])

			_, err = config.Load(env(production(r.bad, r.fixed)))
			assert.NoError(t, err, "fixed")

			dev := production(r.bad)
			dev["ISSUEGRAPH_ENV"] = "development"
			_, err = config.Load(env(dev))
			assert.NoError(t, err, "development does not apply production rules")
		})
	}
}

// TestEveryProductionRuleIsTested keeps productionRules in step with the
// rules config.Settings states: a rule added to a setting without a row
// here fails, and so does a row for a setting without a rule.
func TestEveryProductionRuleIsTested(t *testing.T) {
	ruled := map[string]bool{}
	for _, s := range config.Settings {
		if s.Production.String() != "" {
			ruled[s.Name] = true
		}
	}
	tested := map[string]bool{}
	for _, r := range productionRules {
		tested[r.variable] = true
	}
	assert.Equal(t, ruled, tested)
}

// TestProductionRefusesUnsafeValues lists every problem at once, and
// refuses a production configuration that sets nothing.
func TestProductionRefusesUnsafeValues(t *testing.T) {
	_, err := config.Load(env(map[string]string{
		"ISSUEGRAPH_ENV":              "production",
		"ISSUEGRAPH_CORS_ORIGINS":     "*",
		"ISSUEGRAPH_ACCESS_TOKEN_TTL": "24h",
		"ISSUEGRAPH_DEMO_DATA":        "true",
		"ISSUEGRAPH_AUTO_MIGRATE":     "true",
		"ISSUEGRAPH_METRICS_ADDR":     "0.0.0.0:9464",
		"ISSUEGRAPH_PPROF":            "true",
		"ISSUEGRAPH_TRACE_STDOUT":     "true",
	}))
	require.Error(t, err)
	require.True(t, config.IsConfigError(err))
	for _, want := range []string{"ISSUEGRAPH_DATABASE_URL", "ISSUEGRAPH_JWT_SECRET", "ISSUEGRAPH_CORS_ORIGINS", "ISSUEGRAPH_ACCESS_TOKEN_TTL", "ISSUEGRAPH_DEMO_DATA", "ISSUEGRAPH_AUTO_MIGRATE", "ISSUEGRAPH_METRICS_ADDR", "ISSUEGRAPH_PPROF", "ISSUEGRAPH_TRACE_STDOUT"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestProductionAcceptsSafeValues(t *testing.T) {
	c, err := config.Load(env(production()))
	require.NoError(t, err)
	assert.False(t, c.DemoData)
	assert.False(t, c.AutoMigrate)
	assert.True(t, c.Production())
}

// TestInvalidValuesAreRefused has one row per check that applies in every
// environment and has no other test: refused with the variable named,
// accepted when fixed.
func TestInvalidValuesAreRefused(t *testing.T) {
	for _, r := range []struct {
		variable   string
		bad, fixed string
	}{
		{"ISSUEGRAPH_RATE_LIMIT_ON_REDIS_ERROR", "sometimes", "closed"},
		{"ISSUEGRAPH_PERSISTED_MODE", "strict", "enforce"},
		{"ISSUEGRAPH_LOG_LEVEL", "verbose", "debug"},
		{"ISSUEGRAPH_DB_MAX_OPEN_CONNS", "0", "1"},
		{"ISSUEGRAPH_DB_STATEMENT_CACHE", "-1", "0"},
		{"ISSUEGRAPH_BODY_LIMIT", "1023", "1024"},
		{"ISSUEGRAPH_MAX_DEPTH", "0", "1"},
		{"ISSUEGRAPH_RATE_LIMIT_USER", "9999", "10000"},
		{"ISSUEGRAPH_RATE_LIMIT_ANONYMOUS", "9999", "10000"},
		{"ISSUEGRAPH_SIGNIN_FAILURES_PER_ACCOUNT", "0", "1"},
		{"ISSUEGRAPH_SIGNIN_LOCKOUT", "999ms", "1s"},
		{"ISSUEGRAPH_TRUSTED_PROXY_HOPS", "-1", "0"},
		{"ISSUEGRAPH_WS_KEEPALIVE", "0s", "1s"},
		{"ISSUEGRAPH_SUBSCRIPTION_BUFFER", "0", "1"},
		{"ISSUEGRAPH_EVENT_RETENTION", "-1h", "0"},
		{"ISSUEGRAPH_PERSISTED_GET_MAX_AGE", "-1s", "0s"},
		{"ISSUEGRAPH_APQ_TTL", "0s", "1s"},
	} {
		t.Run(r.variable+"="+r.bad, func(t *testing.T) {
			_, err := config.Load(env(map[string]string{r.variable: r.bad}))
			require.Error(t, err)
			assert.Contains(t, err.Error(), r.variable)
			_, err = config.Load(env(map[string]string{r.variable: r.fixed}))
			assert.NoError(t, err)
		})
	}
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
	assert.Equal(t, 2*runtime.GOMAXPROCS(0), c.OperationsAtOnce, "two operations per CPU by default")
	for _, bad := range []map[string]string{
		{"ISSUEGRAPH_EXECUTION_BUDGET": "-1"},
		{"ISSUEGRAPH_OPERATION_QUEUE_TIMEOUT": "0s"},
	} {
		_, err := config.Load(env(bad))
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "ISSUEGRAPH_EXECUTION_BUDGET", bad)
	}
	_, err = config.Load(env(map[string]string{"ISSUEGRAPH_OPERATIONS_AT_ONCE": "-1"}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ISSUEGRAPH_OPERATIONS_AT_ONCE must be 0 or more")
}
