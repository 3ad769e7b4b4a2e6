package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/lexer"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/server/redistest"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// chain returns an operation exactly depth levels deep: object fields
// alternating organization/project, then a leaf.
func chain(depth int) string {
	var open, close strings.Builder
	for i := 1; i < depth; i++ {
		switch {
		case i == 1:
			open.WriteString(`organization(slug: "acme") { `)
		case i%2 == 0:
			open.WriteString(`project(key: "ENG") { `)
		default:
			open.WriteString(`organization { `)
		}
		close.WriteString("} ")
	}
	return "{ " + open.String() + "id " + close.String() + "}"
}

// repeatField returns `{ viewer { <n copies of field> } }`.
func repeatField(n int, field func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = field(i)
	}
	return "{ viewer { " + strings.Join(parts, " ") + " } }"
}

// tokens counts the lexical tokens of a document as the parser sees them.
func tokens(t *testing.T, doc string) int {
	t.Helper()
	lx := lexer.New(&ast.Source{Input: doc})
	n := 0
	for {
		tok, err := lx.ReadToken()
		require.Nil(t, err)
		if tok.Kind == lexer.EOF {
			return n
		}
		n++
	}
}

// withTokens returns a valid document of exactly n tokens (n > 27). The
// filler is a list of enum values: repeating a field instead would measure
// the validator's overlapping-fields check, not the token limit.
func withTokens(n int) string {
	return `{ project(organization: "a", key: "B") { issues(filter: {status: [` + strings.Repeat("TODO ", n-27) + `]}) { totalCount } } }`
}

// withBytes returns a valid document of exactly n bytes (padding is
// whitespace, which is not a token).
func withBytes(n int) string {
	doc := "{ viewer { id } }"
	return doc + strings.Repeat(" ", n-len(doc))
}

func postQuery(t *testing.T, c *servertest.Client, query string, vars map[string]any) *servertest.Response {
	t.Helper()
	return c.Do(t, query, vars)
}

// TestStructuralLimits checks every structural limit at its default bound,
// just under it and just over it, with the error a client sees.
func TestStructuralLimits(t *testing.T) {
	t.Parallel()
	// A bucket large enough that the cost cases are refused by the cost
	// limit, never by the rate limit.
	env := servertest.Start(t, func(c *config.Config) { c.RateLimit.AnonCapacity = 1 << 30 })
	c := env.Client()
	alias := func(i int) string { return "a" + itoa(i) + ": id" }
	root := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = "r" + itoa(i) + ": viewer { id }"
		}
		return "{ __typename " + strings.Join(parts, " ") + " }"
	}
	directive := func(i int) string { return []string{"id", "name"}[i%2] + " @include(if: true)" }
	leaves := []string{"id", "name", "email", "createdAt", "__typename"}
	leaf := func(i int) string { return leaves[i%len(leaves)] }
	same := func(int) string { return "id" }
	cost := func(extra int) string {
		// 1 + 1 + 98 * (1 + 1 + 100) = 9998, plus one point per viewer.
		parts := []string{`organization(slug: "acme") { projects(first: 98) { edges { node { issues(first: 100) { edges { node { id } } } } } } }`}
		for i := 0; i < extra; i++ {
			parts = append(parts, "v"+itoa(i)+": viewer { id }")
		}
		return "{ " + strings.Join(parts, " ") + " }"
	}
	require.Equal(t, 5000, tokens(t, withTokens(5000)))

	cases := []struct {
		name   string
		query  string
		status int
		code   string // "" means success
		limit  string
	}{
		{"depth 9", chain(9), 200, "", ""},
		{"depth 10", chain(10), 200, "", ""},
		{"depth 11", chain(11), 200, "GRAPHQL_VALIDATION_FAILED", "depth"},
		{"29 aliases", repeatField(29, alias), 200, "", ""},
		{"30 aliases and aliased __typename", strings.Replace(repeatField(30, alias), "{ viewer {", "{ t: __typename viewer { u: __typename", 1), 200, "", ""},
		{"31 aliases", repeatField(31, alias), 200, "GRAPHQL_VALIDATION_FAILED", "aliases"},
		{"19 root fields", root(19), 200, "", ""},
		{"20 root fields", root(20), 200, "", ""},
		{"21 root fields", root(21), 200, "GRAPHQL_VALIDATION_FAILED", "rootFields"},
		{"49 directives", repeatField(49, directive), 200, "", ""},
		{"50 directives", repeatField(50, directive), 200, "", ""},
		{"51 directives", repeatField(51, directive), 200, "GRAPHQL_VALIDATION_FAILED", "directives"},
		{"199 selections", repeatField(199, leaf), 200, "", ""},
		{"200 selections", repeatField(200, leaf), 200, "", ""},
		{"201 selections", repeatField(201, leaf), 200, "GRAPHQL_VALIDATION_FAILED", "selections"},
		{"201 selections through fragments", `{ viewer { ...A ...B } } fragment A on User { ` + strings.Repeat("id name email createdAt __typename ", 20) + `} fragment B on User { ` + strings.Repeat("id name email createdAt __typename ", 20) + `email }`, 200, "GRAPHQL_VALIDATION_FAILED", "selections"},
		{"id 49 times", repeatField(49, same), 200, "", ""},
		{"id 50 times", repeatField(50, same), 200, "", ""},
		{"id 51 times", repeatField(51, same), 200, "GRAPHQL_VALIDATION_FAILED", "repeats"},
		{"id 4990 times", repeatField(4990, same), 200, "GRAPHQL_VALIDATION_FAILED", "repeats"},
		{"4999 tokens", withTokens(4999), 200, "", ""},
		{"5000 tokens", withTokens(5000), 200, "", ""},
		{"5001 tokens", withTokens(5001), 200, "GRAPHQL_PARSE_FAILED", ""},
		{"document of 51199 bytes", withBytes(50<<10 - 1), 200, "", ""},
		{"document of 51200 bytes", withBytes(50 << 10), 200, "", ""},
		{"document of 51201 bytes", withBytes(50<<10 + 1), 413, "BAD_USER_INPUT", "documentBytes"},
		{"cost 9999", cost(1), 200, "", ""},
		{"cost 10000", cost(2), 200, "", ""},
		{"cost 10001", cost(3), 200, "COST_LIMIT_EXCEEDED", ""},
		{"first 99", `{ viewer { memberships(first: 99) { totalCount } } }`, 200, "", ""},
		{"first 100", `{ viewer { memberships(first: 100) { totalCount } } }`, 200, "", ""},
		{"first 101", `{ viewer { memberships(first: 101) { totalCount } } }`, 200, "BAD_USER_INPUT", ""},
		{"last 101", `{ viewer { memberships(last: 101) { totalCount } } }`, 200, "BAD_USER_INPUT", ""},
		{"fragment cycle", `{ viewer { ...A } } fragment A on User { memberships { edges { node { user { ...B } } } } } fragment B on User { ...A }`, 200, "GRAPHQL_VALIDATION_FAILED", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := postQuery(t, c, tc.query, nil)
			assert.Equal(t, tc.status, resp.Status, "body: %.300s", resp.RawBody)
			if tc.code == "" {
				assert.Empty(t, resp.Errors, "body: %.300s", resp.RawBody)
				return
			}
			require.NotEmpty(t, resp.Errors, "body: %.300s", resp.RawBody)
			assert.Equal(t, tc.code, resp.Errors[0].Code(), "body: %.300s", resp.RawBody)
			if tc.limit != "" {
				assert.Equal(t, tc.limit, resp.Errors[0].Extensions["limit"])
			}
			assert.JSONEq(t, "null", string(orNull(resp.Data)), "nothing ran")
		})
	}

	t.Run("cost error names the cost", func(t *testing.T) {
		resp := postQuery(t, c, cost(3), nil)
		require.Len(t, resp.Errors, 1)
		assert.Equal(t, map[string]any{"requestedQueryCost": float64(10001), "maximumAvailable": float64(10000)}, resp.Errors[0].Extensions["cost"])
	})
	t.Run("request body at and over 1 MB", func(t *testing.T) {
		body := func(size int) []byte {
			head := `{"query":"{ viewer { id } }","variables":{"pad":"`
			tail := `"}}`
			return []byte(head + strings.Repeat("a", size-len(head)-len(tail)) + tail)
		}
		assert.Equal(t, 200, c.Post(t, "application/json", body(1<<20-1)).Status)
		assert.Equal(t, 200, c.Post(t, "application/json", body(1<<20)).Status)
		resp := c.Post(t, "application/json", body(1<<20+1))
		assert.Equal(t, 413, resp.Status)
		assert.Equal(t, []string{"BAD_USER_INPUT"}, resp.Codes())
	})
	t.Run("batches are refused", func(t *testing.T) {
		resp := c.Post(t, "application/json", []byte(`[{"query":"{ viewer { id } }"},{"query":"{ viewer { id } }"}]`))
		assert.Equal(t, 400, resp.Status)
		assert.Equal(t, []string{"BAD_USER_INPUT"}, resp.Codes())
	})
	t.Run("suggestions and introspection in development", func(t *testing.T) {
		resp := postQuery(t, c, `{ viewr { id } }`, nil)
		require.NotEmpty(t, resp.Errors)
		assert.Contains(t, resp.Errors[0].Message, "Did you mean")
		postQuery(t, c, `{ __schema { queryType { name } } }`, nil).MustOK(t)
	})
}

// TestProductionHidesTheSchema: no "Did you mean" and no introspection.
func TestProductionHidesTheSchema(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *config.Config) {
		c.Env = config.Production
		c.JWTSecret = "0123456789abcdef0123456789abcdef-test"
		c.AutoMigrate = true // servertest's database is fresh
	})
	c := env.Client()
	resp := postQuery(t, c, `{ viewr { id } }`, nil)
	require.NotEmpty(t, resp.Errors)
	assert.Equal(t, "GRAPHQL_VALIDATION_FAILED", resp.Errors[0].Code())
	assert.NotContains(t, resp.Errors[0].Message, "Did you mean")
	resp = postQuery(t, c, `{ __schema { queryType { name } } }`, nil)
	require.NotEmpty(t, resp.Errors, "body: %s", resp.RawBody)
}

// costExtension is extensions.cost of a response.
type costExtension struct {
	RequestedQueryCost int `json:"requestedQueryCost"`
	ActualQueryCost    int `json:"actualQueryCost"`
	ThrottleStatus     *struct {
		MaximumAvailable   int     `json:"maximumAvailable"`
		CurrentlyAvailable int     `json:"currentlyAvailable"`
		RestoreRate        float64 `json:"restoreRate"`
	} `json:"throttleStatus"`
}

func costOf(t *testing.T, resp *servertest.Response) costExtension {
	t.Helper()
	var body struct {
		Extensions struct {
			Cost *costExtension `json:"cost"`
		} `json:"extensions"`
	}
	require.NoError(t, json.Unmarshal(resp.RawBody, &body))
	require.NotNil(t, body.Extensions.Cost, "no extensions.cost in %s", resp.RawBody)
	return *body.Extensions.Cost
}

// nodesQuery asks for n objects that do not exist: it costs n points, and
// since each item comes back (as null) it also actually costs n.
func nodesQuery(n int) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = `"` + base64URL("Issue:"+itoa(900000+i)) + `"`
	}
	return "{ nodes(ids: [" + strings.Join(ids, ", ") + "]) { id } }"
}

// smallBuckets makes anonymous buckets of 100 points that practically do
// not refill during a test.
func smallBuckets(c *config.Config) {
	c.Limits.MaxCost = 100
	c.RateLimit.AnonCapacity = 100
	c.RateLimit.AnonRestoreRate = 0.001
}

// TestRateLimit charges before execution, refunds what the rows did not
// cost, reports it in extensions.cost and headers, and answers 429 with
// Retry-After when the bucket is short.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	for _, shared := range []bool{false, true} {
		name := "in process"
		if shared {
			name = "redis"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := []servertest.Option{smallBuckets}
			if shared {
				prefix := redistest.Prefix(t, redistest.Client(t), "ratelimit")
				opts = append(opts, servertest.WithRedis(redistest.URL()), func(c *config.Config) { c.RedisPrefix = prefix })
			}
			c := servertest.Start(t, opts...).Client()

			resp := postQuery(t, c, nodesQuery(60), nil).MustOK(t)
			got := costOf(t, resp)
			assert.Equal(t, 60, got.RequestedQueryCost)
			assert.Equal(t, 60, got.ActualQueryCost)
			require.NotNil(t, got.ThrottleStatus)
			assert.Equal(t, 100, got.ThrottleStatus.MaximumAvailable)
			assert.Equal(t, 40, got.ThrottleStatus.CurrentlyAvailable)
			assert.Equal(t, 0.001, got.ThrottleStatus.RestoreRate)
			assert.Equal(t, `"cost";q=100;w=100000`, resp.Header.Get("RateLimit-Policy"))
			assert.True(t, strings.HasPrefix(resp.Header.Get("RateLimit"), `"cost";r=40;t=`), resp.Header.Get("RateLimit"))

			// Requested 1 + 1 + 28 = 30; the project does not exist, so
			// only its lookup (1) is kept and 29 come back.
			resp = postQuery(t, c, `{ project(organization: "none", key: "NONE") { issues(first: 28) { edges { node { id } } } } }`, nil).MustOK(t)
			got = costOf(t, resp)
			assert.Equal(t, 30, got.RequestedQueryCost)
			assert.Equal(t, 1, got.ActualQueryCost)
			assert.Equal(t, 39, got.ThrottleStatus.CurrentlyAvailable)
			assert.True(t, strings.HasPrefix(resp.Header.Get("RateLimit"), `"cost";r=39;t=`), resp.Header.Get("RateLimit"))

			// A response with errors is not refunded: 1 + (1 + 1 + 2) = 5
			// charged, though only 2 came back.
			resp = postQuery(t, c, `{ node(id: "not-an-id") { id } project(organization: "none", key: "NONE") { issues(first: 2) { edges { node { id } } } } }`, nil)
			assert.Equal(t, []string{"BAD_USER_INPUT"}, resp.Codes())
			got = costOf(t, resp)
			assert.Equal(t, 5, got.RequestedQueryCost)
			assert.Equal(t, 2, got.ActualQueryCost)
			assert.Equal(t, 34, got.ThrottleStatus.CurrentlyAvailable)

			resp = postQuery(t, c, nodesQuery(60), nil)
			assert.Equal(t, http.StatusTooManyRequests, resp.Status, "body: %s", resp.RawBody)
			assert.Equal(t, []string{"RATE_LIMITED"}, resp.Codes())
			assert.NotEmpty(t, resp.Header.Get("Retry-After"))
			assert.Equal(t, `"cost";q=100;w=100000`, resp.Header.Get("RateLimit-Policy"))
			assert.True(t, strings.HasPrefix(resp.Header.Get("RateLimit"), `"cost";r=34;t=`), resp.Header.Get("RateLimit"))
			assert.JSONEq(t, "null", string(orNull(resp.Data)), "nothing ran")

			// What still fits still runs.
			postQuery(t, c, nodesQuery(34), nil).MustOK(t)
			// A request refused before it is priced still carries the headers.
			resp = postQuery(t, c, `{ nope }`, nil)
			assert.Equal(t, 200, resp.Status)
			assert.True(t, strings.HasPrefix(resp.Header.Get("RateLimit"), `"cost";r=0;t=`), resp.Header.Get("RateLimit"))
		})
	}
}

func orNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

// TestRateLimitSharedByInstances: two instances on one Redis meter one
// budget per viewer.
func TestRateLimitSharedByInstances(t *testing.T) {
	t.Parallel()
	prefix := redistest.Prefix(t, redistest.Client(t), "ratelimit")
	opts := []servertest.Option{smallBuckets, servertest.WithRedis(redistest.URL()), func(c *config.Config) { c.RedisPrefix = prefix }}
	a := servertest.Start(t, opts...).Client()
	b := servertest.Start(t, opts...).Client()

	postQuery(t, a, nodesQuery(60), nil).MustOK(t)
	resp := postQuery(t, b, nodesQuery(60), nil)
	assert.Equal(t, http.StatusTooManyRequests, resp.Status, "body: %s", resp.RawBody)
	assert.Equal(t, []string{"RATE_LIMITED"}, resp.Codes())
	got := costOf(t, postQuery(t, b, nodesQuery(40), nil).MustOK(t))
	assert.Equal(t, 0, got.ThrottleStatus.CurrentlyAvailable)
}

// TestRateLimitWithoutRedis: an unreachable Redis fails open by default
// (the request runs, a warning is logged) or closed when configured.
func TestRateLimitWithoutRedis(t *testing.T) {
	t.Parallel()
	unreachable := servertest.WithRedis("redis://127.0.0.1:1/0")
	t.Run("open", func(t *testing.T) {
		t.Parallel()
		env := servertest.Start(t, unreachable)
		resp := postQuery(t, env.Client(), `{ viewer { id } }`, nil).MustOK(t)
		got := costOf(t, resp)
		assert.Equal(t, 1, got.RequestedQueryCost)
		assert.Nil(t, got.ThrottleStatus, "nothing was metered")
		assert.NotEmpty(t, resp.Header.Get("RateLimit-Policy"))
		assert.Contains(t, env.Logs.String(), "ratelimit_fail_open_total")
	})
	t.Run("closed", func(t *testing.T) {
		t.Parallel()
		env := servertest.Start(t, unreachable, func(c *config.Config) { c.RateLimit.OnRedisError = "closed" })
		resp := postQuery(t, env.Client(), `{ viewer { id } }`, nil)
		assert.Equal(t, http.StatusServiceUnavailable, resp.Status)
		assert.Equal(t, []string{"UNAVAILABLE"}, resp.Codes())
	})
}

// TestSignedInUsersHaveTheirOwnBucket: a user's spending leaves the
// anonymous bucket of the same address alone.
func TestSignedInUsersHaveTheirOwnBucket(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, smallBuckets, func(c *config.Config) { c.RateLimit.UserCapacity = 100; c.RateLimit.UserRestoreRate = 0.001 })
	token := env.SignUp(t, "meter@example.com", "M")
	got := costOf(t, postQuery(t, env.As(token), nodesQuery(70), nil).MustOK(t))
	assert.Equal(t, 30, got.ThrottleStatus.CurrentlyAvailable)
	postQuery(t, env.Client(), nodesQuery(70), nil).MustOK(t)
}

// sharedBuckets keeps an instance's buckets in the test Redis under a
// prefix of the test's own.
func sharedBuckets(t *testing.T) []servertest.Option {
	t.Helper()
	prefix := redistest.Prefix(t, redistest.Client(t), "ratelimit")
	return []servertest.Option{servertest.WithRedis(redistest.URL()), servertest.WithRedisPrefix(prefix)}
}

// TestAPIKeysHaveTheirOwnBuckets: each API key is charged to a bucket of
// its own, sized by ISSUEGRAPH_RATE_LIMIT_API_KEY, apart from other keys
// and from the user who created it.
func TestAPIKeysHaveTheirOwnBuckets(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, append(sharedBuckets(t), func(c *config.Config) {
		c.Limits.MaxCost = 100
		c.RateLimit.APIKeyCapacity, c.RateLimit.APIKeyRestoreRate = 100, 0.001
		c.RateLimit.UserCapacity, c.RateLimit.UserRestoreRate = 1000, 0.001
	})...)
	owner := newKeyOwner(t, env, 2)
	first, second := env.As(owner.secrets[0]), env.As(owner.secrets[1])
	userBefore := costOf(t, postQuery(t, owner.client, nodesQuery(1), nil).MustOK(t)).ThrottleStatus.CurrentlyAvailable

	resp := postQuery(t, first, nodesQuery(70), nil).MustOK(t)
	got := costOf(t, resp)
	assert.Equal(t, 100, got.ThrottleStatus.MaximumAvailable, "the API key policy applies")
	assert.Equal(t, 30, got.ThrottleStatus.CurrentlyAvailable)
	assert.Equal(t, 0.001, got.ThrottleStatus.RestoreRate)
	assert.Equal(t, `"cost";q=100;w=100000`, resp.Header.Get("RateLimit-Policy"))

	limited := postQuery(t, first, nodesQuery(70), nil)
	assert.Equal(t, http.StatusTooManyRequests, limited.Status, "body: %s", limited.RawBody)
	assert.Equal(t, []string{"RATE_LIMITED"}, limited.Codes())

	// Another key of the same organization and creator is untouched.
	got = costOf(t, postQuery(t, second, nodesQuery(70), nil).MustOK(t))
	assert.Equal(t, 30, got.ThrottleStatus.CurrentlyAvailable)

	// So is the creator's own bucket, and spending from it leaves the keys alone.
	got = costOf(t, postQuery(t, owner.client, nodesQuery(100), nil).MustOK(t))
	assert.Equal(t, 1000, got.ThrottleStatus.MaximumAvailable)
	assert.Equal(t, userBefore-100, got.ThrottleStatus.CurrentlyAvailable)
	got = costOf(t, postQuery(t, second, nodesQuery(30), nil).MustOK(t))
	assert.Equal(t, 0, got.ThrottleStatus.CurrentlyAvailable)
}

// TestAnonymousBucketsBehindProxies: with ISSUEGRAPH_TRUSTED_PROXY_HOPS the
// anonymous bucket is the forwarded client address's; without, the
// header is the client's own word and is ignored.
func TestAnonymousBucketsBehindProxies(t *testing.T) {
	t.Parallel()
	from := func(t *testing.T, env *servertest.Env, forwardedFor string, n int) *servertest.Response {
		t.Helper()
		body, err := json.Marshal(map[string]any{"query": nodesQuery(n)})
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, env.URL+"/graphql", strings.NewReader(string(body)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", forwardedFor)
		return env.Client().Send(t, req)
	}
	t.Run("one hop", func(t *testing.T) {
		t.Parallel()
		env := servertest.Start(t, append(sharedBuckets(t), smallBuckets, func(c *config.Config) { c.TrustedProxyHops = 1 })...)
		assert.Equal(t, 30, costOf(t, from(t, env, "203.0.113.1", 70).MustOK(t)).ThrottleStatus.CurrentlyAvailable)
		// The proxy appends the address it saw; what the client wrote to
		// the left is not trusted.
		assert.Equal(t, 30, costOf(t, from(t, env, "203.0.113.1, 203.0.113.2", 70).MustOK(t)).ThrottleStatus.CurrentlyAvailable)
		again := from(t, env, "198.51.100.7, 203.0.113.1", 70)
		assert.Equal(t, http.StatusTooManyRequests, again.Status, "body: %s", again.RawBody)
		assert.Equal(t, []string{"RATE_LIMITED"}, again.Codes())
	})
	t.Run("no hops", func(t *testing.T) {
		t.Parallel()
		env := servertest.Start(t, append(sharedBuckets(t), smallBuckets)...)
		assert.Equal(t, 30, costOf(t, from(t, env, "203.0.113.1", 70).MustOK(t)).ThrottleStatus.CurrentlyAvailable)
		resp := from(t, env, "203.0.113.2", 70)
		assert.Equal(t, http.StatusTooManyRequests, resp.Status, "the header is ignored: one bucket for the connection's address")
		assert.Equal(t, []string{"RATE_LIMITED"}, resp.Codes())
	})
}

// TestRateLimitHeadersOnEveryResponse: every response of the GraphQL
// endpoint carries RateLimit-Policy and RateLimit, refusals before the
// GraphQL handler included: the viewer's bucket once the credentials are
// checked, the client address's when they are refused.
func TestRateLimitHeadersOnEveryResponse(t *testing.T) {
	t.Parallel()
	opts := append(sharedBuckets(t), smallBuckets, func(c *config.Config) {
		c.BodyLimit = 4096
		c.Limits.MaxDocumentBytes = 2500
		c.BatchMax = 2
		c.RateLimit.UserCapacity, c.RateLimit.UserRestoreRate = 1000, 0.001
	})
	env := servertest.Start(t, opts...)
	enforced := servertest.Start(t, append(opts, func(c *config.Config) { c.PersistedMode = config.PersistedEnforce })...)
	token := env.SignUp(t, "headers@example.com", "H")
	const anonymous, user = `"cost";q=100;w=100000`, `"cost";q=1000;w=1000000`

	send := func(e *servertest.Env, method, contentType, body string, header ...string) *servertest.Response {
		req, err := http.NewRequest(method, e.URL+"/graphql", strings.NewReader(body))
		require.NoError(t, err)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		return e.Client().Send(t, req)
	}
	post := func(body string, header ...string) *servertest.Response {
		return send(env, http.MethodPost, "application/json", body, header...)
	}
	query := func(q string) string { return `{"query":` + jsonString(q) + `}` }
	bearer := "Bearer " + token

	cases := []struct {
		name   string
		resp   func() *servertest.Response
		status int
		code   string
		policy string
	}{
		{"malformed JSON", func() *servertest.Response { return post(`{"query":`) }, 400, "BAD_USER_INPUT", anonymous},
		{"malformed JSON, signed in", func() *servertest.Response { return post(`{"query":`, "Authorization", bearer) }, 400, "BAD_USER_INPUT", user},
		{"JSON that is not an object", func() *servertest.Response { return post(`"hello"`) }, 400, "BAD_USER_INPUT", anonymous},
		{"wrong content type", func() *servertest.Response { return send(env, http.MethodPost, "text/plain", query(`{viewer{id}}`)) }, 415, "BAD_USER_INPUT", anonymous},
		{"body over the limit", func() *servertest.Response { return post(query(withBytes(5000))) }, 413, "BAD_USER_INPUT", anonymous},
		{"unsupported method", func() *servertest.Response { return send(env, http.MethodPut, "", "{}") }, 405, "BAD_USER_INPUT", anonymous},
		{"GET without query", func() *servertest.Response { return send(env, http.MethodGet, "", "") }, 400, "BAD_USER_INPUT", anonymous},
		{"malformed documentId", func() *servertest.Response { return post(`{"documentId":"md5:abc"}`) }, 400, "BAD_USER_INPUT", anonymous},
		{"invalid access token", func() *servertest.Response { return post(query(`{viewer{id}}`), "Authorization", "Bearer not.a.jwt") }, 401, "UNAUTHENTICATED", anonymous},
		{"unknown API key", func() *servertest.Response { return post(query(`{viewer{id}}`), "Authorization", "Bearer igk_unknown") }, 401, "UNAUTHENTICATED", anonymous},
		{"empty batch", func() *servertest.Response { return post(`[]`) }, 400, "BAD_USER_INPUT", anonymous},
		{"batch too long", func() *servertest.Response { return post(`[{},{},{}]`, "Authorization", bearer) }, 400, "BAD_USER_INPUT", user},
		{"syntax error", func() *servertest.Response { return post(query(`{ viewer { id `)) }, 200, "GRAPHQL_PARSE_FAILED", anonymous},
		{"structural limit", func() *servertest.Response { return post(query(chain(11))) }, 200, "GRAPHQL_VALIDATION_FAILED", anonymous},
		{"document over the limit", func() *servertest.Response { return post(query(withBytes(3000))) }, 413, "BAD_USER_INPUT", anonymous},
		{"cost limit", func() *servertest.Response {
			return post(query(`{ project(organization: "a", key: "B") { issues(first: 100) { edges { node { assignee { id } } } } } }`))
		}, 200, "COST_LIMIT_EXCEEDED", anonymous},
		{"persisted query not found", func() *servertest.Response {
			return post(`{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + strings.Repeat("ab", 32) + `"}}}`)
		}, 200, "PERSISTED_QUERY_NOT_FOUND", anonymous},
		{"persisted query not in list", func() *servertest.Response {
			return send(enforced, http.MethodPost, "application/json", query(`{ viewer { id } }`))
		}, 400, "PERSISTED_QUERY_NOT_IN_LIST", anonymous},
		// Last: it empties the anonymous bucket.
		{"rate limited", func() *servertest.Response {
			post(query(nodesQuery(80))).MustOK(t) // of 89: signing up took 11
			return post(query(nodesQuery(80)))
		}, 429, "RATE_LIMITED", anonymous},
	}
	for _, tc := range cases {
		resp := tc.resp()
		assert.Equal(t, tc.status, resp.Status, "%s: %s", tc.name, resp.RawBody)
		if assert.NotEmpty(t, resp.Errors, "%s: %s", tc.name, resp.RawBody) {
			assert.Equal(t, tc.code, resp.Errors[0].Code(), tc.name)
		}
		assert.Equal(t, tc.policy, resp.Header.Get("RateLimit-Policy"), tc.name)
		assert.Regexp(t, `^"cost";r=\d+;t=\d+$`, resp.Header.Get("RateLimit"), tc.name)
	}
}
