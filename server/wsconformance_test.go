package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/servertest"
	"github.com/issuegraph/issuegraph/subscriptions"
)

// graphqlWSClients is how many real graphql-ws clients
// TestGraphQLWSClientsResumeAcrossShutdown runs.
const graphqlWSClients = 500

// TestGraphQLWSClientsResumeAcrossShutdown runs 500 clients of the
// graphql-ws npm library (server/realtime/wstransport/testdata/client,
// installed by deploy/dev/tools.sh), unmodified, subscribed to one instance while
// another takes mutations. Midway the first instance shuts down the way
// SIGTERM does (Serve's context ends); each client's retry goes to the
// survivor and resubscribes after the last cursor it saw. Every client
// must hold every event exactly once, in order, and must never have been
// told its subscription completed or failed.
func TestGraphQLWSClientsResumeAcrossShutdown(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("realtime", "wstransport", "testdata", "client")
	node, err := exec.LookPath("node")
	require.NoError(t, err, "Node.js runs the graphql-ws client")
	_, err = os.Stat(filepath.Join(dir, "node_modules", "graphql-ws", "package.json"))
	require.NoError(t, err, "the graphql-ws client is not installed: run deploy/dev/tools.sh (npm ci in %s)", dir)

	redisOpts := withSharedRedis(t)
	a := servertest.Start(t, redisOpts...)
	b := servertest.Start(t, append(redisOpts, servertest.WithDatabase(a.Config.DatabaseURL))...)
	f := newFixture(t, b, "conform", "CONF")
	start := positionsEventually(t, b, f.projectID, 1) // project.created
	settled(t, a, f.projectID)

	cmd := exec.Command(node, "conformance.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"PRIMARY=ws"+strings.TrimPrefix(a.URL, "http")+"/graphql",
		"SURVIVOR=ws"+strings.TrimPrefix(b.URL, "http")+"/graphql",
		"TOKEN="+f.owner.Token, "PROJECT="+f.projectID,
		fmt.Sprint("CLIENTS=", graphqlWSClients), "TIMEOUT_MS=60000")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr servertest.LogBuffer // written by exec's copier while the test reads it
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() && stderr.String() != "" {
			t.Logf("node: %s", stderr.String())
		}
	})
	lines := make(chan string, 2)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	nextLine := func() string {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "node ended early: %s", stderr.String())
			return l
		case <-time.After(90 * time.Second):
			t.Fatalf("node said nothing: %s", stderr.String())
			return ""
		}
	}
	require.Equal(t, "subscribed", nextLine())
	waitSubscribed(t, a, graphqlWSClients)

	// Events before, during and after the shutdown of the clients'
	// instance.
	const before, during = 5, 15
	for i := range before {
		f.createIssue(t, map[string]any{"title": fmt.Sprint("before ", i)})
	}
	stopped := a.StopAsync()
	for i := range during {
		f.createIssue(t, map[string]any{"title": fmt.Sprint("during ", i)})
	}
	require.NoError(t, <-stopped)
	f.createIssue(t, map[string]any{"title": "after"})
	const n = before + during + 1
	want := positionsEventually(t, b, f.projectID, len(start)+n)[len(start):]

	_, err = io.WriteString(stdin, fmt.Sprintf("expect %d\n", n))
	require.NoError(t, err)
	var got []struct {
		Cursors   []string
		Completes int
		Errors    []any
		Closes    []int
		Connects  int
	}
	require.NoError(t, json.Unmarshal([]byte(nextLine()), &got))
	require.Len(t, got, graphqlWSClients)
	lost, duplicated, completed, failed, resumed := 0, 0, 0, 0, 0
	for i, c := range got {
		seen := map[int64]bool{}
		var ps []int64
		for _, cur := range c.Cursors {
			p, err := subscriptions.ParseCursor(cur)
			require.NoError(t, err)
			if seen[p] {
				duplicated++
			}
			seen[p] = true
			ps = append(ps, p)
		}
		for _, p := range want {
			if !seen[p] {
				lost++
			}
		}
		completed += c.Completes
		failed += len(c.Errors)
		if c.Connects >= 2 && len(c.Closes) > 0 && c.Closes[0] == 1001 {
			resumed++
		}
		if i < 3 || !assert.ObjectsAreEqual(want, ps) {
			assert.Equal(t, want, ps, "client %d (closes %v, errors %v)", i, c.Closes, c.Errors)
		}
	}
	assert.Zero(t, lost, "events lost")
	assert.Zero(t, duplicated, "events delivered twice")
	assert.Zero(t, completed, "subscriptions reported complete")
	assert.Zero(t, failed, "subscriptions reported an error")
	assert.Equal(t, graphqlWSClients, resumed, "clients that got close 1001 and reconnected to the survivor")
}
