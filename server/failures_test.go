package server_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// cuttableProxy forwards TCP connections to target until cut, which
// closes the listener and every forwarded connection: from the instance's
// side, the database went away. Restore brings it back on the same
// address.
type cuttableProxy struct {
	ln     net.Listener
	addr   string
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cut    bool
}

func newCuttableProxy(t *testing.T, target string) *cuttableProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cuttableProxy{ln: ln, addr: ln.Addr().String(), target: target}
	go p.accept(ln)
	t.Cleanup(p.Cut)
	return p
}

// Restore listens again on the proxy's address.
func (p *cuttableProxy) Restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(t, err)
	p.mu.Lock()
	p.ln, p.cut = ln, false
	p.mu.Unlock()
	go p.accept(ln)
}

func (p *cuttableProxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// Cut stops forwarding, for good.
func (p *cuttableProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

// TestDatabaseOutageAnswersUnavailable: with PostgreSQL unreachable,
// requests answer 503 UNAVAILABLE with Retry-After (not internal errors),
// and the log holds fewer lines than failures, each counting what it
// stands for.
func TestDatabaseOutageAnswersUnavailable(t *testing.T) {
	t.Parallel()
	dbURL := databasetest.URL(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	proxy := newCuttableProxy(t, u.Host)
	u.Host = proxy.addr
	env := servertest.Start(t, servertest.WithDatabase(u.String()))
	env.Client().Do(t, `{ organization(slug:"nobody"){ id } }`, nil).MustOK(t)

	proxy.Cut()
	const requests = 20
	failures := 0
	for range requests {
		resp := env.Client().Do(t, `{ organization(slug:"nobody"){ id } }`, nil)
		require.Equal(t, http.StatusServiceUnavailable, resp.Status, "%s", resp.RawBody)
		require.NotEmpty(t, resp.Codes())
		for _, code := range resp.Codes() {
			assert.Equal(t, "UNAVAILABLE", code)
		}
		assert.NotEmpty(t, resp.Header.Get("Retry-After"))
		assert.NotContains(t, string(resp.RawBody), "dial tcp", "no driver text reaches the client")
		failures += len(resp.Errors)
	}
	lines, occurrences := 0, 0
	for _, l := range env.Logs.Lines() {
		assert.NotEqual(t, "internal error", l["msg"])
		if n, ok := l["occurrences"].(float64); ok && l["level"] == "ERROR" {
			lines++
			occurrences += int(n)
		}
	}
	assert.GreaterOrEqual(t, lines, 1)
	assert.Less(t, lines, failures, "failures of one kind share log lines")
	assert.LessOrEqual(t, occurrences, failures)

	// Back as soon as the database is.
	proxy.Restore(t)
	require.Eventually(t, func() bool {
		return env.Client().Do(t, `{ organization(slug:"nobody"){ id } }`, nil).Status == http.StatusOK
	}, waitLong, pollEvery)
}

// TestDeletedUserTokenIsRefused: a valid access token of an account that
// no longer exists is refused with 401 UNAUTHENTICATED.
func TestDeletedUserTokenIsRefused(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	token := env.SignUp(t, "gone@example.com", "Gone")
	c := env.As(token)
	c.Do(t, `{ viewer { id } }`, nil).MustOK(t)
	_, err := env.DB.SQL.Exec(`DELETE FROM refresh_tokens WHERE user_id = (SELECT id FROM users WHERE email = 'gone@example.com')`)
	require.NoError(t, err)
	_, err = env.DB.SQL.Exec(`DELETE FROM users WHERE email = 'gone@example.com'`)
	require.NoError(t, err)
	// Within a second (the per-instance answer expires), every request.
	require.Eventually(t, func() bool {
		return c.Do(t, `{ viewer { id } }`, nil).Status == http.StatusUnauthorized
	}, waitLong, pollEvery)
	resp := c.Do(t, `mutation{ createOrganization(input:{slug:"ghost", name:"Ghost"}){ organization{ id } } }`, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.Status)
	assert.Equal(t, []string{"UNAUTHENTICATED"}, resp.Codes())
}

// TestIntrospectionRefusedIsAClientError: in production, __schema
// answers INTROSPECTION_DISABLED, __type answers null for every name (a
// real type and an invented one alike) with no error, and nothing is
// logged above info.
func TestIntrospectionRefusedIsAClientError(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *config.Config) { c.Env = config.Production })
	resp := env.Client().Do(t, `{ __schema { queryType { name } } }`, nil)
	assert.Equal(t, []string{"INTROSPECTION_DISABLED"}, resp.Codes())
	for _, name := range []string{"Issue", "Query", "sometype"} {
		resp := env.Client().Do(t, `query($n:String!){ __type(name:$n) { name fields { name } } }`, map[string]any{"n": name}).MustOK(t)
		assert.JSONEq(t, `{"__type":null}`, string(resp.Data), name)
	}
	resp = env.Client().Do(t, `{ __type(name:"Issue") { name } viewer { id } }`, nil).MustOK(t)
	assert.JSONEq(t, `{"__type":null,"viewer":null}`, string(resp.Data))
	for _, l := range env.Logs.Lines() {
		assert.NotEqual(t, "ERROR", l["level"], "%v", l)
		assert.NotEqual(t, "WARN", l["level"], "%v", l)
		assert.False(t, strings.Contains(strings.ToLower(l["msg"].(string)), "internal"), "%v", l)
	}
}
