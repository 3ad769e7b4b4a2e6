package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/server"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// idemProject signs up an owner with an organization and a project ENG and
// returns the owner's client and the project's id.
func idemProject(t *testing.T, env *servertest.Env) (*servertest.Client, string) {
	t.Helper()
	c := env.As(env.SignUp(t, "idem@example.com", "Idem"))
	org := mutate(t, c, "createOrganization", "CreateOrganizationInput", map[string]any{"slug": "idem", "name": "Idem"}, "organization{ id }")
	p := mutate(t, c, "createProject", "CreateProjectInput",
		map[string]any{"organizationId": str(org, "organization", "id"), "key": "ENG", "name": "Engineering"}, "project{ id }")
	return c, str(p, "project", "id")
}

// postKeyed posts body as c with an Idempotency-Key.
func postKeyed(t *testing.T, c *servertest.Client, key string, body []byte) *servertest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.Env.URL+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	return c.Send(t, req)
}

func createIssueBody(t *testing.T, projectID, title string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"query":     `mutation($in:CreateIssueInput!){ createIssue(input:$in){ issue{ id key title } userErrors{ code } } }`,
		"variables": map[string]any{"in": map[string]any{"projectId": projectID, "title": title}},
	})
	require.NoError(t, err)
	return b
}

func issueCount(t *testing.T, env *servertest.Env) int {
	t.Helper()
	var n int
	require.NoError(t, env.DB.SQL.QueryRow(`SELECT count(*) FROM issues`).Scan(&n))
	return n
}

// TestIdempotencyKeyReplays: a retry with the same key and request gets
// the first answer byte for byte, marked as a replay, and the mutation
// ran once; a batch is one request and is replayed whole.
func TestIdempotencyKeyReplays(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *config.Config) { c.BatchMax = 5 })
	c, project := idemProject(t, env)
	body := createIssueBody(t, project, "Exactly once")

	first := postKeyed(t, c, "key-1", body).MustOK(t)
	assert.Empty(t, first.Header.Get(server.ReplayedHeader))
	again := postKeyed(t, c, "key-1", body)
	assert.Equal(t, first.Status, again.Status)
	assert.Equal(t, string(first.RawBody), string(again.RawBody), "replayed byte for byte")
	assert.Equal(t, "true", again.Header.Get(server.ReplayedHeader))
	assert.Equal(t, 1, issueCount(t, env), "the retry created nothing")

	// Another key is another request.
	postKeyed(t, c, `"key-2"`, body).MustOK(t)
	assert.Equal(t, 2, issueCount(t, env))

	// Keys belong to their viewer: someone else's key-1 is theirs.
	other := env.As(env.SignUp(t, "other@example.com", "Other"))
	resp := postKeyed(t, other, "key-1", body)
	assert.Empty(t, resp.Header.Get(server.ReplayedHeader))
	assert.Equal(t, 2, issueCount(t, env), "the other viewer may not write to the project")

	batch := []byte("[" + string(createIssueBody(t, project, "batch a")) + "," + string(createIssueBody(t, project, "batch b")) + "]")
	firstBatch := postKeyed(t, c, "batch-1", batch)
	require.Equal(t, http.StatusOK, firstBatch.Status, "%s", firstBatch.RawBody)
	againBatch := postKeyed(t, c, "batch-1", batch)
	assert.Equal(t, string(firstBatch.RawBody), string(againBatch.RawBody))
	assert.Equal(t, "true", againBatch.Header.Get(server.ReplayedHeader))
	assert.Equal(t, 4, issueCount(t, env), "the batch ran once")
}

// TestIdempotencyKeyWithAnotherRequest: reusing a key for a different
// request is refused with 422 and changes nothing.
func TestIdempotencyKeyWithAnotherRequest(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	c, project := idemProject(t, env)
	postKeyed(t, c, "reused", createIssueBody(t, project, "first")).MustOK(t)
	resp := postKeyed(t, c, "reused", createIssueBody(t, project, "second"))
	assert.Equal(t, http.StatusUnprocessableEntity, resp.Status)
	assert.Equal(t, []string{"BAD_USER_INPUT"}, resp.Codes())
	assert.Equal(t, 1, issueCount(t, env))

	bad := postKeyed(t, c, "", createIssueBody(t, project, "third"))
	assert.Equal(t, http.StatusBadRequest, bad.Status, "an empty key is refused")
}

// TestIdempotencyKeyInFlight: while the first request with a key is still
// running, a second one with the key gets 409 CONFLICT; the first then
// completes and its answer is what later retries get.
func TestIdempotencyKeyInFlight(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	c, project := idemProject(t, env)
	body := createIssueBody(t, project, "slow")
	release := lockProject(t, env, "ENG")
	firstDone := make(chan *servertest.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "in-flight")
		req.Header.Set("Authorization", "Bearer "+c.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			firstDone <- &servertest.Response{}
			return
		}
		defer resp.Body.Close()
		var raw bytes.Buffer
		_, _ = raw.ReadFrom(resp.Body)
		firstDone <- &servertest.Response{Status: resp.StatusCode, RawBody: raw.Bytes()}
	}()
	waitForLockWaiter(t, env)

	second := postKeyed(t, c, "in-flight", body)
	assert.Equal(t, http.StatusConflict, second.Status)
	assert.Equal(t, []string{"CONFLICT"}, second.Codes())

	release()
	first := <-firstDone
	require.Equal(t, http.StatusOK, first.Status, "%s", first.RawBody)
	retry := postKeyed(t, c, "in-flight", body)
	assert.Equal(t, string(first.RawBody), string(retry.RawBody))
	assert.Equal(t, 1, issueCount(t, env))
}

// TestIdempotencyKeyFailureStoresNothing: a request that fails (here it
// runs out of time while PostgreSQL holds it) applies nothing and stores
// nothing, so the retry with the same key runs for real, once.
func TestIdempotencyKeyFailureStoresNothing(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *config.Config) { c.RequestTimeout = 2 * time.Second })
	c, project := idemProject(t, env)
	body := createIssueBody(t, project, "after a failure")

	release := lockProject(t, env, "ENG")
	failed := postKeyed(t, c, "fails-once", body)
	assert.Equal(t, http.StatusServiceUnavailable, failed.Status, "%s", failed.RawBody)
	assert.Equal(t, []string{"UNAVAILABLE"}, failed.Codes())
	assert.NotEmpty(t, failed.Header.Get("Retry-After"))
	release()

	var stored int
	require.NoError(t, env.DB.SQL.QueryRowContext(context.Background(), `SELECT count(*) FROM idempotency_keys`).Scan(&stored))
	assert.Zero(t, stored, "a failed request stores no answer")
	assert.Zero(t, issueCount(t, env))

	retry := postKeyed(t, c, "fails-once", body).MustOK(t)
	assert.Empty(t, retry.Header.Get(server.ReplayedHeader), "the retry ran")
	assert.Equal(t, 1, issueCount(t, env))
}
