package limits

import (
	"fmt"

	"github.com/vektah/gqlparser/v2/ast"
)

// Width bounds how wide a document's selection sets are, checked on the
// parsed document before validation. Validation compares the fields of
// each selection set in pairs (can they be merged?), and the sub-selections
// of every pair sharing a response name again: a 15 KB document of one
// field written five thousand times took over a second of CPU to
// validate, before any limit that runs after validation could refuse it.
// A zero bound disables its check.
type Width struct {
	MaxSelections int // fields one selection set holds, fragments expanded
	MaxRepeats    int // times one response name is selected in one selection set
}

// WidthViolation names the bound a document breaks.
type WidthViolation struct {
	Limit  string // selections or repeats
	Max    int
	Actual int
	Name   string // the repeated response name, for repeats
}

func (v *WidthViolation) Error() string {
	if v.Limit == "repeats" {
		return fmt.Sprintf("the document selects %q %d times in one selection set; at most %d are allowed", v.Name, v.Actual, v.Max)
	}
	return fmt.Sprintf("the document has a selection set of %d fields (fragments included); at most %d are allowed", v.Actual, v.Max)
}

// Check returns the first bound doc breaks, or nil. Fragment spreads are
// resolved by name, as validation has not linked them yet; a spread of an
// unknown fragment, or a cycle, adds nothing here and is refused by
// validation.
func (w Width) Check(doc *ast.QueryDocument) *WidthViolation {
	c := widthChecker{w: w, doc: doc, memo: map[string]map[string]int{}}
	for _, op := range doc.Operations {
		if v := c.walk(op.SelectionSet); v != nil {
			return v
		}
	}
	for _, f := range doc.Fragments {
		if v := c.walk(f.SelectionSet); v != nil {
			return v
		}
	}
	return nil
}

type widthChecker struct {
	w    Width
	doc  *ast.QueryDocument
	memo map[string]map[string]int // fragment -> response name -> count, expanded
}

// walk checks ss and every selection set written inside it.
func (c *widthChecker) walk(ss ast.SelectionSet) *WidthViolation {
	if v := c.check(c.names(ss, 0)); v != nil {
		return v
	}
	for _, sel := range ss {
		switch s := sel.(type) {
		case *ast.Field:
			if v := c.walk(s.SelectionSet); v != nil {
				return v
			}
		case *ast.InlineFragment:
			if v := c.walk(s.SelectionSet); v != nil {
				return v
			}
		}
	}
	return nil
}

func (c *widthChecker) check(names map[string]int) *WidthViolation {
	total := 0
	for name, n := range names {
		total += n
		if c.w.MaxRepeats > 0 && n > c.w.MaxRepeats {
			return &WidthViolation{Limit: "repeats", Max: c.w.MaxRepeats, Actual: n, Name: name}
		}
	}
	if c.w.MaxSelections > 0 && total > c.w.MaxSelections {
		return &WidthViolation{Limit: "selections", Max: c.w.MaxSelections, Actual: total}
	}
	return nil
}

// names counts the response names ss selects, inline fragments and spread
// fragments expanded (a fragment's counts are memoized).
func (c *widthChecker) names(ss ast.SelectionSet, depth int) map[string]int {
	out := map[string]int{}
	if depth > 64 {
		return out
	}
	for _, sel := range ss {
		switch s := sel.(type) {
		case *ast.Field:
			name := s.Alias
			if name == "" {
				name = s.Name
			}
			out[name]++
		case *ast.InlineFragment:
			for name, n := range c.names(s.SelectionSet, depth+1) {
				out[name] += n
			}
		case *ast.FragmentSpread:
			counts, ok := c.memo[s.Name]
			if !ok {
				c.memo[s.Name] = nil // a cycle adds nothing
				if f := c.doc.Fragments.ForName(s.Name); f != nil {
					counts = c.names(f.SelectionSet, depth+1)
				}
				c.memo[s.Name] = counts
			}
			for name, n := range counts {
				out[name] += n
			}
		}
	}
	return out
}
