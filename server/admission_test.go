package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// TestOperationsWaitForASlot holds the only execution slot with a mutation
// blocked on a row lock: a query meanwhile waits its turn, and one that
// waits longer than the queue timeout is refused with 503 UNAVAILABLE and
// Retry-After. Once the slot frees, queries run again.
func TestOperationsWaitForASlot(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *config.Config) {
		c.MaxConcurrentOperations = 1
		c.OperationQueueTimeout = 300 * time.Millisecond
	})
	f := newFixture(t, env, "acme", "ENG")

	ctx := context.Background()
	lockTx, err := env.DB.SQL.BeginTx(ctx, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lockTx.Rollback() })
	_, err = lockTx.Exec(`SELECT 1 FROM projects WHERE key = 'ENG' FOR UPDATE`)
	require.NoError(t, err)

	held := make(chan *servertest.Response, 1)
	go func() {
		held <- f.owner.Do(t, `mutation($p:ID!){ createIssue(input:{projectId:$p,title:"holds the slot"}){ issue{key} } }`, map[string]any{"p": f.projectID})
	}()
	require.Eventually(t, func() bool {
		var waiting int
		_ = env.DB.SQL.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		return waiting > 0
	}, waitLong, pollEvery)

	busy := f.owner.Do(t, `{ viewer { name } }`, nil)
	assert.Equal(t, http.StatusServiceUnavailable, busy.Status)
	assert.Equal(t, []string{"UNAVAILABLE"}, busy.Codes())
	assert.Equal(t, "1", busy.Header.Get("Retry-After"))
	assert.NotEmpty(t, busy.Header.Get("RateLimit"), "a refused request still reports its bucket")

	// A query that arrives now waits in line and runs once the slot frees.
	queued := make(chan *servertest.Response, 1)
	go func() { queued <- f.owner.Do(t, `{ viewer { name } }`, nil) }()
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, lockTx.Rollback())
	(<-held).MustOK(t)
	(<-queued).MustOK(t)
	f.owner.Do(t, `{ viewer { name } }`, nil).MustOK(t)
}
