package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/servertest"
)

// TestClientThatLeavesIsLoggedAs499: a client that goes away before its
// answer is logged as status 499 with client_closed, not as a request the
// server stopped for taking too long.
func TestClientThatLeavesIsLoggedAs499(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "leaving", "LEA")

	// The mutation waits for the project's row, which the test holds, so
	// it is certainly at work when the client leaves.
	release := lockProject(t, env, "LEA")
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.URL+"/graphql",
		strings.NewReader(`{"query":"mutation($p: ID!) { createIssue(input: {projectId: $p, title: \"left behind\"}) { issue { key } } }","variables":{"p":"`+f.projectID+`"}}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+f.owner.Token)
	req.Header.Set("X-Request-Id", "leaving-client-0001")
	done := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	waitForLockWaiter(t, env)
	cancel()
	require.Error(t, <-done)

	var line map[string]any
	require.Eventually(t, func() bool {
		for _, l := range env.Logs.Lines() {
			if l["msg"] == "request" && l["request_id"] == "leaving-client-0001" {
				line = l
				return true
			}
		}
		return false
	}, waitLong, pollEvery)
	assert.EqualValues(t, 499, line["status"])
	assert.Equal(t, true, line["client_closed"])
	for _, l := range env.Logs.Lines() {
		assert.NotEqual(t, "request stopped", l["msg"], "a client leaving is no deadline running out")
	}
	release()
	var issues struct {
		Project struct{ Issues struct{ TotalCount int } }
	}
	f.owner.Do(t, `{ project(organization: "leaving", key: "LEA") { issues { totalCount } } }`, nil).MustOK(t).Decode(t, &issues)
	assert.Zero(t, issues.Project.Issues.TotalCount, "the abandoned mutation wrote nothing")
}
