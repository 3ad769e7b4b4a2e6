package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/server/persisted"
	"github.com/issuegraph/issuegraph/server/redistest"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// batchItem is one response inside a batch's array.
type batchItem struct {
	Data       json.RawMessage    `json:"data"`
	Errors     []servertest.Error `json:"errors"`
	Extensions struct {
		Cost *costExtension `json:"cost"`
	} `json:"extensions"`
}

func (b batchItem) codes() []string {
	out := make([]string, len(b.Errors))
	for i, e := range b.Errors {
		out[i] = e.Code()
	}
	return out
}

// postBatch posts the operations as one JSON array; items of type string
// are queries, others (json.RawMessage, maps) are sent as they are.
func postBatch(t *testing.T, c *servertest.Client, ops ...any) (*servertest.Response, []batchItem) {
	t.Helper()
	body := make([]any, len(ops))
	for i, op := range ops {
		if q, ok := op.(string); ok {
			op = map[string]any{"query": q}
		}
		body[i] = op
	}
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	resp := c.Post(t, "application/json", raw)
	var items []batchItem
	if resp.Status == http.StatusOK {
		require.NoError(t, json.Unmarshal(resp.RawBody, &items), "body: %s", resp.RawBody)
		require.Len(t, items, len(ops), "one response per operation: %s", resp.RawBody)
	}
	return resp, items
}

// batchEnv starts an instance taking batches of up to 3 operations, with
// anonymous buckets of 100 points in the test Redis.
func batchEnv(t *testing.T, opts ...servertest.Option) *servertest.Env {
	t.Helper()
	prefix := redistest.Prefix(t, redistest.Client(t), "batch")
	return servertest.Start(t, append([]servertest.Option{
		smallBuckets, servertest.WithRedis(redistest.URL()), servertest.WithRedisPrefix(prefix),
		func(c *config.Config) { c.BatchMax = 3; c.BodyLimit = 4096 },
	}, opts...)...)
}

// TestBatches: a JSON array runs each operation in order through every
// limit a single request meets, with its own charge and refund, and
// answers with an array of responses; failures stay inside their item.
func TestBatches(t *testing.T) {
	t.Parallel()

	t.Run("each operation is measured, charged and refunded on its own", func(t *testing.T) {
		t.Parallel()
		c := batchEnv(t).Client()
		resp, items := postBatch(t, c,
			nodesQuery(10),
			`{ nope }`,
			`{ project(organization: "none", key: "NONE") { issues(first: 28) { edges { node { id } } } } }`,
		)
		assert.Equal(t, http.StatusOK, resp.Status)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.Empty(t, items[0].Errors)
		require.NotNil(t, items[0].Extensions.Cost)
		assert.Equal(t, 10, items[0].Extensions.Cost.RequestedQueryCost)
		assert.Equal(t, 90, items[0].Extensions.Cost.ThrottleStatus.CurrentlyAvailable)
		assert.Equal(t, []string{"GRAPHQL_VALIDATION_FAILED"}, items[1].codes())
		// Requested 30, kept 1 (the project does not exist): 89 left.
		require.NotNil(t, items[2].Extensions.Cost)
		assert.Equal(t, 30, items[2].Extensions.Cost.RequestedQueryCost)
		assert.Equal(t, 1, items[2].Extensions.Cost.ActualQueryCost)
		assert.Equal(t, 89, items[2].Extensions.Cost.ThrottleStatus.CurrentlyAvailable)
		// The batch reports the bucket as it stands after its last operation.
		assert.Equal(t, `"cost";q=100;w=100000`, resp.Header.Get("RateLimit-Policy"))
		assert.True(t, strings.HasPrefix(resp.Header.Get("RateLimit"), `"cost";r=89;t=`), resp.Header.Get("RateLimit"))
	})

	t.Run("limits refuse an operation, not the batch", func(t *testing.T) {
		t.Parallel()
		c := batchEnv(t).Client()
		resp, items := postBatch(t, c,
			chain(11),
			`{ project(organization: "a", key: "B") { issues(first: 100) { edges { node { assignee { id } } } } } }`,
			json.RawMessage(`"not an operation"`),
		)
		assert.Equal(t, http.StatusOK, resp.Status)
		assert.Equal(t, []string{"GRAPHQL_VALIDATION_FAILED"}, items[0].codes())
		assert.Equal(t, "depth", items[0].Errors[0].Extensions["limit"])
		assert.Equal(t, []string{"COST_LIMIT_EXCEEDED"}, items[1].codes())
		assert.Equal(t, []string{"BAD_USER_INPUT"}, items[2].codes())
		// Nothing was charged.
		assert.True(t, strings.HasPrefix(resp.Header.Get("RateLimit"), `"cost";r=100;t=`), resp.Header.Get("RateLimit"))
	})

	t.Run("an operation the bucket cannot pay is refused alone", func(t *testing.T) {
		t.Parallel()
		c := batchEnv(t).Client()
		resp, items := postBatch(t, c, nodesQuery(60), nodesQuery(60), nodesQuery(5))
		assert.Equal(t, http.StatusOK, resp.Status)
		assert.Empty(t, items[0].Errors)
		assert.Equal(t, []string{"RATE_LIMITED"}, items[1].codes())
		assert.NotNil(t, items[1].Errors[0].Extensions["retryAfterSeconds"])
		assert.JSONEq(t, "null", string(orNull(items[1].Data)), "nothing ran")
		assert.Empty(t, items[2].Errors)
		assert.Equal(t, 35, items[2].Extensions.Cost.ThrottleStatus.CurrentlyAvailable)
		assert.True(t, strings.HasPrefix(resp.Header.Get("RateLimit"), `"cost";r=35;t=`), resp.Header.Get("RateLimit"))
	})

	t.Run("operations run in order", func(t *testing.T) {
		t.Parallel()
		c := batchEnv(t).Client()
		query := `query InOrder { viewer { id } }`
		hash := persisted.Hash(query)
		register := map[string]any{"query": query, "extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}}
		byHash := map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}}
		_, items := postBatch(t, c, byHash, register, byHash)
		assert.Equal(t, []string{"PERSISTED_QUERY_NOT_FOUND"}, items[0].codes(), "not registered yet")
		assert.Empty(t, items[1].Errors)
		assert.Empty(t, items[2].Errors, "registered by the operation before it")
		assert.JSONEq(t, `{"viewer":null}`, string(items[2].Data))
	})

	t.Run("enforce mode applies to each operation", func(t *testing.T) {
		t.Parallel()
		env := batchEnv(t, func(c *config.Config) { c.PersistedMode = config.PersistedEnforce })
		trusted := `query Trusted { viewer { id } }`
		ops, err := persisted.ParseManifest([]byte(`{"` + persisted.Hash(trusted) + `":` + jsonString(trusted) + `}`))
		require.NoError(t, err)
		_, err = persisted.Import(context.Background(), env.DB.Client, "ios", ops)
		require.NoError(t, err)
		resp, items := postBatch(t, env.Client(),
			map[string]any{"documentId": "sha256:" + persisted.Hash(trusted)},
			`query Other { viewer { name } }`,
			trusted,
		)
		assert.Equal(t, http.StatusOK, resp.Status)
		assert.Empty(t, items[0].Errors)
		assert.Equal(t, []string{"PERSISTED_QUERY_NOT_IN_LIST"}, items[1].codes())
		assert.Empty(t, items[2].Errors)
	})

	t.Run("a signed-in batch is charged to the user", func(t *testing.T) {
		t.Parallel()
		env := batchEnv(t, func(c *config.Config) { c.RateLimit.UserCapacity = 1000; c.RateLimit.UserRestoreRate = 0.001 })
		c := env.As(env.SignUp(t, "batch@example.com", "B"))
		anonymous := costOf(t, postQuery(t, env.Client(), nodesQuery(1), nil).MustOK(t)).ThrottleStatus.CurrentlyAvailable
		_, items := postBatch(t, c, `{ viewer { name } }`, nodesQuery(50))
		assert.JSONEq(t, `{"viewer":{"name":"B"}}`, string(items[0].Data))
		assert.Equal(t, 1000, items[1].Extensions.Cost.ThrottleStatus.MaximumAvailable)
		assert.Equal(t, 1000-1-50, items[1].Extensions.Cost.ThrottleStatus.CurrentlyAvailable)
		// The anonymous bucket of the same address is untouched.
		got := costOf(t, postQuery(t, env.Client(), nodesQuery(1), nil).MustOK(t))
		assert.Equal(t, anonymous-1, got.ThrottleStatus.CurrentlyAvailable)
	})

	t.Run("a batch is refused whole when empty, too long, too large or streamed", func(t *testing.T) {
		t.Parallel()
		env := batchEnv(t)
		c := env.Client()
		for name, tc := range map[string]struct {
			body   string
			accept string
			status int
		}{
			"empty":               {`[]`, "", http.StatusBadRequest},
			"too long":            {`[{"query":"{viewer{id}}"},{"query":"{viewer{id}}"},{"query":"{viewer{id}}"},{"query":"{viewer{id}}"}]`, "", http.StatusBadRequest},
			"over the body limit": {`[{"query":"{viewer{id}}","variables":{"x":"` + strings.Repeat("a", 5000) + `"}}]`, "", http.StatusRequestEntityTooLarge},
			"event stream":        {`[{"query":"{viewer{id}}"}]`, "text/event-stream", http.StatusBadRequest},
		} {
			req, err := http.NewRequest(http.MethodPost, env.URL+"/graphql", strings.NewReader(tc.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp := c.Send(t, req)
			assert.Equal(t, tc.status, resp.Status, "%s: %s", name, resp.RawBody)
			assert.Equal(t, []string{"BAD_USER_INPUT"}, resp.Codes(), name)
		}
		// The error says how many operations a batch may hold.
		resp := c.Post(t, "application/json", []byte(`[]`))
		require.NotEmpty(t, resp.Errors)
		assert.Contains(t, resp.Errors[0].Message, "1 to 3 operations, not 0")
	})

	t.Run("off by default", func(t *testing.T) {
		t.Parallel()
		resp := servertest.Start(t).Client().Post(t, "application/json", []byte(`[{"query":"{viewer{id}}"}]`))
		assert.Equal(t, http.StatusBadRequest, resp.Status)
		assert.Equal(t, []string{"BAD_USER_INPUT"}, resp.Codes())
		assert.Contains(t, resp.Errors[0].Message, "batched requests are not accepted")
	})
}
