package deploy_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

const (
	rulesFile     = "prometheus/issuegraph-rules.yml"
	dashboardFile = "grafana/issuegraph-dashboard.json"
)

// exported are the metric families the instance's /metrics serves (see
// server TestMetricsExposeSeries) and the recording rules' own series.
var exported = regexp.MustCompile(`^(http_server_request_duration_seconds|graphql_operations|graphql_operation_duration_seconds|db_sql_connection|db_client_connections_|go_|issuegraph:|dataloader_batch_size|graphql_operation_sql_statements|graphql_cost_charged|ratelimit_|persisted_lookups|subscriptions_active|websocket_connections_active|event_relay_lag)`)

// metricNames picks the metric names out of a PromQL expression: words
// followed by { or [ or standing alone, minus functions and keywords.
func metricNames(expr string) []string {
	expr = regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(expr, "{}")
	expr = regexp.MustCompile(`\[[^\]]*\]`).ReplaceAllString(expr, "[]")
	expr = regexp.MustCompile(`\b[0-9]+(\.[0-9]+)?\b`).ReplaceAllString(expr, "0")
	expr = regexp.MustCompile(`\bby \([^)]*\)`).ReplaceAllString(expr, "")
	words := regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`).FindAllString(expr, -1)
	skip := map[string]bool{"sum": true, "max": true, "min": true, "rate": true, "histogram_quantile": true, "and": true, "or": true, "by": true, "le": true}
	var out []string
	for _, w := range words {
		if !skip[w] {
			out = append(out, w)
		}
	}
	return out
}

type rulesDoc struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Record, Alert, Expr string
			Labels              map[string]string
			Annotations         map[string]string
		}
	}
}

func TestRulesParseAndUseExportedSeries(t *testing.T) {
	raw, err := os.ReadFile(rulesFile)
	require.NoError(t, err)
	var doc rulesDoc
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	recorded := map[string]bool{}
	alerts := map[string]string{}
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Expr, "rule %s%s has an expression", r.Record, r.Alert)
			assert.Equal(t, strings.Count(r.Expr, "("), strings.Count(r.Expr, ")"), "balanced parentheses in %s%s", r.Record, r.Alert)
			for _, m := range metricNames(r.Expr) {
				assert.Regexp(t, exported, m, "%s%s uses a series Issuegraph does not export", r.Record, r.Alert)
				if strings.HasPrefix(m, "issuegraph:") {
					assert.True(t, recorded[m], "%s is recorded before %s uses it", m, r.Alert)
				}
			}
			if r.Record != "" {
				recorded[r.Record] = true
			} else {
				require.NotEmpty(t, r.Alert)
				alerts[r.Alert] = r.Labels["severity"]
				assert.NotEmpty(t, r.Annotations["summary"])
			}
		}
	}
	assert.Equal(t, map[string]string{
		"IssuegraphAvailabilityBudgetBurnFast": "page", "IssuegraphAvailabilityBudgetBurnSlow": "ticket",
		"IssuegraphLatencyBudgetBurnFast": "page", "IssuegraphLatencyBudgetBurnSlow": "ticket",
	}, alerts, "multi-window multi-burn-rate alerts for both objectives")

	// promtool is the authoritative check; Debian's prometheus package
	// ships it and make test installs it when it can.
	if path, err := exec.LookPath("promtool"); err == nil {
		out, err := exec.Command(path, "check", "rules", rulesFile).CombinedOutput()
		assert.NoError(t, err, "promtool check rules: %s", out)
	}
}

func TestDashboardParsesAndUsesExportedSeries(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var dash struct {
		Title  string
		UID    string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	assert.Equal(t, "issuegraph", dash.UID)
	require.NotEmpty(t, dash.Panels)
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			for _, m := range metricNames(tg.Expr) {
				assert.Regexp(t, exported, m, "panel %q", p.Title)
			}
		}
	}
}
