package graph

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/graph-gophers/dataloader/v7"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/user"
	"github.com/issuegraph/issuegraph/loaders"
)

// Users read with the rows that point at them: a page's (an issue's
// assignee and author, a comment's author) or a lookup's (an issue by its
// key), in the same statement, handed to the edges' resolvers.

// userEdge is a to-one edge from a list's rows to users (an issue's
// assignee, a comment's author). When a query selects it under the list's
// edges { node }, the page reads the users with the rows, in the same
// statement (loaders.Join), and hands them to the edge's resolvers through
// the rows' peer group.
type userEdge[T any] struct {
	edge   string        // "Issue.assignee": the resolvers' group batch and loader
	field  string        // "assignee": the field selected under node
	column string        // the rows' column holding the user's id
	target func(T) int64 // a row's user id, 0 for none

	// Set for an edge a statement reads (selectedEdges): the columns its
	// selections need (userColumns) and the batches its resolvers ask
	// for, one per distinct selection (userBatch).
	columns []string
	batches []string
}

// joinedUserFields are the columns of a user a page reads with its rows:
// all but the password hash, which no read needs.
var joinedUserFields = []string{user.FieldID, user.FieldCreatedAt, user.FieldUpdatedAt, user.FieldEmail, user.FieldName}

// userFieldColumns are the columns each field of User reads from the
// user: its own, or, for a resolver, what the resolver reads of it (the
// id, and the email for invitations). A page reads only the columns its
// selections of a user need (a deep page's comment authors: id and name,
// not two timestamps and an email per comment), and a field not listed
// here reads them all.
var userFieldColumns = map[string][]string{
	"__typename":     nil,
	"id":             nil,
	"name":           {user.FieldName},
	"email":          {user.FieldEmail},
	"createdAt":      {user.FieldCreatedAt},
	"memberships":    nil,
	"assignedIssues": nil,
	"invitations":    {user.FieldEmail},
}

// userColumns returns the columns of users the selections of a user field
// need, in joinedUserFields' order: always the id.
func userColumns(sels []selection) []string {
	return selectedColumns(sels, userFieldColumns, joinedUserFields, []string{user.FieldID})
}

// selectedColumns returns the columns of all (in all's order) that the
// objects selected as sels need: kept, and those of each field they
// select (fields, the columns each field reads); all of them when one
// selects a field fields does not know.
func selectedColumns(sels []selection, fields map[string][]string, all, kept []string) []string {
	need := map[string]bool{}
	for _, c := range kept {
		need[c] = true
	}
	for _, s := range sels {
		for _, name := range s.names() {
			cols, ok := fields[name]
			if !ok {
				return all
			}
			for _, c := range cols {
				need[c] = true
			}
		}
	}
	out := make([]string, 0, len(need))
	for _, c := range all {
		if need[c] {
			out = append(out, c)
		}
	}
	return out
}

// userBatchKey names the batch of a user edge for one selection of it
// (the field node that keys it).
type userBatchKey struct {
	edge  string
	field *ast.Field
}

// userBatches are the batch names of a request's user edge selections,
// worked out once per field of the operation (a deep page asks for
// them once per comment).
type userBatches struct {
	mu    sync.RWMutex
	names map[userBatchKey]string
}

type userBatchesKey struct{}

func batchesOf(lds *loaders.Loaders) *userBatches {
	return loaders.Memo(lds, userBatchesKey{}, func() *userBatches {
		return &userBatches{names: map[userBatchKey]string{}}
	})
}

// userBatch returns the name of the batch in which the resolvers of edge
// selected as sel find their users (their loader, lds.UsersOf, and their
// group batch): the edge and the columns sel needs (userColumns). A
// statement that read users with only the columns its selections need
// hands them over under those selections' names, so a resolver that
// reaches the same rows through another selection, which may need more,
// never finds them there: it reads its own. Two selections of one edge
// that need different columns (aliases, two depths) batch apart.
func userBatch(lds *loaders.Loaders, edge string, sel selection) string {
	if !sel.known() {
		return edge
	}
	if name, ok := knownUserBatch(lds, edge, sel.field); ok {
		return name
	}
	name := edge + " " + strings.Join(userColumns([]selection{sel}), ",")
	bs := batchesOf(lds)
	bs.mu.Lock()
	defer bs.mu.Unlock()
	bs.names[userBatchKey{edge, sel.field}] = name
	return name
}

// knownUserBatch returns userBatch's name for the selection of edge keyed
// by field once it has been worked out.
func knownUserBatch(lds *loaders.Loaders, edge string, field *ast.Field) (string, bool) {
	bs := batchesOf(lds)
	bs.mu.RLock()
	defer bs.mu.RUnlock()
	name, ok := bs.names[userBatchKey{edge, field}]
	return name, ok
}

// userBatchOf is userBatch for the selection being resolved.
func userBatchOf(ctx context.Context, lds *loaders.Loaders, edge string) string {
	if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Field.Field != nil {
		if name, ok := knownUserBatch(lds, edge, fc.Field.Field); ok {
			return name
		}
	}
	return userBatch(lds, edge, selectionOf(ctx))
}

// join is how a statement reads e's users with the rows (loaders.Join).
func (e userEdge[T]) join() loaders.Join {
	return loaders.Join{As: "joined_" + e.field, Table: user.Table, Column: e.column, Fields: e.columns}
}

// handOverUsers gives the resolvers of edge e the users a page or lookup
// read with rows, for each selection of the edge (e.batches): in the
// selection's loader, and, for the rows' group g, as the result of the
// selection's group batch (what groupUser would read). A user the viewer
// may not see came back as no row: not found. joined returns the user
// read with row i (nil for none).
func handOverUsers[T any](ctx context.Context, lds *loaders.Loaders, g *loaders.PeerGroup, e userEdge[T], rows []T, joined func(i int) (*ent.User, error)) error {
	results := make(map[int64]*dataloader.Result[*ent.User], len(rows))
	users := make([]*dataloader.Loader[int64, *ent.User], len(e.batches))
	for i, b := range e.batches {
		users[i] = lds.UsersOf(b)
	}
	for i, r := range rows {
		id := e.target(r)
		if id == 0 || results[id] != nil {
			continue
		}
		u, err := joined(i)
		if err != nil {
			return fmt.Errorf("reading %s: %w", e.edge, err)
		}
		if u == nil {
			results[id] = &dataloader.Result[*ent.User]{Error: fmt.Errorf("%s %d: %w", e.edge, id, loaders.ErrNotFound)}
			continue
		}
		results[id] = &dataloader.Result[*ent.User]{Data: u}
		for _, ld := range users {
			ld.Prime(ctx, id, u)
		}
	}
	if g != nil {
		for _, b := range e.batches {
			g.Preload(b, results)
		}
	}
	return nil
}

// joinedIn reads the users a statement joined with rows (the records of
// j's columns, loaders.Join, or, for a page that joined after its rows,
// the columns of their fields, loaders.JoinsAfter): nil where there was
// none.
func joinedIn[T row](rows []T, j loaders.Join, after bool) func(i int) (*ent.User, error) {
	if after {
		return func(i int) (*ent.User, error) {
			values, err := loaders.JoinedFields(rows[i], j)
			if err != nil || values == nil {
				return nil, err
			}
			u := &ent.User{}
			for k, f := range j.Fields {
				if err := setUserValue(u, f, values[k]); err != nil {
					return nil, fmt.Errorf("reading %s: %w", loaders.JoinedField(j, f), err)
				}
			}
			return u, nil
		}
	}
	return func(i int) (*ent.User, error) {
		raw, err := loaders.Joined(rows[i], j.As)
		if err != nil || raw == nil {
			return nil, err
		}
		u := &ent.User{}
		if err := decodeUserRecord(raw, j.Fields, u); err != nil {
			return nil, err
		}
		return u, nil
	}
}

// joinSelected reads with an object looked up on its own (an issue by its
// key) the users of edges and the lists of lists its field selects: it
// returns the query modifier that reads them, and what hands them to the
// edges' and lists' loaders once the rows are read. The joined users need
// no privacy check of their own (loaders.Join); the nested lists have
// theirs (nestedPage).
func joinSelected[T row](ctx context.Context, lds *loaders.Loaders, edges []userEdge[T], lists []nestedList, idOf func(T) int64) (func(*sql.Selector), func([]T) error) {
	sel := selectionOf(ctx)
	if !sel.known() {
		return func(*sql.Selector) {}, func([]T) error { return nil }
	}
	selected := selectedEdges(lds, []selection{sel}, edges)
	joins := make([]loaders.Join, len(selected))
	for i, e := range selected {
		joins[i] = e.join()
	}
	plans := planNests(ctx, lds, []selection{sel}, lists, false, nil)
	return loaders.JoinEach(joins, nests(plans)), func(rows []T) error {
		for _, e := range selected {
			if err := handOverUsers(ctx, lds, nil, e, rows, joinedIn(rows, e.join(), false)); err != nil {
				return err
			}
		}
		return deliverNests(ctx, plans, nil, rows, idOf)
	}
}

// selectedUserEdges returns the edges of edges the connection field sel
// selects under edges { node } (as the executor collects fields).
func selectedUserEdges[T any](lds *loaders.Loaders, sel selection, edges []userEdge[T]) []userEdge[T] {
	if len(edges) == 0 || !sel.known() {
		return nil
	}
	return selectedEdges(lds, sel.nodes(), edges)
}

// selectedEdges returns the edges of edges that one of objects (the
// selections of the objects the edges start from) selects, each with the
// columns its selections need and their batches.
func selectedEdges[T any](lds *loaders.Loaders, objects []selection, edges []userEdge[T]) []userEdge[T] {
	var out []userEdge[T]
	for _, e := range edges {
		var sels []selection
		for _, o := range objects {
			sels = append(sels, o.children(e.field)...)
		}
		if len(sels) == 0 {
			continue
		}
		e.columns = userColumns(sels)
		for _, s := range sels {
			if b := userBatch(lds, e.edge, s); !slices.Contains(e.batches, b) {
				e.batches = append(e.batches, b)
			}
		}
		out = append(out, e)
	}
	return out
}
