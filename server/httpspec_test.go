package server_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// TestGraphQLOverHTTPStatuses pins what the GraphQL-over-HTTP spec asks
// of request errors, for each response media type.
func TestGraphQLOverHTTPStatuses(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	send := func(method, accept, body, rawQuery string) *servertest.Response {
		req, err := http.NewRequest(method, env.URL+"/graphql?"+rawQuery, strings.NewReader(body))
		require.NoError(t, err)
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/json")
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		return env.Client().Send(t, req)
	}
	const (
		jsonMedia = "application/json"
		gqlMedia  = "application/graphql-response+json"
	)
	cases := []struct {
		name, method, accept, body, rawQuery string
		status                               int
		media                                string
		code                                 string // "" for success
	}{
		{"query, no Accept", "POST", "", `{"query":"{ __typename }"}`, "", 200, jsonMedia, ""},
		{"query, graphql-response+json", "POST", gqlMedia, `{"query":"{ __typename }"}`, "", 200, gqlMedia, ""},
		{"query, */*", "POST", "*/*", `{"query":"{ __typename }"}`, "", 200, jsonMedia, ""},
		{"json preferred by q", "POST", gqlMedia + ";q=0.5, application/json", `{"query":"{ __typename }"}`, "", 200, jsonMedia, ""},
		{"parse error, json", "POST", jsonMedia, `{"query":"{"}`, "", 200, jsonMedia, "GRAPHQL_PARSE_FAILED"},
		{"parse error, graphql-response+json", "POST", gqlMedia, `{"query":"{"}`, "", 400, gqlMedia, "GRAPHQL_PARSE_FAILED"},
		{"validation error, json", "POST", jsonMedia, `{"query":"{ nope }"}`, "", 200, jsonMedia, "GRAPHQL_VALIDATION_FAILED"},
		{"validation error, graphql-response+json", "POST", gqlMedia, `{"query":"{ nope }"}`, "", 400, gqlMedia, "GRAPHQL_VALIDATION_FAILED"},
		{"variable coercion, json", "POST", jsonMedia, `{"query":"query($id: ID!) { node(id: $id) { id } }","variables":{"id":{"x":1}}}`, "", 200, jsonMedia, "GRAPHQL_VALIDATION_FAILED"},
		{"variable coercion, graphql-response+json", "POST", gqlMedia, `{"query":"query($id: ID!) { node(id: $id) { id } }","variables":{"id":{"x":1}}}`, "", 400, gqlMedia, "GRAPHQL_VALIDATION_FAILED"},
		{"misspelled query key, no Accept", "POST", "", `{"qeury":"{ __typename }"}`, "", 400, jsonMedia, "BAD_USER_INPUT"},
		{"query that is not a string", "POST", gqlMedia, `{"query":{"obj":"ect"}}`, "", 400, gqlMedia, "BAD_USER_INPUT"},
		{"variables that are not an object", "POST", "", `{"query":"{ __typename }","variables":"x"}`, "", 400, jsonMedia, "BAD_USER_INPUT"},
		{"null variables", "POST", gqlMedia, `{"query":"{ __typename }","variables":null,"operationName":null,"extensions":null}`, "", 200, gqlMedia, ""},
		{"GET query", "GET", gqlMedia, "", "query=" + url.QueryEscape("{ __typename }"), 200, gqlMedia, ""},
		{"GET mutation", "GET", "", "", "query=" + url.QueryEscape("mutation { __typename }"), 405, jsonMedia, "BAD_USER_INPUT"},
		{"GET variables not JSON", "GET", "", "", "query=" + url.QueryEscape("{ __typename }") + "&variables=nope", 400, jsonMedia, "BAD_USER_INPUT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(tc.method, tc.accept, tc.body, tc.rawQuery)
			assert.Equal(t, tc.status, resp.Status, "body: %s", resp.RawBody)
			assert.Equal(t, tc.media, resp.Header.Get("Content-Type"))
			var keys map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(resp.RawBody, &keys))
			if tc.code == "" {
				assert.Empty(t, resp.Errors, "body: %s", resp.RawBody)
				assert.Contains(t, keys, "data")
				return
			}
			require.NotEmpty(t, resp.Errors, "body: %s", resp.RawBody)
			assert.Equal(t, tc.code, resp.Errors[0].Code(), "body: %s", resp.RawBody)
			assert.NotContains(t, keys, "data", "a request error has no data entry: %s", resp.RawBody)
		})
	}
	t.Run("GET mutation names POST and the request", func(t *testing.T) {
		resp := send("GET", "", "", "query="+url.QueryEscape(`mutation { logOut(input: {refreshToken: "x"}) { success } }`))
		require.Equal(t, http.StatusMethodNotAllowed, resp.Status)
		assert.Equal(t, "POST", resp.Header.Get("Allow"))
		require.Len(t, resp.Errors, 1)
		assert.Equal(t, resp.Header.Get("X-Request-Id"), resp.Errors[0].Extensions["requestId"])
		assert.Contains(t, resp.Errors[0].Message, "POST")
	})
}

type auditResult struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"` // ok, notice (MAY), warn (SHOULD), error (MUST)
	Reason string `json:"reason"`
}

// runAudit runs graphql-http's audit of the GraphQL-over-HTTP spec
// (deploy/dev/js/audit.mjs) against a real instance.
func runAudit(t *testing.T, env *servertest.Env) []auditResult {
	t.Helper()
	node := requireNodePackage(t, "graphql-http")
	out, err := exec.Command(node, nodeTools+"/audit.mjs", env.URL+"/graphql").Output()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		t.Fatalf("audit: %v\n%s", err, exitErr.Stderr)
	}
	require.NoError(t, err)
	var results []auditResult
	require.NoError(t, json.Unmarshal(out, &results), "audit output: %s", out)
	require.NotEmpty(t, results)
	return results
}

// TestGraphQLOverHTTPAudit: graphql-http's audit passes whole in
// development.
func TestGraphQLOverHTTPAudit(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	results := runAudit(t, env)
	for _, r := range results {
		assert.Equal(t, "ok", r.Status, "%s %s: %s", r.ID, r.Name, r.Reason)
	}
	assert.Len(t, results, 61, "the pinned graphql-http runs 61 audits")
}

// TestGraphQLOverHTTPAuditProduction: in production (no introspection, no
// suggestions) no MUST or SHOULD audit fails, without exceptions: 28B9's
// `__type(name:)` query answers null there (server/introspection.go).
func TestGraphQLOverHTTPAuditProduction(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *config.Config) {
		c.Env = config.Production
		c.JWTSecret = "0123456789abcdef0123456789abcdef-test"
		c.AutoMigrate = true // servertest's database is fresh
	})
	results := runAudit(t, env)
	for _, r := range results {
		assert.NotEqual(t, "error", r.Status, "MUST %s %s: %s", r.ID, r.Name, r.Reason)
		assert.NotEqual(t, "warn", r.Status, "SHOULD %s %s: %s", r.ID, r.Name, r.Reason)
	}
	assert.Len(t, results, 61, "the pinned graphql-http runs 61 audits")
}
