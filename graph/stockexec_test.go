package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/seed"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/graph/stockexec"
	"github.com/issuegraph/issuegraph/loaders"
)

// stockRoot serves the resolvers to the stock executor: its resolver
// interfaces have the same methods as the patched executor's.
type stockRoot struct{ r graph.ResolverRoot }

func (s stockRoot) APIKey() stockexec.APIKeyResolver             { return s.r.APIKey() }
func (s stockRoot) Comment() stockexec.CommentResolver           { return s.r.Comment() }
func (s stockRoot) Issue() stockexec.IssueResolver               { return s.r.Issue() }
func (s stockRoot) Label() stockexec.LabelResolver               { return s.r.Label() }
func (s stockRoot) Membership() stockexec.MembershipResolver     { return s.r.Membership() }
func (s stockRoot) Mutation() stockexec.MutationResolver         { return s.r.Mutation() }
func (s stockRoot) Organization() stockexec.OrganizationResolver { return s.r.Organization() }
func (s stockRoot) Project() stockexec.ProjectResolver           { return s.r.Project() }
func (s stockRoot) Query() stockexec.QueryResolver               { return s.r.Query() }
func (s stockRoot) Subscription() stockexec.SubscriptionResolver { return s.r.Subscription() }
func (s stockRoot) User() stockexec.UserResolver                 { return s.r.User() }

// panicky makes some issues' fields panic, for both executors alike: the
// assignee (nullable) of issue 2, and the key and the id (non-null, so the
// null propagates to the nearest nullable parent) of issues 3 and 4.
type panicky struct{ graph.ResolverRoot }

func (p panicky) Issue() graph.IssueResolver { return panickyIssue{p.ResolverRoot.Issue()} }

type panickyIssue struct{ graph.IssueResolver }

func (p panickyIssue) Assignee(ctx context.Context, obj *ent.Issue) (*ent.User, error) {
	if obj.Number == 2 {
		panic("assignee of issue 2")
	}
	return p.IssueResolver.Assignee(ctx, obj)
}

func (p panickyIssue) ID(ctx context.Context, obj *ent.Issue) (string, error) {
	if obj.Number == 4 {
		panic("id of issue 4")
	}
	return p.IssueResolver.ID(ctx, obj)
}

func (p panickyIssue) Key(ctx context.Context, obj *ent.Issue) (string, error) {
	if obj.Number == 3 {
		panic("key of issue 3")
	}
	return p.IssueResolver.Key(ctx, obj)
}

// generated returns a fresh database holding an organization "scale" made
// by the data generator at sizes, and the context of its first member.
func generated(tb testing.TB, sizes seed.Sizes) (*database.DB, context.Context) {
	tb.Helper()
	db := databasetest.New(tb, database.Options{})
	ctx := context.Background()
	require.NoError(tb, seed.Generate(ctx, db.SQL, sizes, "unused"))
	var userID int64
	require.NoError(tb, db.SQL.QueryRow(`SELECT id FROM users WHERE email = $1`, seed.ScaleUserEmail(1)).Scan(&userID))
	return db, viewer.NewContext(ctx, viewer.Viewer{UserID: userID})
}

// executors returns handlers of the patched and the stock executor over
// the same resolvers, each request with its own loaders, as the server
// runs them.
func executors(db *database.DB, root graph.ResolverRoot) (patched, stock http.Handler) {
	serve := func(es graphql.ExecutableSchema) http.Handler {
		srv := handler.New(es)
		srv.AddTransport(transport.POST{})
		srv.SetQueryCache(lru.New[*ast.QueryDocument](100))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := loaders.NewContext(r.Context(), loaders.New(db.Client, loaders.Options{}))
			srv.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	return serve(graph.NewExecutableSchema(graph.Config{Resolvers: root})),
		serve(stockexec.NewExecutableSchema(stockexec.Config{Resolvers: stockRoot{root}}))
}

// response is an answer reduced to what must match: the status, the data
// byte for byte, and the errors as a set (the stock executor reports
// errors in whatever order its goroutines meet them).
type response struct {
	Status int
	Data   string
	Errors []string
}

func ask(t testing.TB, h http.Handler, ctx context.Context, query string) response {
	t.Helper()
	body, err := json.Marshal(map[string]string{"query": query})
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	raw, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	var out struct {
		Data   json.RawMessage   `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(raw, &out), "response: %s", raw)
	r := response{Status: rec.Code, Data: string(out.Data)}
	for _, e := range out.Errors {
		r.Errors = append(r.Errors, string(e))
	}
	sort.Strings(r.Errors)
	return r
}

// TestPatchedExecutorMatchesStock runs a corpus of operations through the
// executor graph/execpatch rewrites and through gqlgen's own, generated
// from the same schema (graph/stockexec), over the same resolvers and
// data: every answer must be the same, errors, nulls, null propagation,
// panics and cancellation included.
func TestPatchedExecutorMatchesStock(t *testing.T) {
	t.Parallel()
	db, member := generated(t, seed.Sizes{Users: 40, Projects: 3, Labels: 6, Issues: 90, Comments: 300})
	ctx := context.Background()
	resolver := graph.NewResolver(db.Client, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	canceled, cancel := context.WithCancel(member)
	cancel()

	corpus := []struct {
		name, query string
		ctx         context.Context
		panics      bool
	}{
		{name: "board", query: `{ project(organization: "scale", key: "PA") { issues(first: 20) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id key title priority assignee { id name } labels { edges { node { id name color } } } comments { totalCount } } } } } }`},
		{name: "issue page", query: `{ issue(key: "PA-1", organization: "scale") { id key title body author { name } labels { edges { node { name } } } comments(first: 20) { totalCount edges { node { id body createdAt author { name } } } } } }`},
		{name: "deep", query: `{ organization(slug: "scale") { projects(first: 10) { edges { node { key issues(first: 20) { edges { node { key title assignee { name } comments(first: 5) { edges { node { body author { name } } } } } } } } } } } }`},
		{name: "backward page, fragments, aliases", query: `query { a: project(organization: "scale", key: "PB") { ...P } b: project(organization: "scale", key: "PB") { ...P } } fragment P on Project { key issues(last: 7) { pageInfo { hasPreviousPage startCursor } edges { node { __typename ... on Issue { number status } } } } }`},
		{name: "nodes, some missing or malformed", query: `{ nodes(ids: ["SXNzdWU6MQ", "SXNzdWU6OTk5OTk5", "UHJvamVjdDox", "bm9wZQ"]) { id __typename ... on Issue { key } ... on Project { key } } }`},
		{name: "bad arguments", query: `{ project(organization: "scale", key: "PA") { issues(first: 0) { totalCount } comments: issues(first: 2, after: "bogus") { totalCount } } }`},
		{name: "a missing object", query: `{ project(organization: "scale", key: "NOPE") { key } organization(slug: "nope") { name } }`},
		{name: "validation error", query: `{ project(organization: "scale", key: "PA") { nope } }`},
		{name: "plain fields, nulls, enums, many keys", query: `{ issue(key: "PA-3", organization: "scale") { id key number title body status priority createdAt updatedAt closedAt version assignee { name email } author { id name } a: number b: title c: status d: priority e: body f: key g: version ... on Node { id } ... on Issue { key title } } project(organization: "scale", key: "PA") { key name description archived ...N } } fragment N on Node { id ... on Project { key } }`},
		{name: "defer", query: `{ project(organization: "scale", key: "PA") { key ... @defer { issues(first: 2) { totalCount } } } }`},
		{name: "anonymous", query: `{ project(organization: "scale", key: "PA") { key } viewer { name } }`, ctx: ctx},
		{name: "canceled", query: `{ organization(slug: "scale") { projects(first: 3) { edges { node { key issues(first: 3) { edges { node { key assignee { name } } } } } } } } }`, ctx: canceled},
		{name: "panics, null propagation", query: `{ project(organization: "scale", key: "PA") { issues(first: 30, orderBy: {field: NUMBER, direction: ASC}) { edges { node { number assignee { name } } } } } p2: project(organization: "scale", key: "PA") { issues(first: 5, orderBy: {field: NUMBER, direction: ASC}) { edges { node { number key } } } } p3: project(organization: "scale", key: "PA") { issues(first: 5, orderBy: {field: NUMBER, direction: ASC}) { edges { node { id number } } } } }`, panics: true},
	}
	plain, plainStock := executors(db, resolver)
	broken, brokenStock := executors(db, panicky{resolver})
	for _, tc := range corpus {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.ctx
			if c == nil {
				c = member
			}
			h, stock := plain, plainStock
			if tc.panics {
				h, stock = broken, brokenStock
			}
			want := ask(t, stock, c, tc.query)
			got := ask(t, h, c, tc.query)
			assert.Equal(t, want, got)
			if tc.panics {
				assert.NotEmpty(t, got.Errors, "the panics should be reported")
				assert.Contains(t, got.Data, `"assignee":null`)
			}
			if tc.name == "board" || tc.name == "deep" {
				assert.Empty(t, got.Errors)
				assert.Greater(t, strings.Count(got.Data, `"key"`), 10)
			}
		})
	}
}
