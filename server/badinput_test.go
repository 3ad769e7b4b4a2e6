package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// TestBadRequests sends malformed requests of every kind: each gets a
// GraphQL-shaped error with a code and a 4xx (or 200 for field errors),
// never a 500.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *config.Config) { c.BodyLimit = 4096 })
	post := func(contentType, body string, header ...string) *servertest.Response {
		req, err := http.NewRequest(http.MethodPost, env.URL+"/graphql", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", contentType)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		return env.Client().Send(t, req)
	}
	get := func(rawQuery string) *servertest.Response {
		req, err := http.NewRequest(http.MethodGet, env.URL+"/graphql?"+rawQuery, nil)
		require.NoError(t, err)
		return env.Client().Send(t, req)
	}
	cases := []struct {
		name   string
		resp   func() *servertest.Response
		status int
		code   string
	}{
		{"malformed JSON", func() *servertest.Response { return post("application/json", `{"query": "{ viewer { id }`) }, 400, "BAD_USER_INPUT"},
		{"JSON that is not an object", func() *servertest.Response { return post("application/json", `"hello"`) }, 400, "BAD_USER_INPUT"},
		{"batched array", func() *servertest.Response { return post("application/json", `[{"query":"{viewer{id}}"}]`) }, 400, "BAD_USER_INPUT"},
		{"wrong content type", func() *servertest.Response { return post("text/plain", `{"query":"{viewer{id}}"}`) }, 415, "BAD_USER_INPUT"},
		{"body over the limit", func() *servertest.Response {
			return post("application/json", `{"query":"{viewer{id}}","variables":{"x":"`+strings.Repeat("a", 5000)+`"}}`)
		}, 413, "BAD_USER_INPUT"},
		{"no query", func() *servertest.Response { return post("application/json", `{}`) }, 400, "BAD_USER_INPUT"},
		{"syntax error", func() *servertest.Response { return post("application/json", `{"query":"{ viewer { id "}`) }, 200, "GRAPHQL_PARSE_FAILED"},
		{"unknown field", func() *servertest.Response { return post("application/json", `{"query":"{ nope }"}`) }, 200, "GRAPHQL_VALIDATION_FAILED"},
		{"unknown operation name", func() *servertest.Response {
			return post("application/json", `{"query":"query A { viewer { id } }","operationName":"B"}`)
		}, 200, "GRAPHQL_VALIDATION_FAILED"},
		{"variable of wrong type", func() *servertest.Response {
			return post("application/json", `{"query":"query($n:Int!){ project(organization:\"a\",key:\"B\"){ issue(number:$n){ id } } }","variables":{"n":"x"}}`)
		}, 200, "GRAPHQL_VALIDATION_FAILED"},
		{"missing required variable", func() *servertest.Response {
			return post("application/json", `{"query":"query($id:ID!){ node(id:$id){ id } }"}`)
		}, 200, "GRAPHQL_VALIDATION_FAILED"},
		{"invalid global ID", func() *servertest.Response {
			return post("application/json", `{"query":"{ node(id:\"not-an-id\"){ id } }"}`)
		}, 200, "BAD_USER_INPUT"},
		{"global ID of unknown type", func() *servertest.Response {
			return post("application/json", `{"query":"{ node(id:\"`+base64URL("Secret:1")+`\"){ id } }"}`)
		}, 200, "BAD_USER_INPUT"},
		{"too many nodes", func() *servertest.Response {
			ids := strings.Repeat(`\"x\",`, 101)
			return post("application/json", `{"query":"{ nodes(ids:[`+strings.TrimSuffix(ids, ",")+`]){ id } }"}`)
		}, 200, "BAD_USER_INPUT"},
		{"first above 100", func() *servertest.Response {
			return post("application/json", `{"query":"{ viewer { memberships(first: 101) { totalCount } } }"}`, "Authorization", "Bearer "+env.SignUp(t, "first@example.com", "F"))
		}, 200, "BAD_USER_INPUT"},
		{"garbage cursor", func() *servertest.Response {
			return post("application/json", `{"query":"{ viewer { memberships(after: \"zzz\") { totalCount } } }"}`, "Authorization", "Bearer "+env.SignUp(t, "cursor@example.com", "C"))
		}, 200, "BAD_USER_INPUT"},
		{"malformed issue key", func() *servertest.Response {
			return post("application/json", `{"query":"{ issue(key:\"eng 42\"){ id } }"}`)
		}, 200, "BAD_USER_INPUT"},
		{"invalid access token", func() *servertest.Response {
			return post("application/json", `{"query":"{viewer{id}}"}`, "Authorization", "Bearer not.a.jwt")
		}, 401, "UNAUTHENTICATED"},
		{"non-bearer authorization", func() *servertest.Response {
			return post("application/json", `{"query":"{viewer{id}}"}`, "Authorization", "Basic dXNlcjpwYXNz")
		}, 401, "UNAUTHENTICATED"},
		{"mutation over GET", func() *servertest.Response {
			return get("query=" + url.QueryEscape(`mutation { logOut(input:{refreshToken:"x"}){ success } }`))
		}, 405, "BAD_USER_INPUT"},
		{"GET without query", func() *servertest.Response { return get("") }, 400, "BAD_USER_INPUT"},
		{"unsupported method", func() *servertest.Response {
			req, _ := http.NewRequest(http.MethodPut, env.URL+"/graphql", strings.NewReader("{}"))
			return env.Client().Send(t, req)
		}, 405, "BAD_USER_INPUT"},
		{"unknown path", func() *servertest.Response {
			req, _ := http.NewRequest(http.MethodGet, env.URL+"/nope", nil)
			return env.Client().Send(t, req)
		}, 404, "NOT_FOUND"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.resp()
			assert.Equal(t, tc.status, resp.Status, "body: %s", resp.RawBody)
			require.NotEmpty(t, resp.Errors, "body: %s", resp.RawBody)
			if tc.code != "" {
				assert.Equal(t, tc.code, resp.Errors[0].Code(), "body: %s", resp.RawBody)
			}
			assert.NotContains(t, string(resp.RawBody), "goroutine")
		})
	}

	t.Run("queries over GET work", func(t *testing.T) {
		resp := get("query=" + url.QueryEscape(`{ viewer { id } }`))
		resp.MustOK(t)
		assert.JSONEq(t, `{"viewer":null}`, string(resp.Data))
	})
	t.Run("security headers", func(t *testing.T) {
		resp := get("query=" + url.QueryEscape(`{ viewer { id } }`))
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		assert.NotEmpty(t, resp.Header.Get("X-Request-Id"))
	})
	t.Run("CORS allow-list", func(t *testing.T) {
		preflight := func(origin string) *http.Response {
			req, _ := http.NewRequest(http.MethodOptions, env.URL+"/graphql", nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			return resp
		}
		ok := preflight("http://localhost:3000")
		assert.Equal(t, 204, ok.StatusCode)
		assert.Equal(t, "http://localhost:3000", ok.Header.Get("Access-Control-Allow-Origin"))
		bad := preflight("https://evil.example")
		assert.Equal(t, 403, bad.StatusCode)
		assert.Empty(t, bad.Header.Get("Access-Control-Allow-Origin"))
	})
	t.Run("health", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get(env.URL + path)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, 200, resp.StatusCode, path)
		}
	})
}
