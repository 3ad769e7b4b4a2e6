package loaders

import (
	"fmt"

	"entgo.io/ent/dialect/sql"

	"github.com/issuegraph/issuegraph/ent"
)

// ParentColumn is the alias under which a per-parent query selects each
// row's parent id (read it back with ParentOf).
const ParentColumn = "parent_id"

// Parent restricts a query's selector to the children of parents and
// returns the SQL expression of a row's parent id, e.g. the qualified
// foreign key, or a join table's column for a many-to-many edge.
type Parent func(s *sql.Selector, parents []int64) string

// FirstPerParent is an ent query modifier that keeps, for each parent,
// the first limit rows in order (terms of an ORDER BY, built on the
// query's selector), with ROW_NUMBER() over a window partitioned by parent:
// the pages of many parents in one statement. It runs after the query's
// predicates, privacy filters included, so only rows the viewer may see
// are numbered. Rows come out grouped by parent, each group in order.
func FirstPerParent(parent Parent, parents []int64, limit int, order func(s *sql.Selector) []string) func(*sql.Selector) {
	return func(s *sql.Selector) {
		inner := s.Clone()
		expr := parent(inner, parents)
		inner.AppendSelectExprAs(sql.Expr(expr), ParentColumn)
		inner.AppendSelectExprAs(sql.RowNumber().PartitionExpr(sql.Expr(expr)).OrderBy(order(inner)...), "row_number")
		outer := sql.Dialect(s.Dialect()).Select("*").From(inner.As("ranked")).
			Where(sql.LTE("row_number", limit)).
			OrderBy(ParentColumn, "row_number")
		*s = *outer
	}
}

// CountPerParent is an ent query modifier that turns a query into one row
// per parent: its id (ParentColumn) and how many rows it has ("count").
// Scan the result into []ParentCount.
func CountPerParent(parent Parent, parents []int64) func(*sql.Selector) {
	return func(s *sql.Selector) {
		expr := parent(s, parents)
		s.Select(sql.As(expr, ParentColumn), sql.As(sql.Count("*"), "count")).GroupBy(expr)
	}
}

// ParentCount is one row of a CountPerParent query.
type ParentCount struct {
	Parent int64 `sql:"parent_id"`
	Count  int   `sql:"count"`
}

// Counts turns CountPerParent rows into a map; parents without rows are
// absent, that is zero.
func Counts(rows []ParentCount) map[int64]int {
	out := make(map[int64]int, len(rows))
	for _, r := range rows {
		out[r.Parent] = r.Count
	}
	return out
}

// ParentOf reads the parent id a FirstPerParent query selected with a row.
func ParentOf(row interface {
	Value(string) (ent.Value, error)
}) (int64, error) {
	v, err := row.Value(ParentColumn)
	if err != nil {
		return 0, fmt.Errorf("reading parent id: %w", err)
	}
	switch v := v.(type) {
	case int64:
		return v, nil
	case *any:
		if id, ok := (*v).(int64); ok {
			return id, nil
		}
	}
	return 0, fmt.Errorf("parent id of unexpected type %T", v)
}

// ByColumn is the Parent of a one-to-many edge whose children hold the
// parent's id in column.
func ByColumn(column string) Parent {
	return func(s *sql.Selector, parents []int64) string {
		c := s.C(column)
		s.Where(sql.In(c, anys(parents)...))
		return c
	}
}

// ThroughTable is the Parent of a many-to-many edge: the join table holds
// (parentColumn, childColumn) pairs, childColumn pointing at the queried
// table's id.
func ThroughTable(table, parentColumn, childColumn string) Parent {
	return func(s *sql.Selector, parents []int64) string {
		t := sql.Table(table)
		s.Join(t).On(s.C("id"), t.C(childColumn))
		c := t.C(parentColumn)
		s.Where(sql.In(c, anys(parents)...))
		return c
	}
}

func anys(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
