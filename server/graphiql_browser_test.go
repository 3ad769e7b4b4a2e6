package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/app"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// screenshotDir holds what browser tests save for people to look at; it
// is ignored by git.
const screenshotDir = "../.artifacts"

// TestGraphiQLInBrowser drives Debian's Chromium (through playwright-core)
// through the GraphiQL the server embeds, as a newcomer would: the page
// renders with every request kept to its own origin (so it works offline),
// its sign-in bar puts a token in the Headers tab, a query returns data, a
// subscription over graphql-transport-ws shows the event of a change. The
// screenshot is .artifacts/graphiql.png.
func TestGraphiQLInBrowser(t *testing.T) {
	t.Parallel()
	chromium := requireTool(t, "chromium", "/usr/bin/chromium")
	node := requireNodePackage(t, "playwright-core")
	env := servertest.Start(t)
	require.NoError(t, app.SeedDemo(context.Background(), env.DB, slog.New(slog.DiscardHandler)))

	require.NoError(t, os.MkdirAll(screenshotDir, 0o755))
	shot, err := filepath.Abs(filepath.Join(screenshotDir, "graphiql.png"))
	require.NoError(t, err)
	cmd := exec.Command(node, nodeTools+"/graphiql-browser.mjs", env.URL, shot)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	out, err := cmd.Output()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		t.Fatalf("browser script: %v\n%s", err, exitErr.Stderr)
	}
	require.NoError(t, err)
	var report struct {
		OK              bool     `json:"ok"`
		Error           string   `json:"error"`
		Steps           []string `json:"steps"`
		ForeignRequests []string `json:"foreignRequests"`
		ConsoleErrors   []string `json:"consoleErrors"`
		Editors         []string `json:"editors"` // the editors' text when a step failed
		Query           struct {
			Data struct {
				Project struct {
					Issues struct {
						TotalCount int `json:"totalCount"`
					} `json:"issues"`
				} `json:"project"`
			} `json:"data"`
		} `json:"query"`
		Event struct {
			Data struct {
				ProjectEvents struct {
					Type string `json:"type"`
				} `json:"projectEvents"`
			} `json:"data"`
		} `json:"event"`
	}
	require.NoError(t, json.Unmarshal(out, &report), "script output: %s", out)
	t.Logf("steps: %v; screenshot: %s", report.Steps, shot)
	require.True(t, report.OK, "%s\nsteps done: %v\nconsole: %v\neditors: %q", report.Error, report.Steps, report.ConsoleErrors, report.Editors)
	assert.Empty(t, report.ForeignRequests, "GraphiQL must load nothing from another origin")
	assert.Empty(t, report.ConsoleErrors, "the page logged errors (a CSP violation shows here)")
	assert.Positive(t, report.Query.Data.Project.Issues.TotalCount)
	assert.Equal(t, "issue.created", report.Event.Data.ProjectEvents.Type)
	assert.FileExists(t, shot)
}
