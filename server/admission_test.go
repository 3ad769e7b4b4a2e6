package server_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// TestExecutionBudget holds part of a 20-point execution budget with a
// mutation (cost 11) blocked on a row lock. A light query (cost 1) still
// runs beside it; a heavier one (cost 22, weighed as the whole budget)
// waits its turn, and past the queue timeout is refused with 503
// UNAVAILABLE, Retry-After and its charge refunded. A second heavy query
// is seen waiting in the queue (Server.QueuedOperations); once the
// mutation ends, it runs.
func TestExecutionBudget(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *config.Config) {
		c.ExecutionBudget = 20
		// Long enough that the queued query outlasts the release of the
		// held mutation on a loaded machine; the refused one waits it out.
		c.OperationQueueTimeout = 3 * time.Second
		c.RateLimit.UserRestoreRate = 0.001 // the bucket shows exactly what was kept
	})
	f := newFixture(t, env, "acme", "ENG")
	const light = `{ viewer { name } }`
	const heavy = `{ viewer { memberships(first: 10) { edges { node { organization { id } } } } } }`

	release := lockProject(t, env, "ENG")
	held := make(chan *servertest.Response, 1)
	go func() {
		held <- f.owner.Do(t, `mutation($p:ID!){ createIssue(input:{projectId:$p,title:"holds the budget"}){ issue{key} } }`, map[string]any{"p": f.projectID})
	}()
	waitForLockWaiter(t, env)

	available := func(r *servertest.Response) int {
		t.Helper()
		var ext struct {
			Cost struct {
				RequestedQueryCost int
				ThrottleStatus     struct{ CurrentlyAvailable int }
			}
		}
		raw, err := json.Marshal(r.Extensions)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &ext))
		return ext.Cost.ThrottleStatus.CurrentlyAvailable
	}
	before := available(f.owner.Do(t, light, nil).MustOK(t))

	refused := make(chan *servertest.Response, 1)
	go func() { refused <- f.owner.Do(t, heavy, nil) }()
	require.Eventually(t, func() bool { return env.Server.QueuedOperations() == 1 }, waitLong, pollEvery, "the heavy query waits for room")
	busy := <-refused
	assert.Zero(t, env.Server.QueuedOperations(), "a refused query leaves the queue")
	assert.Equal(t, http.StatusServiceUnavailable, busy.Status)
	assert.Equal(t, []string{"UNAVAILABLE"}, busy.Codes())
	assert.Equal(t, "1", busy.Header.Get("Retry-After"))
	var logged bool
	for _, line := range env.Logs.Lines() {
		if line["msg"] == "request" && line["status"] == float64(http.StatusServiceUnavailable) {
			logged = assert.Equal(t, []any{"UNAVAILABLE"}, line["error_codes"])
		}
	}
	assert.True(t, logged, "the refusal is in the access log with its code")
	assert.Equal(t, 22.0, busy.Extensions["cost"].(map[string]any)["requestedQueryCost"])
	assert.Equal(t, before, available(busy), "the refused query is refunded in full")

	queued := make(chan *servertest.Response, 1)
	go func() { queued <- f.owner.Do(t, heavy, nil) }()
	require.Eventually(t, func() bool { return env.Server.QueuedOperations() == 1 }, waitLong, pollEvery, "the heavy query waits for room")
	release()
	(<-held).MustOK(t)
	(<-queued).MustOK(t)
}

// TestOperationsAtOnce bounds an instance to one operation at once, with
// no cost budget: while a mutation blocked on a row lock runs, even the
// lightest query waits its turn in the queue, and once the mutation ends,
// it runs.
func TestOperationsAtOnce(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *config.Config) {
		c.ExecutionBudget = 0
		c.OperationsAtOnce = 1
		c.OperationQueueTimeout = 30 * time.Second
	})
	f := newFixture(t, env, "acme", "ENG")
	f.owner.Do(t, `{ viewer { name } }`, nil).MustOK(t)

	release := lockProject(t, env, "ENG")
	held := make(chan *servertest.Response, 1)
	go func() {
		held <- f.owner.Do(t, `mutation($p:ID!){ createIssue(input:{projectId:$p,title:"runs alone"}){ issue{key} } }`, map[string]any{"p": f.projectID})
	}()
	waitForLockWaiter(t, env)

	queued := make(chan *servertest.Response, 1)
	go func() { queued <- f.owner.Do(t, `{ viewer { name } }`, nil) }()
	require.Eventually(t, func() bool { return env.Server.QueuedOperations() == 1 }, waitLong, pollEvery, "the query waits for the running mutation")
	select {
	case r := <-queued:
		t.Fatalf("the query ran beside the mutation: %s", r.RawBody)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	(<-held).MustOK(t)
	(<-queued).MustOK(t)
	assert.Zero(t, env.Server.QueuedOperations())
}
