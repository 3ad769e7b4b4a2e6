package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

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
// joined returns the JSON object read with row i (nil for none).
func handOverUsers[T any](ctx context.Context, lds *loaders.Loaders, g *loaders.PeerGroup, e userEdge[T], rows []T, joined func(i int) ([]byte, error)) error {
	results := make(map[int64]*dataloader.Result[*ent.User], len(rows))
	users := lds.UsersOf(e.edge)
	for i, r := range rows {
		id := e.target(r)
		if id == 0 || results[id] != nil {
			continue
		}
		raw, err := joined(i)
		if err != nil {
			return fmt.Errorf("reading %s: %w", e.edge, err)
		}
		if raw == nil {
			results[id] = &dataloader.Result[*ent.User]{Error: fmt.Errorf("%s %d: %w", e.edge, id, loaders.ErrNotFound)}
			continue
		}
		u := &ent.User{}
		if err := decodeJoinedUser(raw, u); err != nil {
			return fmt.Errorf("reading %s: %w", e.edge, err)
		}
		results[id] = &dataloader.Result[*ent.User]{Data: u}
		users.Prime(ctx, id, u)
	}
	if g != nil {
		g.Preload(e.edge, results)
	}
	return nil
}

// joinedIn reads the JSON objects a statement joined with rows, in the
// column as (loaders.Join).
func joinedIn[T row](rows []T, as string) func(i int) ([]byte, error) {
	return func(i int) ([]byte, error) { return loaders.Joined(rows[i], as) }
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

// decodeJoinedUser reads into u a user a page read with its rows: the
// object json_build_object wrote of joinedUserFields (loaders.Join). It is
// the hot part of a deep page (a thousand comment authors), so it reads
// that flat object directly instead of through encoding/json's reflection;
// anything else it meets (a nested value, a key it does not know, bad
// syntax) hands the whole object to encoding/json, which then decides.
// TestDecodeJoinedUserMatchesEncodingJSON holds the two to the same
// results.
func decodeJoinedUser(b []byte, u *ent.User) error {
	if ok := decodeFlatUser(b, u); ok {
		return nil
	}
	*u = ent.User{}
	if err := json.Unmarshal(b, u); err != nil {
		return fmt.Errorf("decoding a joined user: %w", err)
	}
	return nil
}

// decodeFlatUser decodes b, reporting false when it is not a flat object
// of the user's fields that it can read exactly.
func decodeFlatUser(b []byte, u *ent.User) bool {
	r := flatReader{b: b}
	if !r.byte('{') {
		return false
	}
	if r.byte('}') {
		return r.end()
	}
	for {
		key, ok := r.string()
		if !ok || !r.byte(':') {
			return false
		}
		switch string(key) {
		case user.FieldID:
			num, ok := r.number()
			if !ok {
				return false
			}
			id, err := strconv.ParseInt(string(num), 10, 64)
			if err != nil {
				return false
			}
			u.ID = id
		case user.FieldCreatedAt, user.FieldUpdatedAt:
			s, ok := r.string()
			if !ok {
				return false
			}
			t := &u.CreatedAt
			if string(key) == user.FieldUpdatedAt {
				t = &u.UpdatedAt
			}
			if err := t.UnmarshalText(s); err != nil {
				return false
			}
		case user.FieldEmail, user.FieldName:
			s, ok := r.string()
			if !ok {
				return false
			}
			if string(key) == user.FieldEmail {
				u.Email = string(s)
			} else {
				u.Name = string(s)
			}
		default:
			return false
		}
		if r.byte(',') {
			continue
		}
		return r.byte('}') && r.end()
	}
}

// flatReader reads the tokens of a flat JSON object. A string with an
// escape, a number that is not a plain integer, or any other value is
// not read (false): decodeJoinedUser then leaves it to encoding/json.
type flatReader struct {
	b []byte
	i int
}

func (r *flatReader) space() {
	for r.i < len(r.b) && (r.b[r.i] == ' ' || r.b[r.i] == '\n' || r.b[r.i] == '\t' || r.b[r.i] == '\r') {
		r.i++
	}
}

// byte consumes c, after white space, if it is next.
func (r *flatReader) byte(c byte) bool {
	r.space()
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (r *flatReader) end() bool {
	r.space()
	return r.i == len(r.b)
}

// string reads a string without escapes or control characters.
func (r *flatReader) string() ([]byte, bool) {
	if !r.byte('"') {
		return nil, false
	}
	n := bytes.IndexByte(r.b[r.i:], '"')
	if n < 0 {
		return nil, false
	}
	s := r.b[r.i : r.i+n]
	for _, c := range s {
		if c == '\\' || c < 0x20 {
			return nil, false
		}
	}
	r.i += n + 1
	return s, true
}

// number reads an integer as JSON writes it: an optional minus and digits,
// without leading zeros.
func (r *flatReader) number() ([]byte, bool) {
	r.space()
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	digits := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	if r.i == digits || (r.b[digits] == '0' && r.i > digits+1) ||
		(r.i < len(r.b) && (r.b[r.i] == '.' || r.b[r.i] == 'e' || r.b[r.i] == 'E')) {
		return nil, false
	}
	return r.b[start:r.i], true
}
