package schemadiff_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/graph/schemadiff"
)

const base = `
type Query { issue(key: String!, state: State): Issue  search(text: String, first: Int = 20): [Issue!]! node: Node old: String @deprecated(reason: "use issue") }
interface Node { id: ID! }
type Issue implements Node { id: ID! title: String! body: String assignee: User  legacy: Int @deprecated(reason: "gone soon") }
type User implements Node { id: ID! name: String }
union Subject = Issue | User
enum State { OPEN CLOSED ARCHIVED @deprecated(reason: "use CLOSED") }
input Filter { status: State  text: String }
type Mutation { close(input: Filter): Issue }
`

// TestBreaking: each edit of base is judged as a client of base would
// live it.
func TestBreaking(t *testing.T) {
	cases := []struct {
		name string
		from string
		to   string
		want []string
	}{
		{"nothing changed", "", "", nil},
		{"field added", "body: String", "body: String  summary: String", nil},
		{"optional argument added", "search(text: String,", "search(text: String, after: String,", nil},
		{"deprecated field removed", `legacy: Int @deprecated(reason: "gone soon") `, "", nil},
		{"deprecated enum value removed", `ARCHIVED @deprecated(reason: "use CLOSED")`, "", nil},
		{"deprecated root field removed", `old: String @deprecated(reason: "use issue")`, "", nil},
		{"output made non-null", "body: String", "body: String!", nil},
		{"argument made nullable", "issue(key: String!", "issue(key: String", nil},
		{"required argument with a default", "search(text: String,", "search(text: String, limit: Int! = 5,", nil},
		{"field removed", "body: String", "", []string{"field Issue.body removed without being @deprecated first"}},
		{"type removed", "union Subject = Issue | User", "", []string{"type Subject removed"}},
		{"union member removed", "union Subject = Issue | User", "union Subject = Issue", []string{"union Subject no longer includes User"}},
		{"interface dropped", "type User implements Node", "type User", []string{"User no longer implements Node"}},
		{"enum value removed", "OPEN CLOSED", "OPEN", []string{"enum value State.CLOSED removed without being @deprecated first"}},
		{"output made nullable", "title: String!", "title: String", []string{"field Issue.title changed type from String! to String"}},
		{"output type changed", "name: String", "name: Int", []string{"field User.name changed type from String to Int"}},
		{"list narrowed to one", "[Issue!]!", "Issue!", []string{"field Query.search changed type from [Issue!]! to Issue!"}},
		{"argument removed", "search(text: String,", "search(", []string{"argument Query.search(text) removed without being @deprecated first"}},
		{"argument made required", "state: State)", "state: State!)", []string{"argument Query.issue(state) changed type from State to State!"}},
		{"default removed from a required argument", "first: Int = 20", "first: Int! ", []string{"argument Query.search(first) changed type from Int to Int!"}},
		{"required argument added", "search(text: String,", "search(text: String, limit: Int!,", []string{"required argument limit added to Query.search"}},
		{"input field removed", "input Filter { status: State  text: String }", "input Filter { status: State }", []string{"input field Filter.text removed without being @deprecated first"}},
		{"required input field added", "input Filter { status: State  text: String }", "input Filter { status: State  text: String  project: ID! }", []string{"required input field project added to Filter"}},
		{"kind changed", "enum State { OPEN CLOSED ARCHIVED @deprecated(reason: \"use CLOSED\") }", "scalar State", []string{"type State changed from ENUM to SCALAR"}},
	}
	old, err := schemadiff.Load("old", base)
	require.NoError(t, err)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			edited := base
			if tc.from != "" {
				require.Contains(t, base, tc.from)
				edited = strings.Replace(base, tc.from, tc.to, 1)
			}
			new, err := schemadiff.Load("new", edited)
			require.NoError(t, err)
			assert.Equal(t, tc.want, schemadiff.Breaking(old, new))
		})
	}
}

// TestPrintRoundTrips: the printed SDL parses back to a schema with no
// difference either way.
func TestPrintRoundTrips(t *testing.T) {
	s, err := schemadiff.Load("base", base)
	require.NoError(t, err)
	again, err := schemadiff.Load("printed", string(schemadiff.Print(s)))
	require.NoError(t, err)
	assert.Empty(t, schemadiff.Breaking(s, again))
	assert.Empty(t, schemadiff.Breaking(again, s))
	assert.Equal(t, schemadiff.Print(s), schemadiff.Print(again), "printing is stable")
}
