package graph

import (
	"context"
	"fmt"
	"slices"

	"entgo.io/ent/dialect/sql"
	"github.com/graph-gophers/dataloader/v7"

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
}

// joinedUserFields are the columns of a user a page reads with its rows:
// all but the password hash, which no read needs.
var joinedUserFields = []string{user.FieldID, user.FieldCreatedAt, user.FieldUpdatedAt, user.FieldEmail, user.FieldName}

// join is how a statement reads e's users with the rows (loaders.Join).
func (e userEdge[T]) join() loaders.Join {
	return loaders.Join{As: "joined_" + e.field, Table: user.Table, Column: e.column, Fields: joinedUserFields}
}

// handOverUsers gives the resolvers of edge e the users a page read with
// rows: as the result of the rows' group batch for the edge (what
// groupUser would read), and in the edge's loader for a row without a
// group. A user the viewer may not see came back as no row: not found.
// joined returns the user read with row i (nil for none).
func handOverUsers[T any](ctx context.Context, lds *loaders.Loaders, g *loaders.PeerGroup, e userEdge[T], rows []T, joined func(i int) (*ent.User, error)) error {
	results := make(map[int64]*dataloader.Result[*ent.User], len(rows))
	users := lds.UsersOf(e.edge)
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
		users.Prime(ctx, id, u)
	}
	if g != nil {
		g.Preload(e.edge, results)
	}
	return nil
}

// joinedIn reads the users a statement joined with rows, in the column as
// (loaders.Join): nil where there was none.
func joinedIn[T row](rows []T, as string) func(i int) (*ent.User, error) {
	return func(i int) (*ent.User, error) {
		raw, err := loaders.Joined(rows[i], as)
		if err != nil || raw == nil {
			return nil, err
		}
		u := &ent.User{}
		if err := decodeFlat(raw, u); err != nil {
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
	selected := selectedEdges([]selection{sel}, edges)
	joins := make([]loaders.Join, len(selected))
	for i, e := range selected {
		joins[i] = e.join()
	}
	plans := planNests(ctx, lds, []selection{sel}, lists, false, nil)
	return loaders.JoinEach(joins, nests(plans)), func(rows []T) error {
		for _, e := range selected {
			if err := handOverUsers(ctx, lds, nil, e, rows, joinedIn(rows, e.join().As)); err != nil {
				return err
			}
		}
		return deliverNests(ctx, plans, nil, rows, idOf)
	}
}

// selectedUserEdges returns the edges of edges the connection field sel
// selects under edges { node } (as the executor collects fields).
func selectedUserEdges[T any](sel selection, edges []userEdge[T]) []userEdge[T] {
	if len(edges) == 0 || !sel.known() {
		return nil
	}
	return selectedEdges(sel.nodes(), edges)
}

// selectedEdges returns the edges of edges that one of objects (the
// selections of the objects the edges start from) selects.
func selectedEdges[T any](objects []selection, edges []userEdge[T]) []userEdge[T] {
	var out []userEdge[T]
	for _, e := range edges {
		if slices.ContainsFunc(objects, func(o selection) bool { return len(o.children(e.field)) > 0 }) {
			out = append(out, e)
		}
	}
	return out
}
