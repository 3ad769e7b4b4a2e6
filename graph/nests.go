package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/loaders"
)

// Lists read with the rows they hang under: a board's page of issues reads
// each issue's labels in the same statement (loaders.Nest), and an issue
// looked up by its key reads its labels with it. The nested pages are
// handed to the list field's loaders before its resolvers run, so they
// find them loaded and read nothing.

// maxNests bounds the lists one statement reads under its rows; further
// lists are read by their own statements, as without nesting.
const maxNests = 4

// selection is a field of the running operation as the executor resolves
// it: its first node in the document (what names the field for every
// parent, fieldKey), and the selections of every node merged into it.
type selection struct {
	op    *graphql.OperationContext
	field *ast.Field
	sets  ast.SelectionSet
}

// selectionOf returns the field being resolved, or the zero selection
// outside an operation.
func selectionOf(ctx context.Context) selection {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || !graphql.HasOperationContext(ctx) {
		return selection{}
	}
	return selection{op: graphql.GetOperationContext(ctx), field: fc.Field.Field, sets: fc.Field.Selections}
}

// known reports whether s is a field of an operation.
func (s selection) known() bool { return s.field != nil }

// doc is the operation's document.
func (s selection) doc() *ast.QueryDocument { return s.op.Doc }

// names returns the names of the fields s selects, as the executor collects
// them (fragments followed, @skip and @include applied).
func (s selection) names() []string {
	fields := graphql.CollectFields(s.op, s.sets, nil)
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Name
	}
	return out
}

// children returns the fields of s named name, as the executor collects
// them for the object s returns: each with the node that keys it and its
// merged selections.
func (s selection) children(name string) []selection {
	var out []selection
	for _, f := range graphql.CollectFields(s.op, s.sets, nil) {
		if f.Name == name {
			out = append(out, selection{op: s.op, field: f.Field, sets: f.Selections})
		}
	}
	return out
}

// nodes returns the node fields under the edges of a connection field.
func (s selection) nodes() []selection {
	var out []selection
	for _, e := range s.children("edges") {
		out = append(out, e.children("node")...)
	}
	return out
}

// pageArgs reads the page arguments of a list field as its resolver gets
// them; false when one has a form it does not know (the field is then
// left to its resolver).
func (s selection) pageArgs() (pageArgs, bool) {
	return s.pageArgsWith(nil)
}

// pageArgsWith is pageArgs for a field whose other arguments, if any, hold
// the values also gives (an organization's projects with includeArchived
// left at its default, false).
func (s selection) pageArgsWith(also map[string]any) (pageArgs, bool) {
	var a pageArgs
	ok := true
	for name, v := range s.field.ArgumentMap(s.op.Variables) {
		if v == nil {
			continue
		}
		if want, known := also[name]; known {
			if v != want {
				return pageArgs{}, false
			}
			continue
		}
		switch name {
		case "first":
			a.First, ok = intArg(v)
		case "last":
			a.Last, ok = intArg(v)
		case "after":
			a.After, ok = stringArg(v)
		case "before":
			a.Before, ok = stringArg(v)
		default:
			ok = false
		}
		if !ok {
			return pageArgs{}, false
		}
	}
	return a, true
}

func intArg(v any) (*int, bool) {
	var n int64
	switch v := v.(type) {
	case int64:
		n = v
	case json.Number:
		i, err := v.Int64()
		if err != nil {
			return nil, false
		}
		n = i
	default:
		return nil, false
	}
	i := int(n)
	return &i, true
}

func stringArg(v any) (*string, bool) {
	s, ok := v.(string)
	if !ok {
		return nil, false
	}
	return &s, true
}

// nestedList is a list under a list's rows (an issue's labels) that a page
// or lookup of those rows reads with them when a query selects it.
type nestedList struct {
	field string // "labels": the field selected under the rows
	// plan works out the list's load for the field sel (the one its
	// resolvers will find, fieldKey) and returns how to read it with the
	// rows, or false when it is read on its own (a bad argument, a page
	// that needs more than its rows).
	plan func(ctx context.Context, lds *loaders.Loaders, sel selection, as string) (nestPlan, bool)
}

// nestPlan is one nested list of one statement.
type nestPlan struct {
	list string // "Issue.labels"
	nest loaders.Nest
	// deliver hands the pages n read with the parents (rows, whose ids are
	// parents) to the list's loaders; g is the parents' peer group, if any.
	deliver func(ctx context.Context, n loaders.Nest, g *loaders.PeerGroup, parents []int64, rows []loaders.Row) error
}

// nested describes child, selected as field under its parents' rows, as
// a nestedList.
func nested[Q childQuery[Q, T, P, S], T row, P ~func(*sql.Selector), S scanner](field string, child func() childList[Q, T, P, S]) nestedList {
	return nestedList{field: field, plan: func(ctx context.Context, lds *loaders.Loaders, sel selection, as string) (nestPlan, bool) {
		l := child()
		args, ok := sel.pageArgs()
		if !ok {
			return nestPlan{}, false
		}
		f := loaders.Memo(lds, fieldKey{l.name, sel.field}, func() *listLoad[T] { return newListLoad(ctx, lds, l, args, sel) })
		if !f.nestable() {
			return nestPlan{}, false
		}
		columns, whole := l.columnsFor(sel)
		n := loaders.Nest{As: as, Columns: columns, Order: f.page.orderTerms, Page: func(dialect, parent string) *sql.Selector {
			return l.nestedPage(ctx, f, columns, dialect, parent)
		}}
		for _, e := range f.joined {
			n.Joins = append(n.Joins, e.join())
		}
		if f.countAsked {
			n.Total = func(dialect, parent string) *sql.Selector { return l.nestedTotal(ctx, dialect, parent) }
		}
		return nestPlan{list: l.name, nest: n, deliver: func(ctx context.Context, n loaders.Nest, g *loaders.PeerGroup, parents []int64, rows []loaders.Row) error {
			return f.deliver(ctx, lds, l.name, n, whole, g, parents, rows)
		}}, true
	}}
}

// planNests returns the nested lists of lists that the rows selected as
// rows select, at most maxNests. counted are the lists whose sizes the
// statement reads already (a page of issues' comment counts, under a
// page): their nested pages do not count them again. Under a page (many
// parents, one statement) it nests only lists that join no users: a page of pages with their users (a deep overview's issues with
// their comments and authors) decodes every nested row from JSON, which
// cost more server and PostgreSQL CPU than the statement it saves
// (docs/performance.md).
func planNests(ctx context.Context, lds *loaders.Loaders, rows []selection, lists []nestedList, underPage bool, counted []childCount) []nestPlan {
	var out []nestPlan
	for _, n := range lists {
		for _, r := range rows {
			for _, sel := range r.children(n.field) {
				if len(out) == maxNests {
					return out
				}
				p, ok := n.plan(ctx, lds, sel, fmt.Sprintf("nested_%s_%d", n.field, len(out)))
				if !ok || underPage && len(p.nest.Joins) > 0 {
					continue
				}
				if slices.ContainsFunc(counted, func(c childCount) bool { return c.list == p.list }) {
					p.nest.Total = nil
				}
				out = append(out, p)
			}
		}
	}
	return out
}

// nests returns the loaders.Nest of plans.
func nests(plans []nestPlan) []loaders.Nest {
	out := make([]loaders.Nest, len(plans))
	for i, p := range plans {
		out[i] = p.nest
	}
	return out
}

// deliverNests hands the nested pages read with rows to their lists.
func deliverNests[T row](ctx context.Context, plans []nestPlan, g *loaders.PeerGroup, rows []T, idOf func(T) int64) error {
	if len(plans) == 0 {
		return nil
	}
	parents := make([]int64, len(rows))
	read := make([]loaders.Row, len(rows))
	for i, r := range rows {
		parents[i], read[i] = idOf(r), r
	}
	for _, p := range plans {
		if err := p.deliver(ctx, p.nest, g, parents, read); err != nil {
			return err
		}
	}
	return nil
}

// nestable reports whether a statement of the parents can read this list
// load's pages with its rows: rows are asked for, the arguments are good,
// and the page reads no sizes of lists under its rows (a nested page
// reads its rows' users and its total, not their lists).
func (f *listLoad[T]) nestable() bool {
	return f.err == nil && f.wantsRows && len(f.counted) == 0
}

// columnsFor returns the columns of l's rows that a page selected as the
// field sel reads: those its selections under edges { node } need
// (fieldColumns), with the ones the list always needs (keptColumns: the
// id, the sort key for cursors, the foreign keys its peers' edges follow),
// in l.columns' order; all of them when l has no fieldColumns or a
// selection asks for a field it does not know. whole reports whether they
// are all of them: only whole rows go to the by-id loaders.
func (l childList[Q, T, P, S]) columnsFor(sel selection) (columns []string, whole bool) {
	if l.fieldColumns == nil || !sel.known() {
		return l.columns, true
	}
	columns = selectedColumns(sel.nodes(), l.fieldColumns, l.columns, l.keptColumns)
	return columns, len(columns) == len(l.columns)
}

// nestedPage selects f's page of l's rows under the parent whose id is
// the SQL expression parent, with the users f joins: the rows' columns
// (columns of l.columns), with the list's privacy filter and conditions,
// as l's own page statement selects them.
func (l childList[Q, T, P, S]) nestedPage(ctx context.Context, f *listLoad[T], columns []string, dialect, parent string) *sql.Selector {
	s := l.nestedRows(ctx, dialect, parent)
	f.page.where(s)
	joins := make([]loaders.Join, len(f.joined))
	for i, e := range f.joined {
		joins[i] = e.join()
	}
	return loaders.NestedPage(s, columns, joins, f.page.orderTerms(s)).Limit(f.fetchLimit())
}

// nestedTotal counts l's rows under the parent whose id is the SQL
// expression parent.
func (l childList[Q, T, P, S]) nestedTotal(ctx context.Context, dialect, parent string) *sql.Selector {
	return l.nestedRows(ctx, dialect, parent).Select(sql.Count("*"))
}

// nestedRows selects l's rows under the parent whose id is the SQL
// expression parent that the viewer may see.
func (l childList[Q, T, P, S]) nestedRows(ctx context.Context, dialect, parent string) *sql.Selector {
	s := sql.Dialect(dialect).Select().From(sql.Table(l.table))
	s.Where(l.parent.Is(s, parent))
	l.visible(ctx)(s)
	for _, w := range l.where {
		w(s)
	}
	return s
}

// deliver hands the pages of parents read with them (rows, as n read them)
// to f's loaders as its own batch would: each page in its loader, the
// sizes known, the rows as peers and in the by-id loaders with the users
// they joined, and, for the parents' group g, the page batch marked done.
//
// Rows read with only some of their columns (whole false) stay out of the
// by-id loaders, where a lookup that needs the others could find them;
// the list's own loader is this field's, whose selections they were read
// for. As peers they carry the foreign keys their edges follow
// (keptColumns), and users are batched by the columns a selection needs
// (userBatch), so a comment reached again by id reads its author whole.
func (f *listLoad[T]) deliver(ctx context.Context, lds *loaders.Loaders, list string, n loaders.Nest, whole bool, g *loaders.PeerGroup, parents []int64, rows []loaders.Row) error {
	out := make(map[int64][]T, len(parents))
	var shown []T
	joined := make([][]*ent.User, len(f.joined))
	for i, id := range parents {
		page, err := decodeNested[T](rows[i], n.As)
		if err != nil {
			return fmt.Errorf("reading %s: %w", list, err)
		}
		out[id] = page
		page = page[:min(len(page), f.page.limit)]
		shown = append(shown, page...)
		for k, j := range n.Joins {
			users, err := decodeNested[*ent.User](rows[i], loaders.JoinedColumn(n.As, j))
			if err != nil || len(users) < len(page) {
				return fmt.Errorf("reading %s: users of %d rows: %v", list, len(page), err)
			}
			joined[k] = append(joined[k], users[:len(page)]...)
		}
		if n.Total != nil {
			total, err := loaders.Counted(rows[i], loaders.TotalOf(n.As))
			if err != nil {
				return fmt.Errorf("reading %s: %w", list, err)
			}
			f.sizes.set(id, total)
		}
	}
	group := loaders.AddPeers(&lds.Peers, shown)
	if whole {
		loaders.Prime(ctx, lds, shown...)
	}
	for k, e := range f.joined {
		users := joined[k]
		err := handOverUsers(ctx, lds, group, e, shown, func(i int) (*ent.User, error) { return users[i], nil })
		if err != nil {
			return err
		}
	}
	f.readWithParents(ctx, parents, out)
	f.learnSizes(parents, out)
	if g != nil {
		g.Preload(f.pageShape, nil)
	}
	return nil
}

// readWithParents hands over the pages of parents a statement of the
// parents read with them (a nested page, a lookup's page): their loader
// holds them, and the parents' resolvers find them without a batch
// (listLoaded).
func (f *listLoad[T]) readWithParents(ctx context.Context, parents []int64, pages map[int64][]T) {
	for _, id := range parents {
		f.pages.Prime(ctx, id, pages[id])
		f.nested.add(id)
	}
}

// idSet is a set of ids several goroutines add to.
type idSet struct {
	mu  sync.Mutex
	ids map[int64]bool
}

func (s *idSet) add(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[int64]bool{}
	}
	s.ids[id] = true
}

func (s *idSet) has(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}
