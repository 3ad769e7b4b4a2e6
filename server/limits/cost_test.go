package limits_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/server/limits"
)

// schema is Issuegraph's own schema, so these tests price the directives
// actually declared in graph/schema.
func schema(tb testing.TB) *ast.Schema {
	tb.Helper()
	return graph.NewExecutableSchema(graph.Config{}).Schema()
}

// operation parses and validates query the way gqlgen does before the
// cost hook runs.
func operation(tb testing.TB, s *ast.Schema, query string, vars map[string]any) (*ast.OperationDefinition, map[string]any) {
	tb.Helper()
	doc, errs := gqlparser.LoadQuery(s, query)
	require.Empty(tb, errs, "query must be valid: %s", query)
	op := doc.Operations[0]
	coerced, err := validator.VariableValues(s, op, vars)
	require.NoError(tb, err)
	return op, coerced
}

// TestRequestedCost is the cost arithmetic table: object 1, scalar and enum 0,
// edges and page info 0, mutation 10, a connection multiplying its edges by
// first/last (default 20).
func TestRequestedCost(t *testing.T) {
	t.Parallel()
	s := schema(t)
	cost := limits.NewCost(s, graph.MaxPageSize)
	const project = `project(organization: "acme", key: "ENG")`
	cases := []struct {
		name  string
		query string
		vars  map[string]any
		want  int
	}{
		{"typename only", `{ __typename }`, nil, 0},
		{"one object, scalars free", `{ viewer { id name email } }`, nil, 1},
		{"connection with first", `{ ` + project + ` { issues(first: 10) { totalCount edges { node { title } } } } }`, nil, 1 + 1 + 10*1},
		{"connection with last", `{ ` + project + ` { issues(last: 3) { edges { node { id } } } } }`, nil, 1 + 1 + 3*1},
		{"connection without a bound uses the default 20", `{ ` + project + ` { issues { edges { cursor node { id } } } } }`, nil, 1 + 1 + 20*1},
		{"page info and count are not multiplied", `{ ` + project + ` { issues(first: 10) { pageInfo { hasNextPage endCursor } totalCount edges { node { id } } } } }`, nil, 1 + 1 + 10},
		{"first from a variable", `query($n: Int) { ` + project + ` { issues(first: $n) { edges { node { id } } } } }`, map[string]any{"n": 50}, 1 + 1 + 50},
		{"nested connections multiply", `{ ` + project + ` { issues(first: 10) { edges { node { labels(first: 5) { edges { node { name } } } } } } } }`, nil,
			1 + 1 + 10*(1+1+5*1)},
		{"three levels", `{ organization(slug: "acme") { projects(first: 10) { edges { node { issues(first: 10) { edges { node { comments(first: 10) { edges { node { author { name } } } } } } } } } } } }`, nil,
			1 + 1 + 10*(1+1+10*(1+1+10*(1+1)))},
		{"three levels at the page maximum", `{ organization(slug: "acme") { projects(first: 100) { edges { node { issues(first: 100) { edges { node { comments(first: 100) { edges { node { id } } } } } } } } } } }`, nil,
			1 + 1 + 100*(1+1+100*(1+1+100*1))},
		{"nodes counts its ids", `{ nodes(ids: ["a", "b", "c"]) { id } }`, nil, 3},
		{"named fragment", `{ viewer { ...U } } fragment U on User { assignedIssues(first: 4) { edges { node { id assignee { id } } } } }`, nil, 1 + 1 + 4*2},
		{"fragments on other types: the dearest counts", `{ node(id: "x") { ... on Issue { comments(first: 2) { edges { node { id } } } } ... on Project { issues(first: 50) { edges { node { id } } } } } }`, nil,
			1 + max(1+2, 1+50)},
		{"mutation base 10", `mutation { createIssue(input: {projectId: "p", title: "t"}) { issue { id author { name } } userErrors { field message } } }`, nil, 10 + 1 + 1},
		{"the worked example of docs/abuse-control.md (Board)", `query Board($after: String) { project(organization: "acme", key: "ENG") { issues(first: 20, after: $after, filter: { status: [TODO, IN_PROGRESS] }) { totalCount pageInfo { hasNextPage endCursor } edges { node { key title priority assignee { name } labels { edges { node { name color } } } comments { totalCount } } } } } }`, nil,
			482},
		{"aliases are priced each", `{ a: viewer { id } b: viewer { id } }`, nil, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op, vars := operation(t, s, tc.query, tc.vars)
			got, err := cost.Requested(op, vars)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestRequestedCostRefusesPageSizes checks first/last at and beyond 1..100.
func TestRequestedCostRefusesPageSizes(t *testing.T) {
	t.Parallel()
	s := schema(t)
	cost := limits.NewCost(s, graph.MaxPageSize)
	for _, tc := range []struct {
		arg string
		ok  bool
	}{{"first: 100", true}, {"first: 99", true}, {"first: 101", false}, {"last: 101", false}, {"first: 0", false}, {"first: 1", true}} {
		op, vars := operation(t, s, `{ viewer { memberships(`+tc.arg+`) { totalCount } } }`, nil)
		_, err := cost.Requested(op, vars)
		if tc.ok {
			assert.NoError(t, err, tc.arg)
			continue
		}
		var pe *limits.PageSizeError
		require.ErrorAs(t, err, &pe, tc.arg)
		assert.Equal(t, "User.memberships", pe.Field)
	}
}

// TestActualCost prices what came back: lists at their real length, nothing
// under a null, never more than requested.
func TestActualCost(t *testing.T) {
	t.Parallel()
	s := schema(t)
	cost := limits.NewCost(s, graph.MaxPageSize)
	query := `{ project(organization: "acme", key: "ENG") { issues(first: 10) { totalCount edges { node { title labels(first: 5) { edges { node { name } } } } } } } }`
	op, vars := operation(t, s, query, nil)
	requested, err := cost.Requested(op, vars)
	require.NoError(t, err)
	require.Equal(t, 72, requested)
	cases := []struct {
		name string
		data string
		want int
	}{
		{"project missing", `{"project": null}`, 1},
		{"no issues", `{"project": {"issues": {"totalCount": 0, "edges": []}}}`, 2},
		{"two issues, one label", `{"project": {"issues": {"totalCount": 2, "edges": [
			{"node": {"title": "a", "labels": {"edges": [{"node": {"name": "bug"}}]}}},
			{"node": {"title": "b", "labels": {"edges": []}}}]}}}`, 1 + 1 + (1 + 1 + 1) + (1 + 1)},
		{"no data", ``, 0},
		{"strings holding brackets, quotes and escapes", `{"project": {"issues": {"totalCount": 2, "edges": [
			{"node": {"title": "a\\\"}]{[\\\\", "labels": {"edges": [{"node": {"name": "]}\\u0022"}}]}}},
			{"node": {"title": "\\\\", "labels": {"edges": []}}}]}}}`, 1 + 1 + (1 + 1 + 1) + (1 + 1)},
		{"cut short", `{"project": {"issues": {"totalCount": 2, "edges": [{"node": {"title": "a"`, 0},
		{"not an object", `[1, 2]`, 0},
		{"unknown keys are skipped", `{"project": {"other": {"edges": [{"node": {}}]}, "issues": {"edges": []}}}`, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := cost.Actual(op, json.RawMessage(tc.data))
			assert.Equal(t, tc.want, got)
			assert.LessOrEqual(t, got, requested)
		})
	}

	// Through an alias, a named fragment and an inline fragment.
	fragments := `{ p: project(organization: "acme", key: "ENG") { ...Board } }
		fragment Board on Project { issues(first: 10) { edges { node { ... on Issue { title assignee { name } } } } } }`
	op, vars = operation(t, s, fragments, nil)
	requested, err = cost.Requested(op, vars)
	require.NoError(t, err)
	got := cost.Actual(op, json.RawMessage(`{"p": {"issues": {"edges": [
		{"node": {"title": "a", "assignee": {"name": "Ada"}}},
		{"node": {"title": "b", "assignee": null}}]}}}`))
	// project, issues, then each node and its assignee (null costs its weight)
	assert.Equal(t, 1+1+(1+1)+(1+1), got)
	assert.LessOrEqual(t, got, requested)
}

// TestEveryConnectionDeclaresItsSize keeps new connections and lists priced
// per item: without @listSize a list counts as one item.
func TestEveryConnectionDeclaresItsSize(t *testing.T) {
	t.Parallel()
	s := schema(t)
	for _, typ := range s.Types {
		if strings.HasPrefix(typ.Name, "__") {
			continue
		}
		for _, f := range typ.Fields {
			if strings.HasSuffix(f.Type.Name(), "Connection") {
				assert.NotNil(t, f.Directives.ForName("listSize"), "%s.%s returns a connection but has no @listSize", typ.Name, f.Name)
			}
			// A list of objects needs @listSize too, unless its parent sizes
			// it (a connection's edges) or its items are free (user errors).
			elem := s.Types[f.Type.Name()]
			if f.Type.Elem != nil && elem != nil && elem.Kind != ast.Scalar && elem.Kind != ast.Enum &&
				f.Name != "edges" && f.Type.Name() != "UserError" {
				assert.NotNil(t, f.Directives.ForName("listSize"), "%s.%s returns a list of objects but has no @listSize", typ.Name, f.Name)
			}
		}
	}
}
