package server_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/seed"
	"github.com/issuegraph/issuegraph/loaders"
	"github.com/issuegraph/issuegraph/server/auth"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// The shapes clients send for a board, an issue page and a deep overview.
// Each takes the page size $n everywhere it pages.
const (
	boardQuery = `query($n: Int) { project(organization: "scale", key: "PA") {
		issues(first: $n) { totalCount edges { node { key title assignee { name } labels { edges { node { name color } } } comments { totalCount } } } } } }`
	issuePageQuery = `query($n: Int, $key: String!) { issue(key: $key, organization: "scale") {
		key title author { name } labels(first: $n) { edges { node { name } } }
		comments(first: $n) { totalCount edges { node { body author { name } } } } } }`
	deepQuery = `query($n: Int) { organization(slug: "scale") {
		projects(first: $n) { edges { node { key issues(first: $n) { edges { node { key assignee { name }
		comments(first: $n) { edges { node { author { name } } } } } } } } } } } }`
)

// patientLoaders lets each loader wait long enough for all of a level's
// keys even on a busy test machine, so counts are exact: in production a
// late key costs one more statement, never a wrong answer.
func patientLoaders(c *config.Config) { c.LoaderWait = 500 * time.Millisecond }

// seeded starts an instance on a generated organization big enough that a
// page of 50 holds more than a page of 5 at every level, signed in as its
// owner. It also returns the key of the issue with the most comments.
func seeded(t testing.TB, opts ...servertest.Option) (*servertest.Client, string) {
	// These tests count statements at large page sizes; the cost limit and
	// the rate limit, tested on their own, would refuse the largest shapes.
	opts = append(opts, func(c *config.Config) {
		c.Limits.MaxCost = 1_000_000
		c.RateLimit.UserCapacity = 10_000_000
	})
	t.Helper()
	env := servertest.Start(t, opts...)
	hash, err := auth.HashPassword(seed.ScalePassword)
	require.NoError(t, err)
	// Many users, so the users one level loads never cover those the next
	// level asks for (the cache would save that statement).
	sizes := seed.Sizes{Users: 2000, Projects: 12, Labels: 8, Issues: 1200, Comments: 3600}
	require.NoError(t, seed.Generate(context.Background(), env.DB.SQL, sizes, hash))
	var out struct {
		LogIn struct{ Tokens struct{ AccessToken string } }
	}
	env.Client().Do(t, `mutation($e: String!, $p: String!) { logIn(input: {email: $e, password: $p}) { tokens { accessToken } } }`,
		map[string]any{"e": seed.ScaleUserEmail(1), "p": seed.ScalePassword}).MustOK(t).Decode(t, &out)
	require.NotEmpty(t, out.LogIn.Tokens.AccessToken)
	var busiest string
	require.NoError(t, env.DB.SQL.QueryRow(`SELECT p.key || '-' || i.number FROM issues i JOIN projects p ON p.id = i.project_id
		JOIN comments c ON c.issue_id = i.id GROUP BY p.key, i.number, i.id ORDER BY count(*) DESC, i.id LIMIT 1`).Scan(&busiest))
	return env.As(out.LogIn.Tokens.AccessToken), busiest
}

// TestNestedQueriesCostStatementsByDepth asserts the exact number of SQL
// statements of each shape, the same at page sizes 5 and 50: one
// statement per level and per kind of edge, however many rows.
func TestNestedQueriesCostStatementsByDepth(t *testing.T) {
	t.Parallel()
	t.Run("loader wait 500ms", func(t *testing.T) {
		t.Parallel()
		c, busiest := seeded(t, patientLoaders)
		assertStatementsByDepth(t, c, busiest)
	})
	// At the default wait too: peers and lists marshaled in order make the
	// count a property of the shape, not of how fast the resolvers of one
	// level reach the loaders.
	t.Run("default loader wait", func(t *testing.T) {
		t.Parallel()
		c, busiest := seeded(t)
		assertStatementsByDepth(t, c, busiest)
	})
}

func assertStatementsByDepth(t *testing.T, c *servertest.Client, busiest string) {
	for _, tc := range []struct {
		name, query string
		// statements at first: 5 and at first: 50
		small, large int
	}{
		// project looked up with its issues page, their assignees, their
		// comment counts, the project's issue count and each issue's
		// labels. The issues' project (for their keys) is the one looked up.
		{"board", boardQuery, 1, 1},
		// issue with its author, its labels, and its comments page with
		// their authors and their count. The issue's key is the one asked
		// for, so its project is not read.
		{"issue page", issuePageQuery, 1, 1},
		// organization looked up with its projects page; issues page with
		// their assignees; comments page with their authors. The issues'
		// projects are the page's.
		{"deep", deepQuery, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			small := c.Do(t, tc.query, map[string]any{"n": 5, "key": busiest}).MustOK(t)
			large := c.Do(t, tc.query, map[string]any{"n": 50, "key": busiest}).MustOK(t)
			assert.Greater(t, len(large.Data), len(small.Data), "a page of 50 should hold more than a page of 5")
			assert.Equal(t, tc.small, small.Statements(t), "statements at first: 5")
			assert.Equal(t, tc.large, large.Statements(t), "statements at first: 50")
		})
	}
}

// TestLoadersAnswerLikeNaiveResolvers compares every shape, paged forward
// and backward, with loaders on and off: batching many parents into one
// statement must not move a row to another parent or page.
func TestLoadersAnswerLikeNaiveResolvers(t *testing.T) {
	t.Parallel()
	batched, busiest := seeded(t)
	naive, _ := seeded(t, servertest.WithoutLoaders())
	backward := `query { organization(slug: "scale") { projects(last: 3) { edges { cursor node { key
		issues(last: 4, filter: {status: [TODO, IN_PROGRESS]}, orderBy: {field: NUMBER, direction: DESC}) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor }
		edges { node { key labels(last: 2) { totalCount edges { node { name } } } comments(last: 2) { totalCount edges { cursor node { body } } } } } } } } } } }`
	for _, q := range []struct {
		query string
		vars  map[string]any
	}{
		{boardQuery, map[string]any{"n": 7}},
		{issuePageQuery, map[string]any{"n": 3, "key": busiest}},
		{deepQuery, map[string]any{"n": 6}},
		{backward, nil},
	} {
		want := naive.Do(t, q.query, q.vars).MustOK(t)
		got := batched.Do(t, q.query, q.vars).MustOK(t)
		assert.JSONEq(t, string(want.Data), string(got.Data))
		assert.Less(t, got.Statements(t), want.Statements(t), "loaders should save statements")
	}
}

// TestPagesOfManyParentsFollowTheirCursors loads the first page of every
// project's issues in one statement, then follows each project's own
// cursor: every page holds only its project's issues, in order.
func TestPagesOfManyParentsFollowTheirCursors(t *testing.T) {
	t.Parallel()
	c, _ := seeded(t)
	type page struct {
		TotalCount int
		PageInfo   struct {
			HasNextPage bool
			EndCursor   string
		}
		Edges []struct{ Node struct{ Number int } }
	}
	numbers := func(p page) []int {
		out := make([]int, len(p.Edges))
		for i, e := range p.Edges {
			out[i] = e.Node.Number
		}
		return out
	}
	span := func(from, to int) []int {
		var out []int
		for n := from; n <= to; n++ {
			out = append(out, n)
		}
		return out
	}
	var first struct {
		Organization struct {
			Projects struct {
				Edges []struct {
					Node struct {
						Key    string
						Issues page
					}
				}
			}
		}
	}
	c.Do(t, `{ organization(slug: "scale") { projects(first: 12) { edges { node { key
		issues(first: 30, orderBy: {field: NUMBER, direction: ASC}) { totalCount pageInfo { hasNextPage endCursor } edges { node { number } } } } } } } }`, nil).
		MustOK(t).Decode(t, &first)
	require.Len(t, first.Organization.Projects.Edges, 12)
	for _, p := range first.Organization.Projects.Edges {
		assert.Equal(t, span(1, 30), numbers(p.Node.Issues), p.Node.Key)
		assert.Equal(t, 100, p.Node.Issues.TotalCount)
		assert.True(t, p.Node.Issues.PageInfo.HasNextPage)
		var next struct{ Project struct{ Issues page } }
		c.Do(t, `query($key: String!, $after: String) { project(organization: "scale", key: $key) {
			issues(first: 100, after: $after, orderBy: {field: NUMBER, direction: ASC}) { totalCount pageInfo { hasNextPage endCursor } edges { node { number } } } } }`,
			map[string]any{"key": p.Node.Key, "after": p.Node.Issues.PageInfo.EndCursor}).MustOK(t).Decode(t, &next)
		assert.Equal(t, span(31, 100), numbers(next.Project.Issues), p.Node.Key)
		assert.False(t, next.Project.Issues.PageInfo.HasNextPage)
	}
}

// TestNodesCostOneStatementPerType looks up issues, labels and users mixed,
// repeated and missing: one statement per type, answers in the order
// asked, null for an object that does not exist.
func TestNodesCostOneStatementPerType(t *testing.T) {
	t.Parallel()
	c, _ := seeded(t)
	var page struct {
		Organization struct {
			ID     string
			Labels struct {
				Edges []struct{ Node struct{ ID string } }
			}
			Projects struct {
				Edges []struct {
					Node struct {
						Issues struct {
							Edges []struct{ Node struct{ ID string } }
						}
					}
				}
			}
		}
		Viewer struct{ ID string }
	}
	c.Do(t, `{ viewer { id } organization(slug: "scale") { id labels(first: 3) { edges { node { id } } }
		projects(first: 2) { edges { node { issues(first: 5) { edges { node { id } } } } } } } }`, nil).MustOK(t).Decode(t, &page)
	var ids, types []string
	for _, p := range page.Organization.Projects.Edges {
		for _, i := range p.Node.Issues.Edges {
			ids, types = append(ids, i.Node.ID), append(types, "Issue")
		}
	}
	for _, l := range page.Organization.Labels.Edges {
		ids, types = append(ids, l.Node.ID, page.Viewer.ID), append(types, "Label", "User")
	}
	ids, types = append(ids, gid("Issue", 987654321), ids[0]), append(types, "", "Issue")
	require.Len(t, ids, 18)

	res := c.Do(t, `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`, map[string]any{"ids": ids}).MustOK(t)
	var out struct {
		Nodes []*struct {
			Typename string `json:"__typename"`
			ID       string
		}
	}
	res.Decode(t, &out)
	require.Len(t, out.Nodes, len(ids))
	for i, n := range out.Nodes {
		if types[i] == "" {
			assert.Nil(t, n, "a missing object is null")
			continue
		}
		require.NotNil(t, n, i)
		assert.Equal(t, types[i], n.Typename, i)
		assert.Equal(t, ids[i], n.ID, i)
	}
	assert.Equal(t, 3, res.Statements(t), "issues, labels, users: one statement each")
}

// TestTotalCountFromAWholePage: a first page counts its list in its own
// statement (or, holding the whole list, is its count); a page after a
// cursor cannot, and a count statement still counts every row. The issue
// is read by id (node), which reads its comments with their own
// statements; looked up by key, it reads them and their count with it,
// whatever the page.
func TestTotalCountFromAWholePage(t *testing.T) {
	t.Parallel()
	c, busiest := seeded(t, patientLoaders)
	const comments = `comments(first: $n, after: $after) { totalCount pageInfo { endCursor } edges { node { body } } }`
	const byID = `query($id: ID!, $n: Int, $after: String) { node(id: $id) { ... on Issue { ` + comments + ` } } }`
	const byKey = `query($key: String!, $n: Int, $after: String) { issue(key: $key, organization: "scale") { ` + comments + ` } }`
	type page struct {
		Comments struct {
			TotalCount int
			PageInfo   struct{ EndCursor string }
			Edges      []struct{ Node struct{ Body string } }
		}
	}
	var issue struct{ Issue struct{ ID string } }
	c.Do(t, `query($key: String!) { issue(key: $key, organization: "scale") { id } }`, map[string]any{"key": busiest}).MustOK(t).Decode(t, &issue)
	ask := func(vars map[string]any) (page, page, int, int) {
		var a struct{ Node page }
		var b struct{ Issue page }
		resA := c.Do(t, byID, vars).MustOK(t)
		resA.Decode(t, &a)
		resB := c.Do(t, byKey, vars).MustOK(t)
		resB.Decode(t, &b)
		assert.Equal(t, a.Node, b.Issue, "by id and by key")
		return a.Node, b.Issue, resA.Statements(t), resB.Statements(t)
	}
	vars := func(n int, after string) map[string]any {
		v := map[string]any{"id": issue.Issue.ID, "key": busiest, "n": n}
		if after != "" {
			v["after"] = after
		}
		return v
	}
	whole, _, statements, lookup := ask(vars(100, ""))
	n := len(whole.Comments.Edges)
	require.Greater(t, n, 2)
	assert.Equal(t, n, whole.Comments.TotalCount)
	// issue; comments page: the count is the page's.
	assert.Equal(t, 2, statements)
	assert.Equal(t, 1, lookup, "looked up: issue with its comments and their count")

	first, _, statements, lookup := ask(vars(1, ""))
	assert.Equal(t, n, first.Comments.TotalCount)
	assert.Equal(t, 2, statements, "a first page that is not the whole list reads its count with it")
	assert.Equal(t, 1, lookup)

	rest, _, statements, lookup := ask(vars(100, first.Comments.PageInfo.EndCursor))
	assert.Len(t, rest.Comments.Edges, n-1)
	assert.Equal(t, n, rest.Comments.TotalCount, "totalCount counts the rows before the cursor too")
	assert.Equal(t, 3, statements, "a page after a cursor needs a count of its own")
	assert.Equal(t, 1, lookup, "a nested page after a cursor counts every row with it")
}

// TestIssueByKeyReadsItsPeopleWithIt: an issue looked up by its key comes
// with the author and assignee its query selects, in the same statement,
// each with every field the user's own lookup gives.
func TestIssueByKeyReadsItsPeopleWithIt(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "joins", "JOI")
	f.createIssue(t, map[string]any{"title": "Assigned", "assigneeId": f.ownerID})
	f.createIssue(t, map[string]any{"title": "Unassigned"})
	const person = `id name email createdAt`

	var self struct{ Node map[string]any }
	f.owner.Do(t, `query($id: ID!) { node(id: $id) { ... on User { `+person+` } } }`, map[string]any{"id": f.ownerID}).MustOK(t).Decode(t, &self)
	require.Equal(t, f.ownerID, self.Node["id"])

	res := f.owner.Do(t, `{ issue(key: "JOI-1") { title author { `+person+` } ... on Issue { assignee { `+person+` } } } }`, nil).MustOK(t)
	var got struct {
		Issue struct{ Author, Assignee map[string]any }
	}
	res.Decode(t, &got)
	assert.Equal(t, self.Node, got.Issue.Author)
	assert.Equal(t, self.Node, got.Issue.Assignee, "a field in a fragment is joined too")
	assert.Equal(t, 1, res.Statements(t), "the issue and both people in one statement")

	res = f.owner.Do(t, `{ issue(key: "JOI-2") { title author { name } assignee { name } } }`, nil).MustOK(t)
	var unassigned struct {
		Issue struct{ Assignee map[string]any }
	}
	res.Decode(t, &unassigned)
	assert.Nil(t, unassigned.Issue.Assignee)
	assert.Equal(t, 1, res.Statements(t))

	res = f.owner.Do(t, `{ issue(key: "JOI-1") { title } }`, nil).MustOK(t)
	assert.Equal(t, 1, res.Statements(t), "no people selected, none read")
}

// TestUsersReadForTheirSelectionOnly: a page or lookup reads its rows'
// people with only the columns their selections need (a board's assignee
// name: id and name), and those slim users are only handed to the
// resolvers of those selections. The same issues reached in the same
// request through a selection that needs more (a comment's issue, read by
// id, whose assignee asks for email and creation time) get the whole
// user, as do aliases of one edge that need different columns.
func TestUsersReadForTheirSelectionOnly(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "slim", "SLM")
	for _, title := range []string{"One", "Two"} {
		is := f.createIssue(t, map[string]any{"title": title, "assigneeId": f.ownerID})
		f.owner.Do(t, `mutation($id: ID!) { addComment(input: {issueId: $id, body: "hi"}) { comment { id } } }`,
			map[string]any{"id": is["id"]}).MustOK(t)
	}
	const person = `id name email createdAt`
	var self struct{ Node map[string]any }
	f.owner.Do(t, `query($id: ID!) { node(id: $id) { ... on User { `+person+` } } }`, map[string]any{"id": f.ownerID}).MustOK(t).Decode(t, &self)
	require.NotEmpty(t, self.Node["email"])
	name := map[string]any{"name": self.Node["name"]}

	type whole struct {
		Assignee, Author map[string]any
	}
	var got struct {
		Project struct {
			Issues struct {
				Edges []struct {
					Node struct {
						Assignee, Author map[string]any
						Full, Named      map[string]any
						Comments         struct {
							Edges []struct {
								Node struct {
									Author map[string]any
									Issue  whole
								}
							}
						}
					}
				}
			}
		}
		Issue struct {
			Author   map[string]any
			Comments struct {
				Edges []struct {
					Node struct{ Author map[string]any }
				}
			}
		}
	}
	f.owner.Do(t, `{
		project(organization: "slim", key: "SLM") { issues(first: 5) { edges { node {
			assignee { name } author { name }
			full: assignee { `+person+` } named: assignee { name }
			comments(first: 5) { edges { node { author { name } issue { assignee { `+person+` } author { `+person+` } } } } }
		} } } }
		issue(key: "SLM-1") { author { name } comments(first: 5) { edges { node { author { `+person+` } } } } }
	}`, nil).MustOK(t).Decode(t, &got)

	require.Len(t, got.Project.Issues.Edges, 2)
	for _, e := range got.Project.Issues.Edges {
		n := e.Node
		assert.Equal(t, name, n.Assignee, "a name is all the page's assignee asks for")
		assert.Equal(t, name, n.Author)
		assert.Equal(t, self.Node, n.Full, "an alias that needs more gets it all")
		assert.Equal(t, name, n.Named)
		require.Len(t, n.Comments.Edges, 1)
		c := n.Comments.Edges[0].Node
		assert.Equal(t, name, c.Author)
		assert.Equal(t, whole{Assignee: self.Node, Author: self.Node}, c.Issue,
			"the same issues by id, after their page read slim users, get whole ones")
	}
	assert.Equal(t, name, got.Issue.Author)
	require.Len(t, got.Issue.Comments.Edges, 1)
	assert.Equal(t, self.Node, got.Issue.Comments.Edges[0].Node.Author)
}

// TestNestedRowsReadForTheirSelectionOnly: an issue's labels and comments
// read with it carry only the columns their selections need; the nested
// fields answer what the same lists read whole answer, and a label looked
// up by id in the same request is whole.
func TestNestedRowsReadForTheirSelectionOnly(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "slimnest", "SNS")
	var lbl struct {
		CreateLabel struct{ Label struct{ ID string } }
	}
	f.owner.Do(t, `mutation($o: ID!) { createLabel(input: {organizationId: $o, name: "bug", color: "#ff0000", description: "Something broke"}) { label { id } } }`,
		map[string]any{"o": f.orgID}).MustOK(t).Decode(t, &lbl)
	labelID := lbl.CreateLabel.Label.ID
	is := f.createIssue(t, map[string]any{"title": "Labelled", "labelIds": []string{labelID}})
	f.owner.Do(t, `mutation($id: ID!) { addComment(input: {issueId: $id, body: "first"}) { comment { id } } }`,
		map[string]any{"id": is["id"]}).MustOK(t)

	type lists struct {
		Labels, Comments struct {
			Edges []struct{ Node map[string]any }
		}
	}
	var whole struct{ Node lists }
	f.owner.Do(t, `query($id: ID!) { node(id: $id) { ... on Issue {
		labels { edges { node { id name color description version } } }
		comments { edges { node { id body createdAt updatedAt version } } } } } }`,
		map[string]any{"id": is["id"]}).MustOK(t).Decode(t, &whole)
	require.Len(t, whole.Node.Labels.Edges, 1)
	require.Len(t, whole.Node.Comments.Edges, 1)
	fullLabel, fullComment := whole.Node.Labels.Edges[0].Node, whole.Node.Comments.Edges[0].Node
	require.Equal(t, "Something broke", fullLabel["description"])

	for range 5 {
		var got struct {
			Issue lists
			Node  map[string]any
		}
		f.owner.Do(t, `query($l: ID!) {
			issue(key: "SNS-1") { labels { edges { node { name } } } comments { edges { node { id body } } } }
			node(id: $l) { ... on Label { id name color description version } }
		}`, map[string]any{"l": labelID}).MustOK(t).Decode(t, &got)
		assert.Equal(t, fullLabel, got.Node, "a label by id is whole")
		require.Len(t, got.Issue.Labels.Edges, 1)
		assert.Equal(t, map[string]any{"name": "bug"}, got.Issue.Labels.Edges[0].Node)
		require.Len(t, got.Issue.Comments.Edges, 1)
		assert.Equal(t, map[string]any{"id": fullComment["id"], "body": "first"}, got.Issue.Comments.Edges[0].Node)
	}
}

// TestPagesReadForTheirSelectionOnly: a page of issues or comments reads
// only the columns its selection needs, and answers as the same page read
// whole, cursors included, in every order; such partial rows never reach
// a resolver that reads the same object by id (a comment's issue, whose
// every field is asked for).
func TestPagesReadForTheirSelectionOnly(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "slimpage", "SPG")
	var ids []any
	for i, title := range []string{"First", "Second", "Third"} {
		is := f.createIssue(t, map[string]any{"title": title, "body": "Body of " + title, "priority": []string{"LOW", "HIGH", "URGENT"}[i],
			"assigneeId": f.ownerID})
		for _, body := range []string{"one", "two"} {
			f.owner.Do(t, `mutation($id: ID!, $b: String!) { addComment(input: {issueId: $id, body: $b}) { comment { id } } }`,
				map[string]any{"id": is["id"], "b": title + " " + body}).MustOK(t)
		}
		ids = append(ids, is["id"])
	}
	f.owner.Do(t, `mutation($id: ID!) { closeIssue(input: {issueId: $id}) { issue { id } } }`, map[string]any{"id": ids[1]}).MustOK(t)

	const everyField = `id key number title body status priority createdAt updatedAt closedAt version
		project { id } author { id name } assignee { id name }`
	type page struct {
		Project struct {
			Issues struct {
				Edges []struct {
					Cursor string
					Node   map[string]any
				}
			}
		}
	}
	for _, order := range []string{"", `orderBy: {field: NUMBER, direction: ASC}`, `orderBy: {field: CREATED_AT, direction: DESC}`, `orderBy: {field: UPDATED_AT, direction: ASC}`} {
		args := "first: 2"
		if order != "" {
			args += ", " + order
		}
		var whole page
		f.owner.Do(t, `{ project(organization: "slimpage", key: "SPG") { issues(`+args+`) { edges { cursor node { `+everyField+`
			comments(first: 5) { edges { node { id body createdAt updatedAt version author { id name } } } } } } } } }`, nil).MustOK(t).Decode(t, &whole)
		require.Len(t, whole.Project.Issues.Edges, 2, order)
		for _, fields := range [][]string{{"id"}, {"key", "title"}, {"number", "priority"}, {"body", "status", "closedAt"}, {"createdAt", "version"}, {"title", "assignee { id name }"}} {
			var slim page
			f.owner.Do(t, `{ project(organization: "slimpage", key: "SPG") { issues(`+args+`) { edges { cursor node { `+strings.Join(fields, " ")+` } } } } }`, nil).
				MustOK(t).Decode(t, &slim)
			require.Len(t, slim.Project.Issues.Edges, 2, "%s %v", order, fields)
			for i, e := range slim.Project.Issues.Edges {
				w := whole.Project.Issues.Edges[i]
				assert.Equal(t, w.Cursor, e.Cursor, "%s %v", order, fields)
				for name, v := range e.Node {
					assert.Equal(t, w.Node[name], v, "%s %v: %s", order, fields, name)
				}
			}
		}

		// Comments read in a statement of their own (they join their
		// authors) with only their bodies, and each one's issue by id,
		// whole, after the issues page read them with two fields.
		var reached struct {
			Project struct {
				Issues struct {
					Edges []struct {
						Node struct {
							Title    string
							Comments struct {
								Edges []struct {
									Node struct {
										Body   string
										Author struct{ Name string }
										Issue  map[string]any
									}
								}
							}
						}
					}
				}
			}
		}
		f.owner.Do(t, `{ project(organization: "slimpage", key: "SPG") { issues(`+args+`) { edges { node { title
			comments(first: 5) { edges { node { body author { name } issue { `+everyField+` } } } } } } } } }`, nil).MustOK(t).Decode(t, &reached)
		require.Len(t, reached.Project.Issues.Edges, 2, order)
		for i, e := range reached.Project.Issues.Edges {
			w := whole.Project.Issues.Edges[i].Node
			assert.Equal(t, w["title"], e.Node.Title)
			wc := w["comments"].(map[string]any)["edges"].([]any)
			require.Len(t, e.Node.Comments.Edges, len(wc), order)
			for j, c := range e.Node.Comments.Edges {
				want := wc[j].(map[string]any)["node"].(map[string]any)
				assert.Equal(t, want["body"], c.Node.Body)
				assert.Equal(t, want["author"].(map[string]any)["name"], c.Node.Author.Name)
				issue := maps.Clone(w)
				delete(issue, "comments")
				assert.Equal(t, issue, c.Node.Issue, "%s: the issue of %s, read by id, is whole", order, c.Node.Body)
			}
		}
	}
}

// TestPagesReadTheExtraRowWhenAsked: a page reads one row more than it
// shows only when the query asks whether more follow (pageInfo; a
// totalCount is read with the page); the same page asked both ways in one
// request (aliases, in either order, lists of their own and nested ones,
// with and without totalCount) answers both right.
func TestPagesReadTheExtraRowWhenAsked(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "extrarow", "XRW")
	var labels []string
	for _, name := range []string{"bug", "ui"} {
		var lbl struct {
			CreateLabel struct{ Label struct{ ID string } }
		}
		f.owner.Do(t, `mutation($o: ID!, $n: String!) { createLabel(input: {organizationId: $o, name: $n, color: "#ff0000"}) { label { id } } }`,
			map[string]any{"o": f.orgID, "n": name}).MustOK(t).Decode(t, &lbl)
		labels = append(labels, lbl.CreateLabel.Label.ID)
	}
	for _, title := range []string{"One", "Two", "Three"} {
		is := f.createIssue(t, map[string]any{"title": title, "labelIds": labels})
		for _, body := range []string{"a", "b"} {
			f.owner.Do(t, `mutation($id: ID!, $b: String!) { addComment(input: {issueId: $id, body: $b}) { comment { id } } }`,
				map[string]any{"id": is["id"], "b": body}).MustOK(t)
		}
	}

	type conn struct {
		TotalCount int
		PageInfo   struct{ HasNextPage, HasPreviousPage bool }
		Edges      []struct {
			Node struct {
				ID       string
				Labels   conn
				Comments conn
			}
		}
	}
	ids := func(c conn) []string {
		var out []string
		for _, e := range c.Edges {
			out = append(out, e.Node.ID)
		}
		return out
	}
	const nested = `labels(first: 1) { edges { node { id } } } comments(first: 1) { edges { node { id author { name } } } }`
	const nestedAsked = `labels(first: 1) { pageInfo { hasNextPage } edges { node { id } } }
		comments(first: 1) { pageInfo { hasNextPage } edges { node { id author { name } } } }`
	plain := `plain: issues(first: 2) { edges { node { id ` + nested + ` } } }`
	asked := `asked: issues(first: 2) { pageInfo { hasNextPage } edges { node { id ` + nestedAsked + ` } } }`
	for _, fields := range [][]string{{plain, asked}, {asked, plain}} {
		var got struct {
			Project struct {
				Plain, Asked, Whole, Last conn
			}
		}
		f.owner.Do(t, `{ project(organization: "extrarow", key: "XRW") { `+strings.Join(fields, " ")+`
			whole: issues(first: 3) { pageInfo { hasNextPage } edges { node { id } } }
			last: issues(last: 2) { pageInfo { hasPreviousPage } edges { node { id } } } } }`, nil).MustOK(t).Decode(t, &got)
		p := got.Project
		require.Len(t, p.Plain.Edges, 2)
		assert.Equal(t, ids(p.Asked), ids(p.Plain))
		assert.True(t, p.Asked.PageInfo.HasNextPage, "two of three")
		assert.False(t, p.Whole.PageInfo.HasNextPage, "three of three")
		assert.Len(t, p.Whole.Edges, 3)
		assert.True(t, p.Last.PageInfo.HasPreviousPage, "the last two of three")
		for i, e := range p.Asked.Edges {
			plain := p.Plain.Edges[i].Node
			assert.Len(t, plain.Labels.Edges, 1)
			assert.Len(t, plain.Comments.Edges, 1)
			assert.Equal(t, ids(e.Node.Labels), ids(plain.Labels))
			assert.Equal(t, ids(e.Node.Comments), ids(plain.Comments))
			assert.True(t, e.Node.Labels.PageInfo.HasNextPage, "one of two labels")
			assert.True(t, e.Node.Comments.PageInfo.HasNextPage, "one of two comments")
		}
	}

	// totalCount without pageInfo: read with the page, not learned from
	// an extra row, beside the same page without it.
	withCount := `withCount: issues(first: 2) { totalCount edges { node { id labels(first: 1) { totalCount edges { node { id } } }
		comments(first: 1) { totalCount edges { node { id } } } } } }`
	without := `without: issues(first: 2) { edges { node { id labels(first: 1) { edges { node { id } } } comments(first: 1) { edges { node { id } } } } } }`
	for _, fields := range [][]string{{withCount, without}, {without, withCount}} {
		var got struct {
			Project struct{ WithCount, Without, Whole, Last conn }
		}
		f.owner.Do(t, `{ project(organization: "extrarow", key: "XRW") { `+strings.Join(fields, " ")+`
			whole: issues(first: 3) { totalCount edges { node { id } } }
			last: issues(last: 2) { totalCount edges { node { id } } } } }`, nil).MustOK(t).Decode(t, &got)
		p := got.Project
		assert.Equal(t, 3, p.WithCount.TotalCount)
		assert.Equal(t, ids(p.Without), ids(p.WithCount))
		require.Len(t, p.WithCount.Edges, 2)
		for _, e := range p.WithCount.Edges {
			assert.Equal(t, 2, e.Node.Labels.TotalCount, "labels of %s", e.Node.ID)
			assert.Len(t, e.Node.Labels.Edges, 1)
			assert.Equal(t, 2, e.Node.Comments.TotalCount, "comments of %s", e.Node.ID)
			assert.Len(t, e.Node.Comments.Edges, 1)
		}
		assert.Equal(t, 3, p.Whole.TotalCount)
		assert.Len(t, p.Whole.Edges, 3)
		assert.Equal(t, 3, p.Last.TotalCount)
		assert.Len(t, p.Last.Edges, 2)
	}
}

// TestProjectsCountTheirIssues: a project's issues, unfiltered, take their
// totalCount from the count the project keeps (projects.issue_total),
// which PostgreSQL keeps equal to the rows: every way of asking gives the
// count a filtered list (which counts rows) gives, after creates, deletes,
// a delete the viewer may not make, and rows written straight to the
// table (as an older build during a rolling deploy writes them).
func TestProjectsCountTheirIssues(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "totals", "TOT")
	member := env.As(env.SignUp(t, "totals-member@example.com", "Member"))
	inv := invite(t, f.owner, f.orgID, "totals-member@example.com", "MEMBER")
	require.Equal(t, "OK", answer(t, member, "acceptInvitation", str(inv, "invitation", "id")))

	const everyStatus = `filter: {status: [BACKLOG, TODO, IN_PROGRESS, DONE, CANCELED]}`
	totals := func(t *testing.T) []int {
		t.Helper()
		var got struct {
			Project struct {
				CountOnly, WithPage, Later, Counted struct{ TotalCount int }
			}
			Organization struct {
				Projects struct {
					Edges []struct {
						Node struct{ Issues struct{ TotalCount int } }
					}
				}
			}
		}
		f.owner.Do(t, `{
			project(organization: "totals", key: "TOT") {
				countOnly: issues { totalCount }
				withPage: issues(first: 1) { totalCount edges { node { id } } }
				later: issues(last: 1) { totalCount edges { node { id } } }
				counted: issues(first: 1, `+everyStatus+`) { totalCount edges { node { id } } }
			}
			organization(slug: "totals") { projects(first: 5) { edges { node { issues(first: 2) { totalCount edges { node { id } } } } } } }
		}`, nil).MustOK(t).Decode(t, &got)
		require.Len(t, got.Organization.Projects.Edges, 1)
		p := got.Project
		return []int{p.CountOnly.TotalCount, p.WithPage.TotalCount, p.Later.TotalCount, p.Counted.TotalCount,
			got.Organization.Projects.Edges[0].Node.Issues.TotalCount}
	}
	assert.Equal(t, []int{0, 0, 0, 0, 0}, totals(t), "a new project")

	var ids []string
	for i := range 4 {
		ids = append(ids, f.createIssue(t, map[string]any{"title": fmt.Sprintf("Issue %d", i)})["id"].(string))
	}
	assert.Equal(t, []int{4, 4, 4, 4, 4}, totals(t), "after four creates")

	const deleteIssue = `mutation($id: ID!) { deleteIssue(input: {issueId: $id}) { deletedIssueId userErrors { code } } }`
	res := member.Do(t, deleteIssue, map[string]any{"id": ids[0]})
	assert.NotEmpty(t, res.Codes(), "a member may not delete issues")
	assert.Equal(t, []int{4, 4, 4, 4, 4}, totals(t), "a refused delete counts nothing")

	for _, id := range ids[:3] {
		f.owner.Do(t, deleteIssue, map[string]any{"id": id}).MustOK(t)
	}
	var again struct {
		DeleteIssue struct {
			DeletedIssueID *string
			UserErrors     []struct{ Code string }
		}
	}
	f.owner.Do(t, deleteIssue, map[string]any{"id": ids[0]}).MustNoErrors(t).Decode(t, &again)
	assert.Nil(t, again.DeleteIssue.DeletedIssueID, "deleting a deleted issue fails")
	assert.NotEmpty(t, again.DeleteIssue.UserErrors)
	assert.Equal(t, []int{1, 1, 1, 1, 1}, totals(t), "after three deletes and a repeated one")

	member.Do(t, `mutation($p: ID!) { createIssue(input: {projectId: $p, title: "By a member"}) { userErrors { message } } }`,
		map[string]any{"p": f.projectID}).MustOK(t)
	assert.Equal(t, []int{2, 2, 2, 2, 2}, totals(t), "a member's create counts")

	_, err := env.DB.SQL.Exec(`INSERT INTO issues (created_at, updated_at, project_id, organization_id, number, title, author_id)
		SELECT now(), now(), project_id, organization_id, number + g, title, author_id
		FROM issues, generate_series(100, 102) AS g WHERE number = 4`)
	require.NoError(t, err)
	assert.Equal(t, []int{5, 5, 5, 5, 5}, totals(t), "three rows copied in by one statement count")
	_, err = env.DB.SQL.Exec(`DELETE FROM issues WHERE number >= 100`)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 2, 2, 2, 2}, totals(t), "rows deleted by one statement count")
}

// TestCommentCountsReadWithTheirIssues: a page of issues that selects
// each issue's comment count reads the counts with the page, and they are
// the counts the issue's own lookup gives, whatever page of comments the
// field also asks for.
func TestCommentCountsReadWithTheirIssues(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "counts", "CNT")
	want := map[string]int{}
	for i, n := range []int{0, 1, 3} {
		is := f.createIssue(t, map[string]any{"title": fmt.Sprintf("With %d", n)})
		for range n {
			f.owner.Do(t, `mutation($id: ID!) { addComment(input: {issueId: $id, body: "hi"}) { comment { id } } }`,
				map[string]any{"id": is["id"]}).MustOK(t)
		}
		want[fmt.Sprintf("CNT-%d", i+1)] = n
	}

	type page struct {
		Project struct {
			Issues struct {
				Edges []struct {
					Node struct {
						Key      string
						Comments struct {
							TotalCount int
							Edges      []struct{}
						}
					}
				}
			}
		}
	}
	for _, tc := range []struct{ name, comments string }{
		{"count only", `comments { totalCount }`},
		{"count beside a page of one", `comments(first: 1) { totalCount edges { node { id } } }`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.owner.Do(t, `{ project(organization: "counts", key: "CNT") { issues(first: 10) { edges { node { key `+tc.comments+` } } } } }`, nil).MustOK(t)
			var got page
			res.Decode(t, &got)
			require.Len(t, got.Project.Issues.Edges, 3)
			for _, e := range got.Project.Issues.Edges {
				assert.Equal(t, want[e.Node.Key], e.Node.Comments.TotalCount, e.Node.Key)
				var alone struct {
					Issue struct{ Comments struct{ TotalCount int } }
				}
				f.owner.Do(t, `query($k: String!) { issue(key: $k) { comments { totalCount } } }`, map[string]any{"k": e.Node.Key}).MustOK(t).Decode(t, &alone)
				assert.Equal(t, alone.Issue.Comments.TotalCount, e.Node.Comments.TotalCount, "%s: as its own lookup counts", e.Node.Key)
			}
			// The project looked up with its issues, their comment counts
			// (and, for a page of comments, the comments page, nested).
			assert.Equal(t, 1, res.Statements(t))
		})
	}
}

// TestListsReadWithTheirIssues holds the lists a page or lookup of issues
// reads in its own statement (loaders.Nest: labels under a page or a
// lookup, comments with their authors and count under a lookup) to what
// the lists' own statements return when the issue is read by id
// (node(id:), which nests nothing), for every kind of page: the same
// edges, cursors, page info and counts, in fewer statements.
func TestListsReadWithTheirIssues(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "nests", "NST")
	ids := map[string]string{}
	for _, name := range []string{"a", "b", "c", "d"} {
		var out struct {
			CreateLabel struct{ Label struct{ ID string } }
		}
		f.owner.Do(t, `mutation($o:ID!,$n:String!){ createLabel(input:{organizationId:$o,name:$n}){ label{id} } }`,
			map[string]any{"o": f.orgID, "n": name}).MustOK(t).Decode(t, &out)
		ids[name] = out.CreateLabel.Label.ID
	}
	for i, set := range [][]string{{}, {"a"}, {"d", "c", "b", "a"}, {"b", "d"}} {
		labels := []string{}
		for _, n := range set {
			labels = append(labels, ids[n])
		}
		is := f.createIssue(t, map[string]any{"title": "labels " + strings.Join(set, ","), "labelIds": labels})
		for c := range i {
			f.owner.Do(t, `mutation($id: ID!, $b: String!) { addComment(input: {issueId: $id, body: $b}) { comment { id } } }`,
				map[string]any{"id": is["id"], "b": fmt.Sprintf("comment %d", c)}).MustOK(t)
		}
	}
	// Cursors to page from: the second label and comment of the issue
	// with the most.
	var all struct {
		Issue struct {
			Labels, Comments struct {
				Edges []struct{ Cursor string }
			}
		}
	}
	f.owner.Do(t, `{ issue(key: "NST-3") { labels { edges { cursor } } comments { edges { cursor } } } }`, nil).MustOK(t).Decode(t, &all)
	require.Len(t, all.Issue.Labels.Edges, 4)
	require.Len(t, all.Issue.Comments.Edges, 2)
	labelCursor, commentCursor := all.Issue.Labels.Edges[1].Cursor, all.Issue.Comments.Edges[1].Cursor

	const pageInfo = `pageInfo { hasNextPage hasPreviousPage startCursor endCursor }`
	for _, args := range []string{"", "(first: 2)", "(last: 3)", "(first: 1, after: %q)", "(last: 1, before: %q)"} {
		labelArgs, commentArgs := args, args
		if strings.Contains(args, "%q") {
			labelArgs, commentArgs = fmt.Sprintf(args, labelCursor), fmt.Sprintf(args, commentCursor)
		}
		lists := `labels` + labelArgs + ` { edges { cursor node { name } } ` + pageInfo + ` }
			comments` + commentArgs + ` { totalCount edges { cursor node { body author { name } } } ` + pageInfo + ` }`
		t.Run(args, func(t *testing.T) {
			var board struct {
				Project struct {
					Issues struct {
						Edges []struct{ Node map[string]any }
					}
				}
			}
			res := f.owner.Do(t, `{ project(organization: "nests", key: "NST") { issues(first: 10, orderBy: {field: NUMBER, direction: ASC}) {
				edges { node { id key `+lists+` } } } } }`, nil).MustOK(t)
			// project; issues with their labels; comments with their
			// authors and counts (a page nests no list with users).
			assert.Equal(t, 3, res.Statements(t))
			res.Decode(t, &board)
			require.Len(t, board.Project.Issues.Edges, 4)
			for _, e := range board.Project.Issues.Edges {
				var byID struct{ Node map[string]any }
				f.owner.Do(t, `query($id: ID!) { node(id: $id) { ... on Issue { id key `+lists+` } } }`,
					map[string]any{"id": e.Node["id"]}).MustOK(t).Decode(t, &byID)
				assert.Equal(t, byID.Node, e.Node, "%s in a page", e.Node["key"])

				var byKey struct{ Issue map[string]any }
				res := f.owner.Do(t, `query($k: String!) { issue(key: $k) { id key `+lists+` } }`,
					map[string]any{"k": e.Node["key"]}).MustOK(t)
				assert.Equal(t, 1, res.Statements(t), "issue with its labels, comments, authors and count")
				res.Decode(t, &byKey)
				assert.Equal(t, byID.Node, byKey.Issue, "%s looked up", e.Node["key"])
			}
		})
	}
	// And the names, in order.
	var board struct {
		Project struct {
			Issues struct {
				Edges []struct {
					Node struct {
						Labels struct {
							Edges []struct{ Node struct{ Name string } }
						}
					}
				}
			}
		}
	}
	f.owner.Do(t, `{ project(organization: "nests", key: "NST") { issues(orderBy: {field: NUMBER, direction: ASC}) { edges { node { labels(first: 3) { edges { node { name } } } } } } } }`, nil).
		MustOK(t).Decode(t, &board)
	var names [][]string
	for _, e := range board.Project.Issues.Edges {
		ns := []string{}
		for _, l := range e.Node.Labels.Edges {
			ns = append(ns, l.Node.Name)
		}
		names = append(names, ns)
	}
	assert.Equal(t, [][]string{{}, {"a"}, {"a", "b", "c"}, {"b", "d"}}, names)
}

// TestProjectLookedUpWithItsIssues holds a project looked up by its key
// together with the first page of its issues (one statement) to the same
// answers as the lookup and the page read apart (two statements: an
// explicit order the lookup does not read with it): pages with cursors
// and from the end, an empty project, and a project the viewer may not
// see.
func TestProjectLookedUpWithItsIssues(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, patientLoaders)
	f := newFixture(t, env, "fold", "FLD")
	for i := range 5 {
		f.createIssue(t, map[string]any{"title": fmt.Sprintf("Issue %d", i+1), "assigneeId": f.ownerID})
	}
	f.owner.Do(t, `mutation($o:ID!){ createProject(input:{organizationId:$o,key:"EMP",name:"Empty",description:"none yet"}){ project{id} } }`,
		map[string]any{"o": f.orgID}).MustOK(t)
	outsider := env.As(env.SignUp(t, "fold-outsider@example.com", "Outsider"))

	const project = `id key name description archived version`
	const conn = `totalCount pageInfo { hasNextPage hasPreviousPage } edges { node { key title assignee { name } comments { totalCount } } }`
	// apart names the default order: the page is then read by the issues'
	// own batch, and its cursors belong to that order (cursor asks for
	// one of them).
	order := func(args string, apart bool) string {
		if apart {
			return args + ", orderBy: {field: UPDATED_AT, direction: DESC}"
		}
		return args
	}
	ask := func(c *servertest.Client, key, args string, apart bool) (string, int) {
		res := c.Do(t, `query($k: String!) { project(organization: "fold", key: $k) { `+project+` issues(`+order(args, apart)+`) { `+conn+` } } }`,
			map[string]any{"k": key}).MustOK(t)
		return string(res.Data), res.Statements(t)
	}
	cursor := func(apart bool) string {
		var out struct {
			Project struct {
				Issues struct{ PageInfo struct{ EndCursor string } }
			}
		}
		f.owner.Do(t, `{ project(organization: "fold", key: "FLD") { issues(`+order("first: 2", apart)+`) { pageInfo { endCursor } } } }`, nil).
			MustOK(t).Decode(t, &out)
		return out.Project.Issues.PageInfo.EndCursor
	}

	together, n := ask(f.owner, "FLD", "first: 2", false)
	assert.Equal(t, 1, n, "the project and its page in one statement")
	assert.Contains(t, together, `"edges":[{"node":{"key":"FLD-5"`, "most recently updated first")
	apart, n := ask(f.owner, "FLD", "first: 2", true)
	assert.JSONEq(t, apart, together)
	assert.Equal(t, 2, n)

	for _, args := range []string{`first: 10`, `first: 2, after: %q`, `last: 2`, `last: 1, before: %q`} {
		at := func(apart bool) string {
			if strings.Contains(args, "%q") {
				return fmt.Sprintf(args, cursor(apart))
			}
			return args
		}
		together, _ := ask(f.owner, "FLD", at(false), false)
		apart, _ := ask(f.owner, "FLD", at(true), true)
		assert.JSONEq(t, apart, together, args)
		assert.Contains(t, together, `"key":"FLD-`, args)
	}

	empty, n := ask(f.owner, "EMP", "first: 5", false)
	assert.Equal(t, 1, n)
	emptyApart, _ := ask(f.owner, "EMP", "first: 5", true)
	assert.JSONEq(t, emptyApart, empty)
	assert.Contains(t, empty, `"key":"EMP","name":"Empty","description":"none yet","archived":false`)
	assert.Contains(t, empty, `"totalCount":0`)
	assert.Contains(t, empty, `"edges":[]`)

	for _, key := range []string{"FLD", "EMP", "NOPE"} {
		hidden, n := ask(outsider, key, "first: 5", false)
		assert.JSONEq(t, `{"project":null}`, hidden, key)
		assert.Equal(t, 1, n, key)
	}
}

// TestOrganizationLookedUpWithItsProjects: an organization found by its
// slug is read in the statement of the first page of its projects the
// query selects, and answers as when the two are read apart (an argument
// the lookup does not fold, includeArchived: true, reads them apart):
// first, after, last and before pages, an organization without projects,
// and one the viewer is not a member of.
func TestOrganizationLookedUpWithItsProjects(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, patientLoaders)
	f := newFixture(t, env, "orgfold", "OF1")
	for _, key := range []string{"OF2", "OF3", "OF4"} {
		f.owner.Do(t, `mutation($o:ID!,$k:String!){ createProject(input:{organizationId:$o,key:$k,name:"More"}){ project{id} } }`,
			map[string]any{"o": f.orgID, "k": key}).MustOK(t)
	}
	f.createIssue(t, map[string]any{"title": "Folded", "assigneeId": f.ownerID})
	f.owner.Do(t, `mutation { createOrganization(input: {slug: "orgfold-empty", name: "Empty"}) { organization { id } } }`, nil).MustOK(t)
	outsider := env.As(env.SignUp(t, "orgfold-outsider@example.com", "Outsider"))

	const org = `id slug name createdAt`
	const conn = `totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { key name issues(first: 2) { edges { node { key assignee { name } } } } } }`
	ask := func(c *servertest.Client, slug, args string, apart bool) (string, int) {
		if apart {
			// Archived projects are none here, so the answer is the same.
			args += ", includeArchived: true"
		}
		res := c.Do(t, `query($s: String!) { organization(slug: $s) { `+org+` projects(`+args+`) { `+conn+` } } }`,
			map[string]any{"s": slug}).MustOK(t)
		return string(res.Data), res.Statements(t)
	}

	together, n := ask(f.owner, "orgfold", "first: 2", false)
	assert.Equal(t, 2, n, "the organization and its projects in one statement, their issues in another")
	assert.Contains(t, together, `"key":"OF1"`)
	apart, n := ask(f.owner, "orgfold", "first: 2", true)
	assert.JSONEq(t, apart, together)
	assert.Equal(t, 3, n)

	var page struct {
		Organization struct {
			Projects struct{ PageInfo struct{ EndCursor string } }
		}
	}
	f.owner.Do(t, `{ organization(slug: "orgfold") { projects(first: 2) { pageInfo { endCursor } } } }`, nil).MustOK(t).Decode(t, &page)
	cursor := page.Organization.Projects.PageInfo.EndCursor
	for _, args := range []string{`first: 10`, fmt.Sprintf(`first: 1, after: %q`, cursor), `last: 2`, fmt.Sprintf(`last: 1, before: %q`, cursor)} {
		together, _ := ask(f.owner, "orgfold", args, false)
		apart, _ := ask(f.owner, "orgfold", args, true)
		assert.JSONEq(t, apart, together, args)
		assert.Contains(t, together, `"key":"OF`, args)
	}

	empty, n := ask(f.owner, "orgfold-empty", "first: 5", false)
	assert.Equal(t, 1, n)
	emptyApart, _ := ask(f.owner, "orgfold-empty", "first: 5", true)
	assert.JSONEq(t, emptyApart, empty)
	assert.Contains(t, empty, `"slug":"orgfold-empty"`)
	assert.Contains(t, empty, `"edges":[]`)

	for _, slug := range []string{"orgfold", "orgfold-empty", "nope"} {
		hidden, n := ask(outsider, slug, "first: 5", false)
		assert.JSONEq(t, `{"organization":null}`, hidden, slug)
		assert.Equal(t, 1, n, slug)
	}
}

// TestLargePagesJoinTheirUsersAfterReading: a page that may hold
// loaders.JoinAfterRows rows or more reads its assignees and authors after
// its rows (a join PostgreSQL may hash) instead of by a lookup per row.
// Both ways answer alike: the same rows in the same order, unassigned
// issues with a null assignee, each comment with its own author, in as
// many statements, for pages under a lookup (a project by key) and under
// a page of parents (an organization's projects, their issues).
func TestLargePagesJoinTheirUsersAfterReading(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "joinafter", "JAF")
	member := env.As(env.SignUp(t, "joinafter-other@example.com", "Other of joinafter"))
	addMembership(t, env, f.orgID, "joinafter-other@example.com", "MEMBER")
	var me struct{ Viewer struct{ ID string } }
	member.Do(t, `{ viewer { id } }`, nil).MustOK(t).Decode(t, &me)

	var second struct {
		CreateProject struct{ Project struct{ ID string } }
	}
	f.owner.Do(t, `mutation($o: ID!) { createProject(input: {organizationId: $o, key: "JAG", name: "Second"}) { project { id } } }`,
		map[string]any{"o": f.orgID}).MustOK(t).Decode(t, &second)
	g := f
	g.projectID = second.CreateProject.Project.ID
	const perParent = 3
	for p, fx := range []fixture{f, g} {
		for i := range perParent {
			input := map[string]any{"title": fmt.Sprintf("Issue %d.%d", p, i)}
			switch i {
			case 0:
				input["assigneeId"] = f.ownerID
			case 1:
				input["assigneeId"] = me.Viewer.ID
			}
			is := fx.createIssue(t, input)
			for c := range perParent {
				author := f.owner
				if c == 1 {
					author = member
				}
				author.Do(t, `mutation($id: ID!, $b: String!) { addComment(input: {issueId: $id, body: $b}) { comment { id } } }`,
					map[string]any{"id": is["id"], "b": fmt.Sprintf("Comment %d.%d.%d", p, i, c)}).MustOK(t)
			}
		}
	}

	// Small pages stay under the size, large ones reach it: issues of one
	// project by key, of the two projects of a page, and the comments of
	// those six issues.
	small, large := perParent, loaders.JoinAfterRows
	lookup := `{ project(organization: "joinafter", key: "JAF") { issues(first: %d) { edges { node { key title assignee { id name } author { name } } } } } }`
	deep := `{ organization(slug: "joinafter") { projects(first: 2) { edges { node { key
		issues(first: %d) { edges { node { key assignee { name } comments(first: %d) { edges { node { body author { id name } } } } } } } } } } } }`
	for _, shape := range []struct{ name, small, large string }{
		{"lookup", fmt.Sprintf(lookup, small), fmt.Sprintf(lookup, large)},
		{"issues of projects", fmt.Sprintf(deep, small, small), fmt.Sprintf(deep, (large+1)/2, small)},
		{"comments of issues", fmt.Sprintf(deep, small, small), fmt.Sprintf(deep, small, (large+5)/6)},
		{"both", fmt.Sprintf(deep, small, small), fmt.Sprintf(deep, (large+1)/2, (large+5)/6)},
	} {
		want := f.owner.Do(t, shape.small, nil).MustOK(t)
		got := f.owner.Do(t, shape.large, nil).MustOK(t)
		assert.JSONEq(t, string(want.Data), string(got.Data), shape.name)
		assert.Equal(t, want.Statements(t), got.Statements(t), shape.name)
	}

	// What the answers hold: every issue in order, assignees where set.
	var deepAnswer struct {
		Organization struct {
			Projects struct {
				Edges []struct {
					Node struct {
						Key    string
						Issues struct {
							Edges []struct {
								Node struct {
									Key      string
									Assignee *struct{ Name string }
									Comments struct {
										Edges []struct {
											Node struct {
												Body   string
												Author struct{ ID, Name string }
											}
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	f.owner.Do(t, fmt.Sprintf(deep, (large+1)/2, (large+5)/6), nil).MustOK(t).Decode(t, &deepAnswer)
	projects := deepAnswer.Organization.Projects.Edges
	require.Len(t, projects, 2)
	for p, pe := range projects {
		require.Len(t, pe.Node.Issues.Edges, perParent, pe.Node.Key)
		assignees := map[string]bool{}
		for _, ie := range pe.Node.Issues.Edges {
			if ie.Node.Assignee != nil {
				assignees[ie.Node.Assignee.Name] = true
			}
			require.Len(t, ie.Node.Comments.Edges, perParent, ie.Node.Key)
			for c, ce := range ie.Node.Comments.Edges {
				assert.Contains(t, ce.Node.Body, fmt.Sprintf("Comment %d.", p), ie.Node.Key)
				assert.True(t, strings.HasSuffix(ce.Node.Body, fmt.Sprintf(".%d", c)), "comments in order: %s", ce.Node.Body)
				if c == 1 {
					assert.Equal(t, me.Viewer.ID, ce.Node.Author.ID, ce.Node.Body)
				} else {
					assert.Equal(t, "Owner of joinafter", ce.Node.Author.Name, ce.Node.Body)
				}
			}
		}
		assert.Equal(t, map[string]bool{"Owner of joinafter": true, "Other of joinafter": true}, assignees, pe.Node.Key)
	}

	// A project without issues, looked up with a large page: its row
	// comes back with nulls for the page's columns and joins.
	f.owner.Do(t, `mutation($o: ID!) { createProject(input: {organizationId: $o, key: "JAE", name: "Empty"}) { project { id } } }`,
		map[string]any{"o": f.orgID}).MustOK(t)
	var empty struct {
		Project *struct {
			Key    string
			Issues struct{ Edges []any }
		}
	}
	f.owner.Do(t, fmt.Sprintf(`{ project(organization: "joinafter", key: "JAE") { key issues(first: %d) { edges { node { key assignee { name } } } } } }`, large), nil).
		MustOK(t).Decode(t, &empty)
	require.NotNil(t, empty.Project)
	assert.Equal(t, "JAE", empty.Project.Key)
	assert.Empty(t, empty.Project.Issues.Edges)
}
