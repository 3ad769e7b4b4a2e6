package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"entgo.io/ent/dialect/sql"
	"github.com/graph-gophers/dataloader/v7"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/issue"
	"github.com/issuegraph/issuegraph/ent/ent/membership"
	"github.com/issuegraph/issuegraph/ent/ent/project"
	"github.com/issuegraph/issuegraph/graph/model"
	"github.com/issuegraph/issuegraph/loaders"
)

// Field resolvers read edges through the request's loaders (see package
// loaders), so a nested query costs a number of statements bounded by its
// depth: every object of one level asks together and is answered by one
// batched statement.

// loadersFor returns the request's loaders. Outside a request that has
// them (a caller that did not go through the HTTP middleware) fresh ones
// still answer correctly, only without batching across fields.
func (r *Resolver) loadersFor(ctx context.Context) *loaders.Loaders {
	if l := loaders.FromContext(ctx); l != nil {
		return l
	}
	return loaders.New(r.client, loaders.Options{})
}

// required resolves a non-null edge through a by-id loader: an object that
// is gone or hidden from the viewer is NOT_FOUND.
func required[T any](v T, err error) (T, error) {
	if errors.Is(err, loaders.ErrNotFound) {
		return v, Errorf(CodeNotFound, "not found")
	}
	return v, err
}

// optional resolves a nullable edge through a by-id loader: an object that
// is gone or hidden from the viewer is null.
func optional[T any](v *T, err error) (*T, error) {
	if errors.Is(err, loaders.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// childQuery is what per-parent pagination needs of a generated ent query
// (*ent.IssueQuery and the like).
type childQuery[Q any, T any, P ~func(*sql.Selector), S any] interface {
	Where(...P) Q
	Select(...string) S
	Modify(...func(*sql.Selector)) S
	All(context.Context) ([]T, error)
}

// scanner is the select builder a Modify returns.
type scanner interface {
	Scan(context.Context, any) error
}

// row is any ent entity: it reads back values selected by a modifier.
type row = loaders.Row

// childList describes a list field of a parent: the children it holds,
// how they point at their parent, and their order.
type childList[Q childQuery[Q, T, P, S], T row, P ~func(*sql.Selector), S scanner] struct {
	name     string               // Type.field, names the list in loader shapes
	query    func() Q             // a new query of all children, with the list's own conditions
	parent   loaders.Parent       // restricts to the children of some parents
	parentOf func(T) int64        // a row's parent id, when parent.Own()
	key      sortKey              // order of the list
	keyOf    func(T) (any, int64) // a row's sort value and id
	where    []P                  // conditions from the field's arguments (filters)
	shape    any                  // the arguments behind where, for the loader shape
	users    []userEdge[T]        // to-one user edges a page reads with its rows when selected
	counts   []childCount         // lists under the rows whose sizes a page reads when selected
	nests    []nestedList         // lists under the rows a page reads with them when selected
	// stored, when set, is where the parents keep the list's size, read
	// for totalCount instead of counting (a project's issues, unfiltered).
	stored *loaders.Stored
	// table, columns and visible are the children's table, its columns
	// and its privacy filter (ent/rule), for a statement of the parents
	// that reads this list with them (nestedPage).
	table   string
	columns []string
	visible func(context.Context) func(*sql.Selector)
	// fieldColumns and keptColumns, when set, let a page (nested or of its
	// own) read only the columns its selection needs (columnsFor): the
	// columns each field of the rows' type reads, and those every page
	// needs (the id, the sort key, the foreign keys edges follow).
	fieldColumns map[string][]string
	keptColumns  []string
}

// idOf returns a row's id.
func (l childList[Q, T, P, S]) idOf(row T) int64 {
	_, id := l.keyOf(row)
	return id
}

// parentIDOf returns the parent a row of a FirstPerParent page belongs to.
func (l childList[Q, T, P, S]) parentIDOf(row T) (int64, error) {
	if l.parent.Own() {
		return l.parentOf(row), nil
	}
	return loaders.ParentOf(row)
}

// shapeOf names a list and the arguments that change its rows.
func shapeOf(kind, name string, args ...any) string {
	b, err := json.Marshal(args)
	if err != nil { // arguments are plain GraphQL values; cannot fail
		panic(fmt.Sprintf("encoding %s arguments: %v", name, err))
	}
	return kind + " " + name + " " + string(b)
}

// loadPage returns one page of parent's children and its totalCount. The
// page is loaded with the same page of every sibling parent in one
// statement (FirstPerParent), and totalCount, when asked for, with one
// GROUP BY statement for all of them.
func loadPage[Q childQuery[Q, T, P, S], T row, P ~func(*sql.Selector), S scanner](
	ctx context.Context, r *Resolver, l childList[Q, T, P, S], parentID int64, args pageArgs,
) (*model.Connection[T], error) {
	lds := r.loadersFor(ctx)
	f := listLoadOf(ctx, lds, l, args)
	if f.err != nil {
		return nil, f.err
	}
	typ, _, _ := strings.Cut(l.name, ".") // the parent's type: "Issue.comments"
	count := func(ctx context.Context) (int, error) {
		if n, ok := f.knownSize(parentID); ok {
			return n, nil
		}
		if err := groupList(ctx, lds, typ, f.countShape, parentID, f.counts, f.fetchCounts); err != nil {
			return 0, err
		}
		return f.counts.Load(ctx, parentID)()
	}
	if !f.wantsRows {
		// Only totalCount was asked for (a board's comment count): no rows.
		return &model.Connection[T]{Edges: []*model.Edge[T]{}, Count: count}, nil
	}
	if err := groupList(ctx, lds, typ, f.pageShape, parentID, f.pages, f.fetchPages); err != nil {
		return nil, err
	}
	rows, err := f.pages.Load(ctx, parentID)()
	if err != nil {
		return nil, err
	}
	return connection(f.page, rows, l.keyOf, count), nil
}

// listLoad is what every parent of one list field shares: the validated
// page, the loaders of its pages and sizes, and whether rows are asked for.
type listLoad[T any] struct {
	page                  page
	err                   error
	pageShape, countShape string
	pages                 *dataloader.Loader[int64, []T]
	counts                *dataloader.Loader[int64, int]
	// fetchPages and fetchCounts read the pages and sizes of many parents
	// with one statement: the loaders' batches, and a peer group's.
	fetchPages  func(context.Context, []int64) (map[int64][]T, error)
	fetchCounts func(context.Context, []int64) (map[int64]int, error)
	// readPages is fetchPages with, when lookup is set, the parents
	// looked up by the same statement (lookupWithPage).
	readPages func(ctx context.Context, parents []int64, lookup *lookupParents) (map[int64][]T, error)
	wantsRows bool
	// extraRow is whether a page reads one row more than it shows, to
	// learn whether more follow: only when the query asks (pageInfo). A
	// deep page's comments are then 842 rows, not 920. totalCount needs
	// no extra row: a first page's statement reads its parents' totals
	// (firstPageTotal), and a page after a cursor learns no sizes.
	extraRow bool
	// countAsked, joined and counted say what is read beside the rows:
	// the parents' totalCounts (the page's own statement reads them for a
	// first page, firstPageTotal), users, sizes of lists under the rows.
	countAsked bool
	joined     []userEdge[T]
	counted    []childCount
	// sizes are the totalCounts of this kind of list known without
	// counting (listSizes).
	sizes *listSizes
	// nested holds the parents whose pages a statement of the parents
	// read with them (deliver).
	nested idSet
}

// firstPageTotal reports whether the page statement reads its parents'
// totalCounts: asked for, on a first page (no cursor: its conditions are
// the list's).
func (f *listLoad[T]) firstPageTotal() bool {
	return f.countAsked && f.page.after == nil && f.page.before == nil
}

// knownSize returns parent's totalCount when it is known without counting.
func (f *listLoad[T]) knownSize(parent int64) (int, bool) {
	return f.sizes.get(parent)
}

// learnSizes records, from a page batch, the size of every list the page
// held whole. Only a page without cursors counts every row the count
// would: a cursor leaves out the rows before it.
func (f *listLoad[T]) learnSizes(parents []int64, pages map[int64][]T) {
	if !f.extraRow || f.page.after != nil || f.page.before != nil {
		return
	}
	for _, id := range parents {
		if n := len(pages[id]); n <= f.page.limit {
			f.sizes.set(id, n)
		}
	}
}

// fetchLimit is how many rows a page statement reads for each parent: the
// page, and the extra row when it is read.
func (f *listLoad[T]) fetchLimit() int {
	if f.extraRow {
		return f.page.fetchLimit()
	}
	return f.page.limit
}

// fieldKey names one list field of an operation: the same field (its
// node in the parsed document) has the same arguments and selection for
// every parent it is resolved for.
type fieldKey struct {
	list  string
	field *ast.Field
}

// loadedIn reports whether loadPage answers for parent, of group g,
// without waiting (listLoaded).
func (f *listLoad[T]) loadedIn(g *loaders.PeerGroup, parent int64) bool {
	if f.err != nil || !f.wantsRows {
		return true
	}
	return g.Loaded(f.pageShape) || f.nested.has(parent)
}

// listLoadOf returns the list load of the field being resolved, worked out
// by its first parent and kept in the request's loaders for the others.
func listLoadOf[Q childQuery[Q, T, P, S], T row, P ~func(*sql.Selector), S scanner](
	ctx context.Context, lds *loaders.Loaders, l childList[Q, T, P, S], args pageArgs,
) *listLoad[T] {
	sel := selectionOf(ctx)
	if !sel.known() {
		return newListLoad(ctx, lds, l, args, sel)
	}
	return loaders.Memo(lds, fieldKey{l.name, sel.field}, func() *listLoad[T] { return newListLoad(ctx, lds, l, args, sel) })
}

// newListLoad works out the list load of l selected as sel (the zero
// selection outside an operation) with args.
func newListLoad[Q childQuery[Q, T, P, S], T row, P ~func(*sql.Selector), S scanner](
	ctx context.Context, lds *loaders.Loaders, l childList[Q, T, P, S], args pageArgs, sel selection,
) *listLoad[T] {
	p, err := newPage(args, l.key)
	if err != nil {
		return &listLoad[T]{err: err}
	}
	extraRow := !sel.known() || selects(sel, "pageInfo")
	f := &listLoad[T]{
		page: p,
		// Pages with and without the extra row, or their parents'
		// totals (firstPageTotal), are different batches.
		pageShape:  shapeOf("page", l.name, l.shape, args, l.key.name, extraRow, selects(sel, "totalCount")),
		countShape: countShapeOf(l.name, l.shape),
		wantsRows:  wantsRows(sel),
		extraRow:   extraRow,
	}
	f.sizes = sizesOf(lds, f.countShape)
	// The page's shape is the same whichever users it joins and sizes it
	// reads: the first parent's selection is every parent's (one field,
	// one selection).
	joined := selectedUserEdges(lds, sel, l.users)
	counted := selectedCounts(sel, l.counts)
	// A first page (no cursor: its conditions are the list's) counts its
	// parents' rows too when totalCount is asked for.
	f.countAsked, f.joined, f.counted = selects(sel, "totalCount"), joined, counted
	withTotal := f.firstPageTotal()
	// The rows carry only the columns the selection needs (a deep page's
	// comments: no timestamps but the sort key, no version); such rows
	// stay out of the by-id loaders, which hand out whole rows.
	columns, whole := l.columnsFor(sel)
	var nested []nestPlan
	if sel.known() {
		nested = planNests(ctx, lds, sel.nodes(), l.nests, true, counted)
	}
	f.readPages = func(ctx context.Context, parents []int64, lookup *lookupParents) (map[int64][]T, error) {
		q := l.query().Where(l.where...).Where(P(p.where))
		if !whole {
			q.Select(columns...)
		}
		joins := make([]loaders.Join, len(joined))
		for i, e := range joined {
			joins[i] = e.join()
		}
		counts := make([]loaders.Count, len(counted))
		for i, c := range counted {
			counts[i] = c.count(ctx)
		}
		with := loaders.With{Total: withTotal, StoredTotal: l.stored, Counts: counts, Joins: joins, Nests: nests(nested),
			JoinAfter: loaders.JoinsAfter(len(parents), f.fetchLimit(), lookup != nil)}
		if lookup != nil {
			with.Lookup = lookup.from
		}
		q.Modify(loaders.FirstPerParent(l.parent, parents, f.fetchLimit(), p.orderTerms, with))
		rows, err := q.All(database.WithColumnTypesRemembered(ctx))
		if err != nil {
			return nil, err
		}
		if lookup != nil {
			// The parents are the lookup's; a parent with an empty page
			// came back as a row of nulls (id 0), which is no row.
			read := make([]loaders.Row, len(rows))
			for i, row := range rows {
				read[i] = row
			}
			if parents, err = lookup.found(read); err != nil {
				return nil, err
			}
			rows = slices.DeleteFunc(rows, func(row T) bool { return l.idOf(row) == 0 })
		}
		// Each parent's extra row only tells whether more follow: it is no
		// peer, so nobody loads the edges of a row nobody sees.
		shown := make([]T, 0, len(rows))
		out := make(map[int64][]T, len(parents))
		for _, row := range rows {
			id, err := l.parentIDOf(row)
			if err != nil {
				return nil, err
			}
			if len(out[id]) < p.limit {
				shown = append(shown, row)
			}
			out[id] = append(out[id], row)
		}
		g := loaders.AddPeers(&lds.Peers, shown)
		if whole {
			loaders.Prime(ctx, lds, shown...)
		}
		for _, e := range joined {
			if err := handOverUsers(ctx, lds, g, e, shown, joinedIn(shown, e.join(), with.JoinAfter)); err != nil {
				return nil, err
			}
		}
		if err := deliverNests(ctx, nested, g, shown, l.idOf); err != nil {
			return nil, err
		}
		if withTotal {
			for _, row := range rows {
				id, err := l.parentIDOf(row)
				if err != nil {
					return nil, err
				}
				n, err := loaders.Counted(row, loaders.TotalColumn)
				if err != nil {
					return nil, err
				}
				f.sizes.set(id, n)
			}
		}
		if lookup != nil {
			f.readWithParents(ctx, parents, out)
		}
		for i, c := range counted {
			sizes := sizesOf(lds, countShapeOf(c.list, nil))
			for _, row := range shown {
				n, err := loaders.Counted(row, counts[i].As)
				if err != nil {
					return nil, err
				}
				_, id := l.keyOf(row)
				sizes.set(id, n)
			}
		}
		f.learnSizes(parents, out)
		return out, nil
	}
	f.fetchPages = func(ctx context.Context, parents []int64) (map[int64][]T, error) {
		return f.readPages(ctx, parents, nil)
	}
	f.fetchCounts = func(ctx context.Context, parents []int64) (map[int64]int, error) {
		// Sizes a page showed whole are known: count only the others.
		out := make(map[int64]int, len(parents))
		unknown := make([]int64, 0, len(parents))
		for _, id := range parents {
			if n, ok := f.knownSize(id); ok {
				out[id] = n
			} else {
				unknown = append(unknown, id)
			}
		}
		if len(unknown) == 0 {
			return out, nil
		}
		count := loaders.CountPerParent(l.parent, unknown)
		if l.stored != nil {
			count = loaders.StoredPerParent(*l.stored, unknown)
		}
		var rows []loaders.ParentCount
		if err := l.query().Where(l.where...).Modify(count).Scan(ctx, &rows); err != nil {
			return nil, err
		}
		for _, r := range rows {
			out[r.Parent] = r.Count
		}
		return out, nil
	}
	f.pages = loaders.PerParent(lds, f.pageShape, f.fetchPages)
	f.counts = loaders.PerParent(lds, f.countShape, f.fetchCounts)
	return f
}

// selects reports whether sel selects field (through fragments too).
func selects(sel selection, field string) bool {
	if !sel.known() {
		return false
	}
	return slices.Contains(sel.names(), field)
}

// wantsRows reports whether the connection field sel selects anything
// besides totalCount.
func wantsRows(sel selection) bool {
	if !sel.known() {
		return true
	}
	for _, f := range sel.names() {
		if f != "totalCount" && f != "__typename" {
			return true
		}
	}
	return false
}

// viewerRole is the viewer's role in organization orgID, or nil; the roles
// in every organization of a level load in one statement.
func (r *Resolver) viewerRole(ctx context.Context, userID, orgID int64) (*membership.Role, error) {
	return onePerParent(ctx, r, shapeOf("one", "Organization.viewerRole", userID), orgID,
		func(ctx context.Context, orgs []int64) ([]*ent.Membership, error) {
			return r.client.Membership.Query().Where(membership.OrganizationIDIn(orgs...), membership.UserID(userID)).All(ctx)
		},
		func(m *ent.Membership) (int64, *membership.Role) { return m.OrganizationID, &m.Role })
}

// projectOfOrganization is the project with key in organization orgID, or
// nil; one statement for the organizations of a level.
func (r *Resolver) projectOfOrganization(ctx context.Context, orgID int64, key string) (*ent.Project, error) {
	return onePerParent(ctx, r, shapeOf("one", "Organization.project", key), orgID,
		func(ctx context.Context, orgs []int64) ([]*ent.Project, error) {
			return r.client.Project.Query().Where(project.OrganizationIDIn(orgs...), project.Key(key)).All(ctx)
		},
		func(p *ent.Project) (int64, *ent.Project) { return p.OrganizationID, p })
}

// issueOfProject is the issue numbered number in project projectID, or
// nil; one statement for the projects of a level.
func (r *Resolver) issueOfProject(ctx context.Context, projectID int64, number int) (*ent.Issue, error) {
	return onePerParent(ctx, r, shapeOf("one", "Project.issue", number), projectID,
		func(ctx context.Context, projects []int64) ([]*ent.Issue, error) {
			return r.client.Issue.Query().Where(issue.ProjectIDIn(projects...), issue.Number(number)).All(ctx)
		},
		func(i *ent.Issue) (int64, *ent.Issue) { return i.ProjectID, i })
}

// onePerParent loads what parent has at most one of (a membership, the
// project with a key, the issue with a number) with the same thing of
// every parent of its level, in one statement: fetch reads the rows of
// parents, pick says whose each row is and what the field returns of it.
func onePerParent[T, V any](ctx context.Context, r *Resolver, shape string, parent int64,
	fetch func(ctx context.Context, parents []int64) ([]T, error), pick func(T) (int64, V),
) (V, error) {
	ld := loaders.PerParent(r.loadersFor(ctx), shape, func(ctx context.Context, parents []int64) (map[int64]V, error) {
		rows, err := fetch(ctx, parents)
		if err != nil {
			return nil, err
		}
		out := make(map[int64]V, len(rows))
		for _, row := range rows {
			id, v := pick(row)
			out[id] = v
		}
		return out, nil
	})
	return ld.Load(ctx, parent)()
}
