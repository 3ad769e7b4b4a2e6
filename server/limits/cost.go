package limits

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"
)

// Default weights of the cost model, used where the schema declares no @cost.
const (
	ObjectWeight   = 1  // a field returning an object, interface or union
	LeafWeight     = 0  // a field returning a scalar or enum
	MutationWeight = 10 // a root field of Mutation
)

// saturation caps every sum and product, so a hostile document cannot overflow
// the arithmetic; anything this large is refused anyway.
const saturation = 1 << 40

// PageSizeError reports a slicing argument outside 1..MaxPageSize.
type PageSizeError struct {
	Field    string // e.g. "Project.issues"
	Argument string // e.g. "first"
	Value    int
	Max      int
}

func (e *PageSizeError) Error() string {
	return fmt.Sprintf("%s must be between 1 and %d on %s, got %d", e.Argument, e.Max, e.Field, e.Value)
}

// Cost computes what operations cost under the directives of one schema.
type Cost struct {
	schema      *ast.Schema
	maxPageSize int
}

// NewCost returns a calculator for schema; slicing arguments outside
// 1..maxPageSize are refused.
func NewCost(schema *ast.Schema, maxPageSize int) *Cost {
	return &Cost{schema: schema, maxPageSize: maxPageSize}
}

// walk holds the state of one requested-cost calculation. Fragment costs are
// memoized, so a document that spreads fragments into each other many times
// costs polynomial work to measure, not exponential.
type walk struct {
	c    *Cost
	vars map[string]any
	memo map[string]int
	err  error
}

// Requested returns the cost of op as written: every list at the size its
// slicing argument asks for (or its assumedSize). op must have passed
// validation, so every field carries its definition.
func (c *Cost) Requested(op *ast.OperationDefinition, vars map[string]any) (int, error) {
	w := &walk{c: c, vars: vars, memo: map[string]int{}}
	total := w.set(op.SelectionSet, nil, 1, op.Operation == ast.Mutation)
	return total, w.err
}

// set returns the cost of a selection set. Fields named in sized are
// multiplied by size (the edges of a connection). Fragments on a type other
// than the parent's are alternatives: only the most expensive one counts,
// since one object matches one type.
func (w *walk) set(ss ast.SelectionSet, sized []string, size int, mutationRoot bool) int {
	common := 0
	alternatives := map[string]int{}
	for _, sel := range ss {
		switch s := sel.(type) {
		case *ast.Field:
			cost := w.field(s, mutationRoot)
			if slices.Contains(sized, s.Name) {
				cost = mul(cost, size)
			}
			common = add(common, cost)
		case *ast.InlineFragment:
			cost := w.set(s.SelectionSet, sized, size, mutationRoot)
			if s.TypeCondition == "" || s.ObjectDefinition == nil || s.TypeCondition == s.ObjectDefinition.Name {
				common = add(common, cost)
			} else {
				alternatives[s.TypeCondition] = add(alternatives[s.TypeCondition], cost)
			}
		case *ast.FragmentSpread:
			if s.Definition == nil {
				continue
			}
			key := fmt.Sprintf("%s|%v|%d|%t", s.Name, sized, size, mutationRoot)
			cost, ok := w.memo[key]
			if !ok {
				w.memo[key] = 0 // a cycle (refused by validation) adds nothing
				cost = w.set(s.Definition.SelectionSet, sized, size, mutationRoot)
				w.memo[key] = cost
			}
			tc := s.Definition.TypeCondition
			if s.ObjectDefinition == nil || tc == s.ObjectDefinition.Name {
				common = add(common, cost)
			} else {
				alternatives[tc] = add(alternatives[tc], cost)
			}
		}
	}
	most := 0
	for _, cost := range alternatives {
		most = max(most, cost)
	}
	return add(common, most)
}

// field returns the cost of one field with its selection.
func (w *walk) field(f *ast.Field, mutationRoot bool) int {
	if f.Definition == nil { // __typename and other meta fields
		return 0
	}
	weight := w.c.weight(f.Definition, mutationRoot)
	ls := f.Definition.Directives.ForName("listSize")
	if ls == nil {
		return add(weight, w.set(f.SelectionSet, nil, 1, false))
	}
	size := w.size(f, ls)
	if sized := stringList(ls.Arguments.ForName("sizedFields")); len(sized) > 0 {
		return add(weight, w.set(f.SelectionSet, sized, size, false))
	}
	return mul(size, add(weight, w.set(f.SelectionSet, nil, 1, false)))
}

// size is the number of items a @listSize field is asked for: the first
// slicing argument given, else assumedSize, else 1.
func (w *walk) size(f *ast.Field, ls *ast.Directive) int {
	args := f.ArgumentMap(w.vars)
	for _, name := range stringList(ls.Arguments.ForName("slicingArguments")) {
		switch v := args[name].(type) {
		case nil:
			continue
		case []any:
			// A list argument (nodes(ids:)) returns one item per element.
			return min(max(len(v), 1), w.c.maxPageSize)
		default:
			n, ok := toInt(v)
			if !ok {
				continue
			}
			if n < 1 || n > w.c.maxPageSize {
				if w.err == nil {
					w.err = &PageSizeError{Field: f.ObjectDefinition.Name + "." + f.Name, Argument: name, Value: n, Max: w.c.maxPageSize}
				}
				return w.c.maxPageSize
			}
			return n
		}
	}
	if a := ls.Arguments.ForName("assumedSize"); a != nil && a.Value != nil {
		if n, err := strconv.Atoi(a.Value.Raw); err == nil && n > 0 {
			return n
		}
	}
	return 1
}

// weight is the cost of resolving one value of a field: its own @cost, else
// its type's @cost, else the default for its kind of type.
func (c *Cost) weight(def *ast.FieldDefinition, mutationRoot bool) int {
	if n, ok := costOf(def.Directives); ok {
		return n
	}
	if mutationRoot {
		return MutationWeight
	}
	t := c.schema.Types[def.Type.Name()]
	if t == nil {
		return LeafWeight
	}
	if n, ok := costOf(t.Directives); ok {
		return n
	}
	switch t.Kind {
	case ast.Object, ast.Interface, ast.Union:
		return ObjectWeight
	}
	return LeafWeight
}

// Actual returns what op cost given the data it returned: the same weights,
// with every sized list counted at the number of items it really holds, and
// nothing below a null. Fields missing from data (not reached, or on a
// fragment of another type) cost nothing. It never exceeds Requested for the
// same operation, so the difference can be refunded. Data that is not a
// JSON object costs 0.
//
// It walks the JSON text itself rather than decoding it: a large response
// would otherwise be built again as maps and strings only to be counted.
func (c *Cost) Actual(op *ast.OperationDefinition, data json.RawMessage) int {
	w := &jsonWalker{data: data}
	w.space()
	if w.peek() != '{' {
		return 0
	}
	total := c.actualObject(w, op.SelectionSet, nil, op.Operation == ast.Mutation)
	if w.bad {
		return 0
	}
	return total
}

// actualObject costs the JSON object at w against the selection set that
// produced it, leaving w after the object. Each key is priced by the first
// field of ss (through fragments) that answers to it.
func (c *Cost) actualObject(w *jsonWalker, ss ast.SelectionSet, sized []string, mutationRoot bool) int {
	total := 0
	w.pos++ // {
	for w.space(); !w.bad && w.peek() != '}'; w.space() {
		key := w.key()
		w.space()
		if f := fieldFor(ss, key, 0); f != nil {
			total = add(total, c.actualField(w, f, slices.Contains(sized, f.Name), mutationRoot))
		} else {
			w.skip()
		}
		w.space()
		if w.peek() == ',' {
			w.pos++
		}
	}
	w.pos++ // }
	return total
}

// fieldFor finds the field of ss whose response key is key.
func fieldFor(ss ast.SelectionSet, key []byte, depth int) *ast.Field {
	if depth > 64 { // fragment cycles are refused by validation; be safe anyway
		return nil
	}
	for _, sel := range ss {
		var found *ast.Field
		switch s := sel.(type) {
		case *ast.Field:
			if s.Definition != nil && s.Alias == string(key) {
				found = s
			}
		case *ast.InlineFragment:
			found = fieldFor(s.SelectionSet, key, depth+1)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				found = fieldFor(s.Definition.SelectionSet, key, depth+1)
			}
		}
		if found != nil {
			return found
		}
	}
	return nil
}

// actualField costs one field's value at w. A list is counted per item when
// it is sized (by its own @listSize or as a sized field of its parent); any
// other list was requested at one item and is counted at most at one item.
func (c *Cost) actualField(w *jsonWalker, f *ast.Field, sized bool, mutationRoot bool) int {
	weight := c.weight(f.Definition, mutationRoot)
	var childSized []string
	if ls := f.Definition.Directives.ForName("listSize"); ls != nil {
		childSized = stringList(ls.Arguments.ForName("sizedFields"))
		sized = sized || len(childSized) == 0
	}
	one := func() int {
		if w.peek() != '{' {
			w.skip() // null or a scalar
			return weight
		}
		return add(weight, c.actualObject(w, f.SelectionSet, childSized, false))
	}
	if w.peek() != '[' {
		return one()
	}
	total, most := 0, 0
	w.pos++ // [
	for w.space(); !w.bad && w.peek() != ']'; w.space() {
		cost := one()
		total = add(total, cost)
		most = max(most, cost)
		w.space()
		if w.peek() == ',' {
			w.pos++
		}
	}
	w.pos++ // ]
	if sized {
		return total
	}
	return most
}

// jsonWalker steps through JSON text without decoding it. It trusts its
// input to be the executor's own output; on anything unexpected it sets bad
// and stops moving forward.
type jsonWalker struct {
	data []byte
	pos  int
	bad  bool
}

func (w *jsonWalker) peek() byte {
	if w.bad || w.pos >= len(w.data) {
		w.bad = true
		return 0
	}
	return w.data[w.pos]
}

func (w *jsonWalker) space() {
	for w.pos < len(w.data) {
		switch w.data[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

// key reads an object key and its colon. The key is returned as written:
// GraphQL names never need escapes.
func (w *jsonWalker) key() []byte {
	if w.peek() != '"' {
		w.bad = true
		return nil
	}
	start := w.pos + 1
	w.str()
	key := w.data[start : w.pos-1]
	w.space()
	if w.peek() != ':' {
		w.bad = true
		return nil
	}
	w.pos++
	return key
}

// str moves past a string starting at its opening quote.
func (w *jsonWalker) str() {
	for w.pos++; w.pos < len(w.data); w.pos++ {
		switch w.data[w.pos] {
		case '\\':
			w.pos++
		case '"':
			w.pos++
			return
		}
	}
	w.bad = true
}

// skip moves past one value of any kind.
func (w *jsonWalker) skip() {
	switch w.peek() {
	case '"':
		w.str()
	case '{', '[':
		depth := 0
		for ; w.pos < len(w.data); w.pos++ {
			switch w.data[w.pos] {
			case '"':
				w.str()
				w.pos--
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					w.pos++
					return
				}
			}
		}
		w.bad = true
	default: // number, true, false, null
		for w.pos < len(w.data) {
			switch w.data[w.pos] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			w.pos++
		}
	}
}

// costOf reads @cost(weight:) from directives.
func costOf(ds ast.DirectiveList) (int, bool) {
	d := ds.ForName("cost")
	if d == nil {
		return 0, false
	}
	a := d.Arguments.ForName("weight")
	if a == nil || a.Value == nil {
		return 0, false
	}
	n, err := strconv.Atoi(a.Value.Raw)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// stringList reads a directive argument holding a list of strings.
func stringList(a *ast.Argument) []string {
	if a == nil || a.Value == nil {
		return nil
	}
	var out []string
	for _, child := range a.Value.Children {
		if child.Value != nil {
			out = append(out, child.Value.Raw)
		}
	}
	return out
}

func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(min(max(n, -saturation), saturation)), true
	case float64:
		return int(min(max(n, -saturation), saturation)), true
	case json.Number:
		i, err := n.Int64()
		return int(min(max(i, -saturation), saturation)), err == nil
	}
	return 0, false
}

func add(a, b int) int { return min(a+b, saturation) }

func mul(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a > saturation/b {
		return saturation
	}
	return a * b
}
