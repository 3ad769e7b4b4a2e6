package graph

import (
	"context"
	"slices"
	"sync"

	"entgo.io/ent/dialect/sql"

	"github.com/issuegraph/issuegraph/loaders"
)

// List sizes known without a count statement of their own: read with a
// page of the parents, or learned from a page that held a whole list.

// childCount is a list under a list's rows (an issue's comments) whose
// totalCount a page of those rows reads with them, in the same statement,
// when the query selects it under edges { node } (loaders.Count): a board
// asks for each issue's comment count, and the count is then no statement
// of its own. The list must take no filter arguments: its count is then
// the same for every field of it, whatever page it asks for.
type childCount struct {
	field   string                                    // "comments": the field selected under node
	list    string                                    // "Issue.comments": the list's name (its count shape)
	table   string                                    // the listed rows' table
	column  string                                    // their column holding the row's id
	visible func(context.Context) func(*sql.Selector) // the table's privacy filter (ent/rule)
}

// listSizes holds, for one kind of list of a request (its count shape: the
// list and its filters, not its page), the totalCount of each parent
// learned without counting: from a first page without cursors that held
// the parent's whole list and needed no extra row, or read with a page of
// the parents themselves (a board's comment counts, loaders.Count).
type listSizes struct {
	mu sync.Mutex
	n  map[int64]int
}

type sizesKey string

// countShapeOf names the count of list with filters shape: the same for
// every field of the list, whatever page it asks for.
func countShapeOf(list string, shape any) string {
	return shapeOf("count", list, shape)
}

// count is how a page reads c's sizes with its rows (loaders.Count).
func (c childCount) count(ctx context.Context) loaders.Count {
	return loaders.Count{As: "count_" + c.field, Table: c.table, Column: c.column, Visible: c.visible(ctx)}
}

func sizesOf(lds *loaders.Loaders, countShape string) *listSizes {
	return loaders.Memo(lds, sizesKey(countShape), func() *listSizes { return &listSizes{n: map[int64]int{}} })
}

func (s *listSizes) get(parent int64) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.n[parent]
	return n, ok
}

func (s *listSizes) set(parent int64, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n[parent] = n
}

// selectedCounts returns the lists of counts whose totalCount the
// connection field sel selects under edges { node } (as the executor
// collects fields: through fragments, after @skip and @include).
func selectedCounts(sel selection, counts []childCount) []childCount {
	if len(counts) == 0 || !sel.known() {
		return nil
	}
	nodes := sel.nodes()
	var out []childCount
	for _, c := range counts {
		if slices.ContainsFunc(nodes, func(n selection) bool {
			return slices.ContainsFunc(n.children(c.field), func(list selection) bool { return selects(list, "totalCount") })
		}) {
			out = append(out, c)
		}
	}
	return out
}
