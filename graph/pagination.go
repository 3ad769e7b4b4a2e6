package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/issuegraph/issuegraph/graph/model"
)

// Page sizes: a connection without first/last returns DefaultPageSize
// items; first/last outside 1..MaxPageSize is refused.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// sortKey is the column a list is ordered by (ties broken by id) and how to
// read and parse its values in cursors.
type sortKey struct {
	name   string // stable name written into cursors
	column string
	kind   keyKind
	desc   bool
}

type keyKind int

const (
	kindTime keyKind = iota
	kindInt
	kindString
)

// cursor marks a position in a list: the sort value and id of one row.
type cursor struct {
	Key   string `json:"k"`
	Value string `json:"v"`
	ID    int64  `json:"i"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c) // a struct of strings and an int cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// formatKey renders a sort value for a cursor.
func formatKey(v any) string {
	switch v := v.(type) {
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case string:
		return v
	}
	panic(fmt.Sprintf("unsupported sort value %T", v))
}

// pageArgs are the Relay arguments of a connection field.
type pageArgs struct {
	First, Last   *int
	After, Before *string
}

// page is a validated request for one page.
type page struct {
	key      sortKey
	limit    int
	backward bool // paginating with last/before
	after    *cursor
	before   *cursor
}

// newPage validates the Relay arguments against key.
func newPage(a pageArgs, key sortKey) (page, error) {
	p := page{key: key, limit: DefaultPageSize}
	if a.First != nil && a.Last != nil {
		return p, Errorf(CodeBadUserInput, "pass either first or last, not both")
	}
	if a.First != nil {
		if *a.First < 1 || *a.First > MaxPageSize {
			return p, Errorf(CodeBadUserInput, "first must be between 1 and %d, got %d", MaxPageSize, *a.First)
		}
		p.limit = *a.First
	}
	if a.Last != nil {
		if *a.Last < 1 || *a.Last > MaxPageSize {
			return p, Errorf(CodeBadUserInput, "last must be between 1 and %d, got %d", MaxPageSize, *a.Last)
		}
		p.limit, p.backward = *a.Last, true
	}
	var err error
	if a.After != nil {
		if p.after, err = decodeCursor(*a.After, key); err != nil {
			return p, err
		}
	}
	if a.Before != nil {
		if p.before, err = decodeCursor(*a.Before, key); err != nil {
			return p, err
		}
		if a.Last == nil && a.First == nil {
			p.backward = true
		}
	}
	return p, nil
}

func decodeCursor(s string, key sortKey) (*cursor, error) {
	bad := Errorf(CodeBadUserInput, "invalid cursor %q: pass a cursor from this list", truncate(s, 40))
	if len(s) > 512 {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil || c.ID <= 0 {
		return nil, bad
	}
	if c.Key != key.name {
		return nil, Errorf(CodeBadUserInput, "cursor %q belongs to a list in another order; pass a cursor from this list", truncate(s, 40))
	}
	if _, err := parseKey(c.Value, key.kind); err != nil {
		return nil, bad
	}
	return &c, nil
}

func parseKey(v string, kind keyKind) (any, error) {
	switch kind {
	case kindTime:
		return time.Parse(time.RFC3339Nano, v)
	case kindInt:
		return strconv.ParseInt(v, 10, 64)
	default:
		return v, nil
	}
}

// where restricts a query to the rows between the cursors.
func (p page) where(s *sql.Selector) {
	cols := []string{s.C(p.key.column), s.C("id")}
	bound := func(c *cursor, afterIt bool) {
		v, _ := parseKey(c.Value, p.key.kind) // validated in decodeCursor
		if afterIt != p.key.desc {
			s.Where(sql.CompositeGT(cols, v, c.ID))
		} else {
			s.Where(sql.CompositeLT(cols, v, c.ID))
		}
	}
	if p.after != nil {
		bound(p.after, true)
	}
	if p.before != nil {
		bound(p.before, false)
	}
}

// orderTerms are the ORDER BY terms of a page: reversed when paginating
// backward, so LIMIT takes the rows nearest the cursor.
func (p page) orderTerms(s *sql.Selector) []string {
	desc := p.key.desc != p.backward
	var terms []string
	for _, c := range []string{p.key.column, "id"} {
		if desc {
			terms = append(terms, sql.Desc(s.C(c)))
		} else {
			terms = append(terms, sql.Asc(s.C(c)))
		}
	}
	return terms
}

// fetchLimit is one more than the page, to learn whether more rows follow.
func (p page) fetchLimit() int { return p.limit + 1 }

// connection turns the rows of a query made with where, order and
// fetchLimit into a page. keyOf returns a row's sort value and id.
func connection[T any](p page, rows []T, keyOf func(T) (any, int64), count func(context.Context) (int, error)) *model.Connection[T] {
	more := len(rows) > p.limit
	if more {
		rows = rows[:p.limit]
	}
	if p.backward {
		// rows may be a loader's cached result, shared with an aliased
		// field asking for the same page: reverse a copy.
		rows = slices.Clone(rows)
		slices.Reverse(rows)
	}
	conn := &model.Connection[T]{
		Edges: make([]*model.Edge[T], len(rows)),
		Count: count,
	}
	cursorOf := func(row T) string {
		v, id := keyOf(row)
		return encodeCursor(cursor{Key: p.key.name, Value: formatKey(v), ID: id})
	}
	edges := make([]model.Edge[T], len(rows))
	for i, row := range rows {
		edges[i] = model.Edge[T]{Node: row, CursorOf: cursorOf}
		conn.Edges[i] = &edges[i]
	}
	if p.backward {
		conn.HasPrevious, conn.HasNext = more, p.before != nil
	} else {
		conn.HasNext, conn.HasPrevious = more, p.after != nil
	}
	return conn
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
