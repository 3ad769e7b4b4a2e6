package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/server/persisted"
	"github.com/issuegraph/issuegraph/server/redistest"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// persistedRequest posts a request naming a persisted operation by hash,
// with the document text when query is not empty (an APQ registration).
func persistedRequest(t *testing.T, c *servertest.Client, hash, query string) *servertest.Response {
	t.Helper()
	req := map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}}
	if query != "" {
		req["query"] = query
	}
	body, err := json.Marshal(req)
	require.NoError(t, err)
	return c.Post(t, "application/json", body)
}

func persistedGet(t *testing.T, c *servertest.Client, params url.Values) *servertest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.Env.URL+"/graphql?"+params.Encode(), nil)
	require.NoError(t, err)
	return c.Send(t, req)
}

func apqExtension(hash string) string {
	return `{"persistedQuery":{"version":1,"sha256Hash":"` + hash + `"}}`
}

// TestAPQAcrossInstances: a query registered on one instance runs by hash
// on another sharing its Redis, over POST and GET.
func TestAPQAcrossInstances(t *testing.T) {
	t.Parallel()
	prefix := redistest.Prefix(t, redistest.Client(t), "apq")
	opts := []servertest.Option{servertest.WithRedis(redistest.URL()), func(c *config.Config) { c.RedisPrefix = prefix }}
	a := servertest.Start(t, opts...).Client()
	b := servertest.Start(t, opts...).Client()
	query := `query Viewer { viewer { id } }`
	hash := persisted.Hash(query)

	miss := persistedRequest(t, a, hash, "")
	assert.Equal(t, http.StatusOK, miss.Status)
	assert.Equal(t, []string{"PERSISTED_QUERY_NOT_FOUND"}, miss.Codes())
	assert.Equal(t, "PersistedQueryNotFound", miss.Errors[0].Message)

	persistedRequest(t, a, hash, query).MustOK(t)
	hit := persistedRequest(t, b, hash, "").MustOK(t)
	assert.JSONEq(t, `{"viewer":null}`, string(hit.Data))
	get := persistedGet(t, b, url.Values{"extensions": {apqExtension(hash)}}).MustOK(t)
	assert.Equal(t, "private, max-age=30", get.Header.Get("Cache-Control"), "a persisted GET may be cached by its caller only")
	assert.Contains(t, get.Header.Values("Vary"), "Authorization")
	persistedGet(t, b, url.Values{"documentId": {"sha256:" + hash}}).MustOK(t)
	text := persistedGet(t, b, url.Values{"query": {query}}).MustOK(t)
	assert.Equal(t, "no-store", text.Header.Get("Cache-Control"), "a GET with text is not cached")
	post := persistedRequest(t, b, hash, "").MustOK(t)
	assert.Equal(t, "no-store", post.Header.Get("Cache-Control"), "a POST is not cached")

	bad := persistedRequest(t, a, persisted.Hash("{ viewer { name } }"), query)
	assert.Equal(t, http.StatusBadRequest, bad.Status)
	assert.Equal(t, []string{"BAD_USER_INPUT"}, bad.Codes())
}

// TestAPQInProcess: without Redis the cache is the instance's own.
func TestAPQInProcess(t *testing.T) {
	t.Parallel()
	c := servertest.Start(t).Client()
	query := `{ viewer { id name } }`
	hash := persisted.Hash(query)
	assert.Equal(t, []string{"PERSISTED_QUERY_NOT_FOUND"}, persistedRequest(t, c, hash, "").Codes())
	persistedRequest(t, c, hash, query).MustOK(t)
	persistedRequest(t, c, hash, "").MustOK(t)
}

// TestEnforceMode: only trusted documents run; unknown documents and APQ
// registrations are refused while manifest operations run by hash, by
// documentId, over GET and as text.
func TestEnforceMode(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *config.Config) { c.PersistedMode = config.PersistedEnforce })
	c := env.Client()
	trusted := `query Viewer { viewer { id } }`
	other := `query Plain { __typename }`
	apollo := `{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"` + persisted.Hash(trusted) + `","name":"Viewer","type":"query","body":` + jsonString(trusted) + `}]}`
	plain := `{"` + persisted.Hash(other) + `":` + jsonString(other) + `}`
	for client, manifest := range map[string]string{"ios": apollo, "web": plain} {
		ops, err := persisted.ParseManifest([]byte(manifest))
		require.NoError(t, err)
		added, err := persisted.Import(context.Background(), env.DB.Client, client, ops)
		require.NoError(t, err)
		assert.Equal(t, 1, added)
		again, err := persisted.Import(context.Background(), env.DB.Client, client, ops)
		require.NoError(t, err)
		assert.Equal(t, 0, again, "importing again adds nothing")
	}

	persistedRequest(t, c, persisted.Hash(trusted), "").MustOK(t)
	persistedRequest(t, c, persisted.Hash(other), "").MustOK(t)
	c.Post(t, "application/json", []byte(`{"documentId":"sha256:`+persisted.Hash(trusted)+`"}`)).MustOK(t)
	persistedGet(t, c, url.Values{"extensions": {apqExtension(persisted.Hash(trusted))}}).MustOK(t)
	c.Do(t, trusted, nil).MustOK(t)

	// Another instance on the same database trusts the same list.
	other2 := servertest.Start(t, func(cfg *config.Config) {
		cfg.PersistedMode = config.PersistedEnforce
		cfg.DatabaseURL = env.Config.DatabaseURL
	}).Client()
	persistedRequest(t, other2, persisted.Hash(trusted), "").MustOK(t)

	unknown := `query Other { viewer { name } }`
	for name, resp := range map[string]*servertest.Response{
		"unknown text":     c.Do(t, unknown, nil),
		"APQ registration": persistedRequest(t, c, persisted.Hash(unknown), unknown),
		"unknown hash":     persistedRequest(t, c, persisted.Hash(unknown), ""),
	} {
		assert.Equal(t, http.StatusBadRequest, resp.Status, name)
		assert.Equal(t, []string{"PERSISTED_QUERY_NOT_IN_LIST"}, resp.Codes(), name)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestEnforceModeExemptAPIKey: an API key listed in
// ISSUEGRAPH_PERSISTED_EXEMPT_API_KEYS (by the ID the API shows) runs any
// document and may register APQs in enforce mode; every other key, user
// and anonymous client still runs only trusted documents, and the exempt
// key still meets every other limit.
func TestEnforceModeExemptAPIKey(t *testing.T) {
	t.Parallel()
	setup := servertest.Start(t)
	owner := newKeyOwner(t, setup, 2)
	exemptID := owner.keyIDs[0]
	// Read the setting as an operator writes it.
	parsed, err := config.Load(func(k string) string {
		if k == "ISSUEGRAPH_PERSISTED_EXEMPT_API_KEYS" {
			return exemptID
		}
		return ""
	})
	require.NoError(t, err)
	env := servertest.Start(t, servertest.WithDatabase(setup.Config.DatabaseURL), func(c *config.Config) {
		c.PersistedMode = config.PersistedEnforce
		c.PersistedExemptAPIKeys = parsed.PersistedExemptAPIKeys
	})
	exempt, other := env.As(owner.secrets[0]), env.As(owner.secrets[1])
	ownerClient := env.As(owner.client.Token)

	query := `{ organization(slug: "keys") { slug } }`
	assert.JSONEq(t, `{"organization":{"slug":"keys"}}`, string(exempt.Do(t, query, nil).MustOK(t).Data))
	registered := `query Registered { organization(slug: "keys") { name } }`
	persistedRequest(t, exempt, persisted.Hash(registered), registered).MustOK(t)
	assert.JSONEq(t, `{"organization":{"name":"Keys"}}`, string(persistedRequest(t, exempt, persisted.Hash(registered), "").MustOK(t).Data),
		"an exempt key reads back what it registered")

	for name, resp := range map[string]*servertest.Response{
		"another key's text":  other.Do(t, query, nil),
		"another key by hash": persistedRequest(t, other, persisted.Hash(registered), ""),
		"another key's APQ":   persistedRequest(t, other, persisted.Hash(registered), registered),
		"the key's creator":   ownerClient.Do(t, query, nil),
		"anonymous":           env.Client().Do(t, query, nil),
		"anonymous by hash":   persistedRequest(t, env.Client(), persisted.Hash(registered), ""),
	} {
		assert.Equal(t, http.StatusBadRequest, resp.Status, "%s: %s", name, resp.RawBody)
		assert.Equal(t, []string{"PERSISTED_QUERY_NOT_IN_LIST"}, resp.Codes(), name)
	}

	// Exempt from the persisted list only: the structural limits still apply.
	deep := exempt.Do(t, chain(11), nil)
	assert.Equal(t, http.StatusOK, deep.Status)
	assert.Equal(t, []string{"GRAPHQL_VALIDATION_FAILED"}, deep.Codes())

	// An instance without the setting refuses the same key.
	strict := servertest.Start(t, servertest.WithDatabase(setup.Config.DatabaseURL), func(c *config.Config) { c.PersistedMode = config.PersistedEnforce })
	resp := strict.As(owner.secrets[0]).Do(t, query, nil)
	assert.Equal(t, []string{"PERSISTED_QUERY_NOT_IN_LIST"}, resp.Codes())
}
