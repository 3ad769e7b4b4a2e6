package server_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// throttledLines counts the log lines with message msg and the
// occurrences they say they stand for.
func throttledLines(env *servertest.Env, msg string) (lines, occurrences int) {
	for _, l := range env.Logs.Lines() {
		if l["msg"] != msg {
			continue
		}
		lines++
		if n, ok := l["occurrences"].(float64); ok {
			occurrences += int(n)
		}
	}
	return lines, occurrences
}

// TestReadinessWarningsAreThrottled: with the database away, every probe
// answers 503, but a load balancer probing often does not get a warning
// line per probe.
func TestReadinessWarningsAreThrottled(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(databasetest.URL(t))
	require.NoError(t, err)
	proxy := newCuttableProxy(t, u.Host)
	u.Host = proxy.addr
	env := servertest.Start(t, servertest.WithDatabase(u.String()))

	proxy.Cut()
	const probes = 20
	for range probes {
		resp, err := http.Get(env.URL + "/readyz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	}
	lines, occurrences := throttledLines(env, "not ready")
	assert.GreaterOrEqual(t, lines, 1)
	assert.Less(t, lines, probes)
	assert.LessOrEqual(t, occurrences, probes)
}

// TestRateLimitStoreWarningsAreThrottled: with Redis unreachable and the
// fail-open policy every request runs unmetered, and the warning saying
// so does not repeat for each of them.
func TestRateLimitStoreWarningsAreThrottled(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, servertest.WithRedis("redis://127.0.0.1:1/0"))
	const requests = 10
	for range requests {
		postQuery(t, env.Client(), `{ viewer { id } }`, nil).MustOK(t)
	}
	lines, occurrences := throttledLines(env, "rate-limit store unavailable; running unmetered")
	assert.GreaterOrEqual(t, lines, 1)
	assert.Less(t, lines, requests)
	assert.LessOrEqual(t, occurrences, requests)
}
