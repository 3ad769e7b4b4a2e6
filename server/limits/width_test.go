package limits_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/issuegraph/issuegraph/server/limits"
)

// TestWidth measures parsed, unvalidated documents: fragments are found by
// name and expanded wherever they are spread, inline fragments count with
// their set, and cycles or unknown fragments add nothing (validation
// refuses them).
func TestWidth(t *testing.T) {
	t.Parallel()
	w := limits.Width{MaxSelections: 6, MaxRepeats: 2}
	cases := []struct {
		name, doc string
		limit     string // "" means within bounds
		actual    int
	}{
		{"six fields", `{ a b c d e f }`, "", 0},
		{"seven fields", `{ a b c d e f g }`, "selections", 7},
		{"nested sets measured apart", `{ a { b c d e f g } h { i j k l m n } }`, "", 0},
		{"a nested set too wide", `{ a { b { c d e f g h i } } }`, "selections", 7},
		{"fragment spread three times", `{ ...F ...F ...F } fragment F on T { a }`, "repeats", 3},
		{"fragment spread twice", `{ ...F ...F } fragment F on T { a b c d }`, "selections", 8},
		{"fragments expanded", `{ x ...F ...G } fragment F on T { a b c } fragment G on T { d e f }`, "selections", 7},
		{"inline fragment counts with its set", `{ a ... on T { a } ... on U { a } }`, "repeats", 3},
		{"aliases are response names", `{ a x: a y: a z: a }`, "", 0},
		{"alias repeated", `{ x: a x: b x: c }`, "repeats", 3},
		{"cycle adds nothing", `{ ...F } fragment F on T { a ...G } fragment G on T { b ...F }`, "", 0},
		{"unknown fragment adds nothing", `{ a ...Missing }`, "", 0},
		{"a wide fragment is refused where it is defined", `{ a } fragment F on T { a b c d e f g }`, "selections", 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := parser.ParseQuery(&ast.Source{Input: tc.doc})
			require.Nil(t, err)
			v := w.Check(doc)
			if tc.limit == "" {
				assert.Nil(t, v)
				return
			}
			require.NotNil(t, v)
			assert.Equal(t, tc.limit, v.Limit)
			assert.Equal(t, tc.actual, v.Actual)
		})
	}

	t.Run("zero bounds check nothing", func(t *testing.T) {
		doc, err := parser.ParseQuery(&ast.Source{Input: "{ " + strings.Repeat("a ", 1000) + "}"})
		require.Nil(t, err)
		assert.Nil(t, limits.Width{}.Check(doc))
	})
}
