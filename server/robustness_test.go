package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// TestConcurrentIssueNumbers creates 200 issues in one project at once:
// every create succeeds, the numbers are exactly 1..200 and the project
// counts 200 issues.
func TestConcurrentIssueNumbers(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "acme", "ENG")
	const n = 200
	var wg sync.WaitGroup
	numbers := make(chan int, n)
	failures := make(chan string, n)
	sem := make(chan struct{}, 50) // 50 requests in flight at a time
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			resp := f.owner.Do(t, `mutation($p:ID!,$t:String!){ createIssue(input:{projectId:$p,title:$t}){ issue{number} userErrors{message} } }`,
				map[string]any{"p": f.projectID, "t": fmt.Sprintf("concurrent %d", i)})
			var out struct {
				CreateIssue struct{ Issue *struct{ Number int } }
			}
			if resp.Status != 200 || len(resp.Errors) > 0 || json.Unmarshal(resp.Data, &out) != nil || out.CreateIssue.Issue == nil {
				failures <- string(resp.RawBody)
				return
			}
			numbers <- out.CreateIssue.Issue.Number
		}(i)
	}
	wg.Wait()
	close(numbers)
	close(failures)
	for f := range failures {
		t.Errorf("create failed: %s", f)
	}
	seen := map[int]bool{}
	for num := range numbers {
		assert.False(t, seen[num], "number %d handed out twice", num)
		seen[num] = true
	}
	require.Len(t, seen, n)
	for i := 1; i <= n; i++ {
		assert.True(t, seen[i], "number %d missing", i)
	}
	var count, maxNumber, projectCount, projectTotal int
	require.NoError(t, env.DB.SQL.QueryRow(`SELECT count(*), max(number) FROM issues`).Scan(&count, &maxNumber))
	require.NoError(t, env.DB.SQL.QueryRow(`SELECT issue_count, issue_total FROM projects WHERE key = 'ENG'`).Scan(&projectCount, &projectTotal))
	assert.Equal(t, n, count)
	assert.Equal(t, n, maxNumber)
	assert.Equal(t, n, projectCount)
	assert.Equal(t, n, projectTotal, "the project counts every issue created at once")
}

// TestInternalErrorsAreMasked breaks the database under a running server:
// the client sees INTERNAL_SERVER_ERROR with a request id and no SQL, the
// log has the cause under the same request id.
func TestInternalErrorsAreMasked(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "acme", "ENG")
	is := f.createIssue(t, map[string]any{"title": "x"})
	_, err := env.DB.SQL.Exec(`ALTER TABLE comments RENAME TO comments_gone`)
	require.NoError(t, err)

	resp := f.owner.Do(t, `query($id:ID!){ node(id:$id){ ... on Issue { title comments { totalCount } } } }`, map[string]any{"id": is["id"]})
	assert.Equal(t, 200, resp.Status, "a failing field is a GraphQL error, not a 500")
	require.Len(t, resp.Errors, 1)
	e := resp.Errors[0]
	assert.Equal(t, "INTERNAL_SERVER_ERROR", e.Code())
	reqID, _ := e.Extensions["requestId"].(string)
	require.NotEmpty(t, reqID)
	assert.Equal(t, reqID, resp.Header.Get("X-Request-Id"))
	body := strings.ToLower(string(resp.RawBody))
	for _, leak := range []string{"comments_gone", "select ", "pq:", "relation", "sql", "goroutine", ".go:"} {
		assert.NotContains(t, body, leak, "response leaks %q", leak)
	}
	assert.Contains(t, e.Message, reqID)

	var found bool
	for _, line := range env.Logs.Lines() {
		if line["request_id"] == reqID && line["msg"] == "internal error" {
			found = true
			assert.Contains(t, line["error"], "comments", "log keeps the cause")
		}
	}
	assert.True(t, found, "the log has the internal error under the request id")

	// A failed write leaves no trace: the mutation's transaction rolled back.
	var before int
	require.NoError(t, env.DB.SQL.QueryRow(`SELECT count(*) FROM events`).Scan(&before))
	resp = f.owner.Do(t, `mutation($i:ID!){ addComment(input:{issueId:$i,body:"x"}){ comment{id} userErrors{message} } }`, map[string]any{"i": is["id"]})
	assert.Equal(t, []string{"INTERNAL_SERVER_ERROR"}, resp.Codes())
	var after int
	require.NoError(t, env.DB.SQL.QueryRow(`SELECT count(*) FROM events`).Scan(&after))
	assert.Equal(t, before, after)
	_, err = env.DB.SQL.Exec(`ALTER TABLE comments_gone RENAME TO comments`)
	require.NoError(t, err)
}

// TestGracefulShutdownFinishesInFlight holds a request inside the database
// (a row lock it waits for), starts shutdown, then releases the lock: the
// request still completes, and Serve returns cleanly.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "acme", "ENG")

	release := lockProject(t, env, "ENG")

	result := make(chan *servertest.Response, 1)
	go func() {
		result <- f.owner.Do(t, `mutation($p:ID!){ createIssue(input:{projectId:$p,title:"in flight"}){ issue{key} userErrors{message} } }`, map[string]any{"p": f.projectID})
	}()
	// Wait until the request is blocked on the lock inside PostgreSQL.
	waitForLockWaiter(t, env)

	stopped := env.StopAsync()
	// New connections are refused once shutdown has begun.
	require.Eventually(t, func() bool {
		_, err := http.Get(env.URL + "/healthz")
		return err != nil
	}, waitLong, pollEvery)

	release()
	resp := <-result
	resp.MustOK(t)
	assert.Contains(t, string(resp.Data), "ENG-1")
	assert.NoError(t, <-stopped, "Serve returns cleanly after draining")
}

// TestStoppedRequestsAreUnavailable holds a mutation on a row lock until
// the request's deadline, then until PostgreSQL's statement_timeout: either
// way the client gets UNAVAILABLE with the request id (no internal error,
// no SQL), nothing was written, and the log says so once.
func TestStoppedRequestsAreUnavailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  servertest.Option
	}{
		// Long enough for the fixture's sign-up on a busy test machine
		// (bcrypt under the race detector); the blocked write waits it out.
		{"request deadline", func(c *config.Config) { c.RequestTimeout = 3 * time.Second }},
		{"statement timeout", func(c *config.Config) { c.StatementTimeout = 300 * time.Millisecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := servertest.Start(t, tc.opt)
			f := newFixture(t, env, "acme", "ENG")
			release := lockProject(t, env, "ENG")

			resp := f.owner.Do(t, `mutation($p:ID!){ createIssue(input:{projectId:$p,title:"never"}){ issue{key} } }`, map[string]any{"p": f.projectID})
			assert.Equal(t, []string{"UNAVAILABLE"}, resp.Codes(), "body: %s", resp.RawBody)
			assert.NotContains(t, string(resp.RawBody), "pq:")
			assert.NotContains(t, string(resp.RawBody), "SELECT")
			release()

			var issues int
			require.NoError(t, env.DB.SQL.QueryRow(`SELECT count(*) FROM issues`).Scan(&issues))
			assert.Zero(t, issues)
			stops, internal := 0, 0
			for _, line := range env.Logs.Lines() {
				switch line["msg"] {
				case "request stopped":
					stops++
				case "internal error":
					internal++
				}
			}
			assert.Equal(t, 1, stops)
			assert.Zero(t, internal)
		})
	}
}
