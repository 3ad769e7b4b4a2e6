package limits

import (
	"fmt"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// Structure bounds the shape of an operation. A zero bound disables its check.
type Structure struct {
	MaxDepth      int // nesting of fields, counted through fragments
	MaxAliases    int // aliased fields written in the document (__typename excepted)
	MaxRootFields int // fields selected at the root of the operation
	MaxDirectives int // directives written in the document
}

// Violation names the limit an operation breaks.
type Violation struct {
	Limit  string // depth, aliases, rootFields or directives
	Max    int
	Actual int
}

func (v *Violation) Error() string {
	what := map[string]string{
		"depth":      "nests fields %d deep; at most %d levels are allowed",
		"aliases":    "uses %d aliases; at most %d are allowed",
		"rootFields": "selects %d root fields; at most %d are allowed",
		"directives": "uses %d directives; at most %d are allowed",
	}[v.Limit]
	return fmt.Sprintf("the operation "+what, v.Actual, v.Max)
}

// Check returns the first limit op (with the fragments of doc) breaks, or nil.
// Aliases and directives are counted as written, each fragment once: what a
// repeated fragment multiplies is bounded by the cost limit instead. Depth
// follows fragments, memoized per fragment, so measuring stays cheap whatever
// the document.
func (s Structure) Check(doc *ast.QueryDocument, op *ast.OperationDefinition) *Violation {
	if s.MaxRootFields > 0 {
		if n := rootFields(op.SelectionSet, map[string]bool{}); n > s.MaxRootFields {
			return &Violation{Limit: "rootFields", Max: s.MaxRootFields, Actual: n}
		}
	}
	if s.MaxDepth > 0 {
		d := &depths{memo: map[string]int{}}
		if n := d.set(op.SelectionSet); n > s.MaxDepth {
			return &Violation{Limit: "depth", Max: s.MaxDepth, Actual: n}
		}
	}
	aliases, directives := 0, len(op.Directives)
	for _, v := range op.VariableDefinitions {
		directives += len(v.Directives)
	}
	count(op.SelectionSet, &aliases, &directives)
	for _, f := range doc.Fragments {
		directives += len(f.Directives)
		count(f.SelectionSet, &aliases, &directives)
	}
	if s.MaxAliases > 0 && aliases > s.MaxAliases {
		return &Violation{Limit: "aliases", Max: s.MaxAliases, Actual: aliases}
	}
	if s.MaxDirectives > 0 && directives > s.MaxDirectives {
		return &Violation{Limit: "directives", Max: s.MaxDirectives, Actual: directives}
	}
	return nil
}

// rootFields counts the fields selected at the root, through fragments.
func rootFields(ss ast.SelectionSet, seen map[string]bool) int {
	n := 0
	for _, sel := range ss {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name != "__typename" {
				n++
			}
		case *ast.InlineFragment:
			n += rootFields(s.SelectionSet, seen)
		case *ast.FragmentSpread:
			if s.Definition != nil && !seen[s.Name] {
				seen[s.Name] = true
				n += rootFields(s.Definition.SelectionSet, seen)
			}
		}
	}
	return n
}

type depths struct{ memo map[string]int }

// levelOf is how much a field adds to the depth: 1, except for the Relay
// plumbing of a connection (its edges, and an edge's node), which adds
// nothing. Depth then counts levels of data, so a connection costs one
// level like a plain list: organization → projects → issues → comments →
// author is 5 deep whether or not it is written as connections.
func levelOf(f *ast.Field) int {
	if f.ObjectDefinition == nil {
		return 1
	}
	parent := f.ObjectDefinition.Name
	if (f.Name == "edges" && strings.HasSuffix(parent, "Connection")) || (f.Name == "node" && strings.HasSuffix(parent, "Edge")) {
		return 0
	}
	return 1
}

// set returns the depth of a selection set: 1 for a set of leaves.
func (d *depths) set(ss ast.SelectionSet) int {
	most := 0
	for _, sel := range ss {
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				// Introspection (development only) nests ofType deeply by
				// design and reads only the schema in memory.
				most = max(most, 1)
				continue
			}
			most = max(most, levelOf(s)+d.set(s.SelectionSet))
		case *ast.InlineFragment:
			most = max(most, d.set(s.SelectionSet))
		case *ast.FragmentSpread:
			if s.Definition == nil {
				continue
			}
			n, ok := d.memo[s.Name]
			if !ok {
				d.memo[s.Name] = 0 // a cycle (refused by validation) adds nothing
				n = d.set(s.Definition.SelectionSet)
				d.memo[s.Name] = n
			}
			most = max(most, n)
		}
	}
	return most
}

// count adds the aliases and directives written in a selection set, without
// entering fragment spreads (each fragment is counted once by Check).
func count(ss ast.SelectionSet, aliases, directives *int) {
	for _, sel := range ss {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Alias != "" && s.Alias != s.Name && s.Name != "__typename" {
				*aliases++
			}
			*directives += len(s.Directives)
			count(s.SelectionSet, aliases, directives)
		case *ast.InlineFragment:
			*directives += len(s.Directives)
			count(s.SelectionSet, aliases, directives)
		case *ast.FragmentSpread:
			*directives += len(s.Directives)
		}
	}
}
