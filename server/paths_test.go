package server_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/lib/pq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/server/persisted"
	"github.com/issuegraph/issuegraph/server/redistest"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// readyz fetches /readyz and returns its status and decoded body.
func readyz(t *testing.T, env *servertest.Env) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(env.URL + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

// TestReadyzAnswers503WhileTheDatabaseIsDown refuses new connections to
// the instance's database and ends the open ones: /readyz answers 503
// "unreachable" (and /healthz still 200), then 200 again once the
// database takes connections.
func TestReadyzAnswers503WhileTheDatabaseIsDown(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	status, _ := readyz(t, env)
	require.Equal(t, http.StatusOK, status)

	var db string
	require.NoError(t, env.DB.SQL.QueryRow(`SELECT current_database()`).Scan(&db))
	admin := adminDB(t)
	_, err := admin.Exec(fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS false`, pq.QuoteIdentifier(db)))
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.Exec(fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS true`, pq.QuoteIdentifier(db)))
	})
	_, err = admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, db)
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		status, body := readyz(t, env)
		checks, _ := body["checks"].(map[string]any)
		return status == http.StatusServiceUnavailable && body["status"] == "not ready" && checks["database"] == "unreachable"
	}, waitLong, pollEvery)
	live, err := http.Get(env.URL + "/healthz")
	require.NoError(t, err)
	live.Body.Close()
	assert.Equal(t, http.StatusOK, live.StatusCode, "the process is alive")

	_, err = admin.Exec(fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS true`, pq.QuoteIdentifier(db)))
	require.NoError(t, err)
	require.Eventually(t, func() bool { status, _ := readyz(t, env); return status == http.StatusOK }, waitLong, pollEvery)
}

// TestReadyzAnswers503WithMigrationsPending forgets the newest migration
// of the instance's database: /readyz answers 503 "migrations pending"
// until it is recorded again.
func TestReadyzAnswers503WithMigrationsPending(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	var version, description string
	require.NoError(t, env.DB.SQL.QueryRow(`DELETE FROM atlas_schema_revisions.atlas_schema_revisions WHERE version = (SELECT max(version) FROM atlas_schema_revisions.atlas_schema_revisions) RETURNING version, description`).Scan(&version, &description))

	status, body := readyz(t, env)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, map[string]any{"status": "not ready", "checks": map[string]any{"database": "migrations pending"}}, body)

	_, err := env.DB.SQL.Exec(`INSERT INTO atlas_schema_revisions.atlas_schema_revisions (version, description, executed_at, execution_time, hash, operator_version) VALUES ($1, $2, now(), 0, '', 'test')`, version, description)
	require.NoError(t, err)
	status, _ = readyz(t, env)
	assert.Equal(t, http.StatusOK, status)
}

// persistedBody is a POST body that sends only a persisted query's hash,
// or its text too when query is set.
func persistedBody(t *testing.T, hash, query string) []byte {
	t.Helper()
	body := map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}}
	if query != "" {
		body["query"] = query
	}
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	return raw
}

// TestMalformedPersistedQuery sends persistedQuery extensions that are not
// {version: 1, sha256Hash: hex}: each is a 400 BAD_USER_INPUT naming what
// is wrong, never a 500.
func TestMalformedPersistedQuery(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	c := env.Client()
	for name, ext := range map[string]string{
		"not an object":   `"abc"`,
		"an array":        `[1]`,
		"version 2":       `{"version":2,"sha256Hash":"` + persisted.Hash(`{viewer{id}}`) + `"}`,
		"no version":      `{"sha256Hash":"` + persisted.Hash(`{viewer{id}}`) + `"}`,
		"hash not hex":    `{"version":1,"sha256Hash":"not-a-hash"}`,
		"hash too short":  `{"version":1,"sha256Hash":"abcd"}`,
		"hash not string": `{"version":1,"sha256Hash":42}`,
	} {
		t.Run(name, func(t *testing.T) {
			resp := c.Post(t, "application/json", []byte(`{"query":"{ viewer { id } }","extensions":{"persistedQuery":`+ext+`}}`))
			assert.Equal(t, http.StatusBadRequest, resp.Status, "%s", resp.RawBody)
			assert.Equal(t, []string{"BAD_USER_INPUT"}, resp.Codes())
			if len(resp.Errors) == 1 {
				assert.Contains(t, resp.Errors[0].Message, "persistedQuery")
			}
		})
	}
	resp := c.Post(t, "application/json", persistedBody(t, persisted.Hash(`{ viewer { name } }`), `{ viewer { id } }`))
	assert.Equal(t, http.StatusBadRequest, resp.Status)
	assert.Equal(t, []string{"BAD_USER_INPUT"}, resp.Codes(), "a hash of another document")
}

// TestAPQWithRedisDown runs automatic persisted queries while the APQ
// store (Redis) is stopped: a hash alone is not found, so the client sends
// the text, which runs (unregistered); once Redis is back, registering
// works again.
func TestAPQWithRedisDown(t *testing.T) {
	t.Parallel()
	rs := redistest.StartServer(t)
	env := servertest.Start(t, servertest.WithRedis(rs.URL()))
	c := env.Client()
	const query = `{ __typename }`
	hash := persisted.Hash(query)

	rs.Stop()
	miss := c.Post(t, "application/json", persistedBody(t, hash, ""))
	assert.Equal(t, []string{"PERSISTED_QUERY_NOT_FOUND"}, miss.Codes(), "%s", miss.RawBody)
	assert.NotEqual(t, http.StatusInternalServerError, miss.Status)
	run := c.Post(t, "application/json", persistedBody(t, hash, query)).MustOK(t)
	assert.JSONEq(t, `{"__typename":"Query"}`, string(run.Data))
	assert.Contains(t, env.Logs.String(), "persisted query not stored", "the failed registration is logged")

	rs.Start()
	require.Eventually(t, func() bool {
		r := c.Post(t, "application/json", persistedBody(t, hash, query))
		return r.Status == http.StatusOK && len(r.Errors) == 0
	}, waitLong, pollEvery)
	require.Eventually(t, func() bool {
		r := c.Post(t, "application/json", persistedBody(t, hash, ""))
		return r.Status == http.StatusOK && len(r.Errors) == 0
	}, waitLong, pollEvery, "registered once Redis is back")
}

// TestTrustedDocumentLookupDatabaseError breaks the trusted-document table
// under an instance in enforce mode: the lookup fails with 503
// UNAVAILABLE, the error is logged with the request id, and no SQL reaches
// the client.
func TestTrustedDocumentLookupDatabaseError(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *config.Config) { c.PersistedMode = config.PersistedEnforce })
	_, err := env.DB.SQL.Exec(`ALTER TABLE persisted_operations RENAME TO persisted_operations_gone`)
	require.NoError(t, err)

	resp := env.Client().Post(t, "application/json", persistedBody(t, persisted.Hash(`{ viewer { id } }`), ""))
	assert.Equal(t, http.StatusServiceUnavailable, resp.Status, "%s", resp.RawBody)
	assert.Equal(t, []string{"UNAVAILABLE"}, resp.Codes())
	assert.NotContains(t, strings.ToLower(string(resp.RawBody)), "persisted_operations")
	assert.NotContains(t, strings.ToLower(string(resp.RawBody)), "relation")
	id := resp.Header.Get("X-Request-Id")
	require.NotEmpty(t, id)
	var logged bool
	for _, line := range env.Logs.Lines() {
		if line["msg"] == "trusted document lookup" && line["request_id"] == id {
			logged = true
		}
	}
	assert.True(t, logged, "the lookup error is logged with the request id")
}

const refreshMutation = `mutation($r:String!){ refreshTokens(input:{refreshToken:$r}){
	user{ email } tokens{ accessToken refreshToken } userErrors{ field code } } }`

type refreshed struct {
	RefreshTokens struct {
		User       *struct{ Email string }
		Tokens     *struct{ AccessToken, RefreshToken string }
		UserErrors []struct {
			Field []string
			Code  string
		}
	}
}

// TestRefreshTokensOverGraphQL signs in, exchanges the refresh token for a
// new pair whose access token works, refuses the used one, and refuses an
// expired one with INVALID_TOKEN.
func TestRefreshTokensOverGraphQL(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	var signUp struct {
		SignUp struct{ Tokens struct{ RefreshToken string } }
	}
	env.Client().Do(t, `mutation{ signUp(input:{email:"r@example.com",password:"correct horse battery",name:"R"}){ tokens{ refreshToken } userErrors{ message } } }`, nil).
		MustOK(t).Decode(t, &signUp)
	first := signUp.SignUp.Tokens.RefreshToken
	require.NotEmpty(t, first)

	var out refreshed
	env.Client().Do(t, refreshMutation, map[string]any{"r": first}).MustOK(t).Decode(t, &out)
	require.NotNil(t, out.RefreshTokens.Tokens)
	require.NotNil(t, out.RefreshTokens.User)
	assert.Equal(t, "r@example.com", out.RefreshTokens.User.Email)
	second := out.RefreshTokens.Tokens.RefreshToken
	assert.NotEqual(t, first, second, "the refresh token rotates")
	var me struct{ Viewer struct{ Email string } }
	env.As(out.RefreshTokens.Tokens.AccessToken).Do(t, `{ viewer { email } }`, nil).MustOK(t).Decode(t, &me)
	assert.Equal(t, "r@example.com", me.Viewer.Email, "the new access token signs in")

	refused := func(token, why string) {
		t.Helper()
		var out refreshed
		resp := env.Client().Do(t, refreshMutation, map[string]any{"r": token})
		require.Equal(t, http.StatusOK, resp.Status)
		require.Empty(t, resp.Errors)
		resp.Decode(t, &out)
		assert.Nil(t, out.RefreshTokens.Tokens, why)
		require.Len(t, out.RefreshTokens.UserErrors, 1, why)
		assert.Equal(t, "INVALID_TOKEN", out.RefreshTokens.UserErrors[0].Code, why)
		assert.Equal(t, []string{"input", "refreshToken"}, out.RefreshTokens.UserErrors[0].Field, why)
	}
	refused(first, "a used refresh token")

	_, err := env.DB.SQL.Exec(`UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE used_at IS NULL AND revoked_at IS NULL`)
	require.NoError(t, err)
	refused(second, "an expired refresh token")
}

// TestIssueEventsSubscription follows one issue over WebSocket: its own
// events arrive in order, another issue's of the same project do not.
func TestIssueEventsSubscription(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "issue-live", "ISS")
	followed := f.createIssue(t, map[string]any{"title": "Followed"})
	other := f.createIssue(t, map[string]any{"title": "Other"})
	settled(t, env, f.projectID)

	ws := env.DialWS(t, servertest.TransportWS)
	ws.Init(t, f.owner.Token)
	ws.Subscribe(t, "1", `subscription($i:ID!){ issueEvents(issueId:$i){ cursor type issue{ id title } } }`, map[string]any{"i": followed["id"]})
	waitSubscribed(t, env, 1)

	comment := func(issueID any, body string) {
		t.Helper()
		f.owner.Do(t, `mutation($i:ID!,$b:String!){ addComment(input:{issueId:$i, body:$b}){ userErrors{message} } }`, map[string]any{"i": issueID, "b": body}).MustOK(t)
	}
	comment(other["id"], "not for you")
	comment(followed["id"], "for you")
	f.owner.Do(t, `mutation($i:ID!){ closeIssue(input:{issueId:$i}){ userErrors{message} } }`, map[string]any{"i": followed["id"]}).MustOK(t)
	comment(other["id"], "not for you either")
	f.owner.Do(t, `mutation($i:ID!){ reopenIssue(input:{issueId:$i}){ userErrors{message} } }`, map[string]any{"i": followed["id"]}).MustOK(t)

	events := collect(t, ws, "1", 3)
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
		require.NotNil(t, e.Issue)
		assert.Equal(t, followed["id"], e.Issue.ID, "only the followed issue's events")
	}
	assert.Equal(t, []string{"comment.added", "issue.closed", "issue.reopened"}, types)
	assert.Less(t, events[0].position(t), events[2].position(t))
}

// adminDB opens the PostgreSQL server's maintenance database.
func adminDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", databasetest.ServerURL())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}
