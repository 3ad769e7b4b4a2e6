package loaders

import (
	"fmt"
	"strings"

	"entgo.io/ent/dialect/sql"
	"github.com/lib/pq"

	"github.com/issuegraph/issuegraph/ent/ent"
)

// ParentColumn is the alias under which a per-parent query selects each
// row's parent id (read it back with ParentOf).
const ParentColumn = "parent_id"

// Parent says how a child row points at its parent: the SQL expression of
// the parent id on a query's selector (the qualified foreign key of a
// one-to-many edge, or, after joining it, a join table's column for a
// many-to-many edge), the predicate that keeps one parent's rows (Is),
// and whether that id is one of the child's own columns.
type Parent struct {
	expr func(s *sql.Selector) string
	// is selects the rows of s under one parent (see Is).
	is func(s *sql.Selector, parent string) *sql.Predicate
	// own is true when the parent id is a field of the child entity, read
	// back from it; otherwise FirstPerParent selects it as ParentColumn.
	own bool
}

// Is returns the predicate on s "the row is under the parent whose id is
// the SQL expression parent": its foreign key equals it, or, through a
// join table, its id is one of that parent's (an issue's labels:
// id = ANY(ARRAY(SELECT label_id FROM issue_labels WHERE issue_id =
// parent))). For one parent's rows the array is a few ids, each looked up
// or matched by the table's own key, where a join of the table with the
// join table had PostgreSQL hash the join table's rows for every parent
// (a board's labels: 13% of its statement).
func (p Parent) Is(s *sql.Selector, parent string) *sql.Predicate { return p.is(s, parent) }

// Own reports whether the parent id is one of the child's own fields, so
// callers read it from the entity rather than with ParentOf.
func (p Parent) Own() bool { return p.own }

// FirstPerParent is an ent query modifier that keeps, for each parent,
// the first limit rows in order (ORDER BY terms built on the query's
// selector): the pages of many parents in one statement,
//
//	SELECT ranked.<columns> FROM unnest($1::bigint[]) AS parents(id)
//	CROSS JOIN LATERAL (<the query> AND parent = parents.id ORDER BY ... LIMIT n) AS ranked
//
// so PostgreSQL reads each parent's first rows from an index rather than
// numbering all its rows. It runs after the query's predicates, privacy
// filters included, so only rows the viewer may see are counted. Rows come
// out grouped by parent, each group in order.
//
// order's terms name only columns of the selector they are built on (the
// entity's own): the outer query orders each parent's rows by the same
// terms on "ranked" rather than by a row number, which would cost a window
// per parent (a deep page's 200 comment pages: a tenth of the statement).
//
// The outer query selects the entity's own columns, plus ParentColumn
// only when the parent id is not one of them: ent scans a column it does
// not know through database/sql's ColumnTypes, which allocates on every
// row.
//
// with adds what the page reads beside its rows, in the same statement
// (see With). Its joins are read by a lookup per row, or, with
// With.JoinAfter, after the page (joinPaged).
func FirstPerParent(parent Parent, parents []int64, limit int, order func(s *sql.Selector) []string, with With) func(*sql.Selector) {
	return func(s *sql.Selector) {
		counts, joins, nests := with.Counts, with.Joins, with.Nests
		var total *sql.Selector
		switch {
		case with.Total && with.StoredTotal != nil:
			total = with.StoredTotal.of(s.Dialect(), `"parents"."id"`)
		case with.Total:
			// The query's own conditions, privacy filters included, for
			// each parent: its totalCount.
			total = s.Clone().Select().ClearOrder()
			total.AppendSelectExprAs(sql.Expr(sql.Count("*")), TotalColumn).
				Where(parent.Is(total, `"parents"."id"`))
		}
		inner := s.Clone()
		columns := inner.UnqualifiedColumns()
		terms := order(inner)
		inner.Where(parent.Is(inner, `"parents"."id"`)).
			OrderBy(terms...).
			Limit(limit)
		// names are the columns the statement returns, in order: the
		// page's own, then what it reads beside them.
		names := append([]string{}, columns...)
		if !parent.own {
			inner.AppendSelectExprAs(sql.Expr(`"parents"."id"`), ParentColumn)
			names = append(names, ParentColumn)
		}
		outer := make([]string, 0, len(names)+4)
		for _, c := range names {
			outer = append(outer, `"ranked".`+s.Builder.Quote(c))
		}
		if total != nil {
			outer = append(outer, `"total"."`+TotalColumn+`"`)
			names = append(names, TotalColumn)
		}
		for _, c := range counts {
			outer = append(outer, `"`+c.As+`"."`+c.As+`"`)
			names = append(names, c.As)
		}
		for _, n := range nests {
			for _, c := range n.columns() {
				outer = append(outer, `"`+n.As+`"."`+c+`"`)
				names = append(names, c)
			}
		}
		if with.Lookup != nil {
			outer = append(outer, `"parents"."`+LookupColumn+`"`)
			names = append(names, LookupColumn)
		}
		from := sql.ExprFunc(func(b *sql.Builder) {
			if with.Lookup != nil {
				b.WriteString("(")
				b.Join(with.Lookup)
				b.WriteString(`) AS "parents"`)
			} else {
				b.WriteString("unnest(").Arg(pq.Array(parents)).WriteString(`::bigint[]) AS "parents"("id")`)
			}
			if total != nil {
				b.WriteString(" CROSS JOIN LATERAL (")
				b.Join(total)
				b.WriteString(`) AS "total"`)
			}
			if with.Lookup != nil {
				// A parent without rows still comes back: its row.
				b.WriteString(" LEFT JOIN LATERAL (")
				b.Join(inner)
				b.WriteString(`) AS "ranked" ON true`)
			} else {
				b.WriteString(" CROSS JOIN LATERAL (")
				b.Join(inner)
				b.WriteString(`) AS "ranked"`)
			}
			for _, c := range counts {
				b.WriteString(" CROSS JOIN LATERAL (")
				b.Join(c.counter(s.Dialect()))
				b.WriteString(`) AS "` + c.As + `"`)
			}
			for _, n := range nests {
				b.WriteString(" LEFT JOIN LATERAL (")
				n.aggregate(b, `"ranked"."id"`)
				b.WriteString(`) AS "` + n.As + `" ON true`)
			}
		})
		if len(joins) == 0 || !with.JoinAfter {
			for _, j := range joins {
				outer = append(outer, `"`+j.As+`"."`+j.As+`"`)
			}
			joinsLateral := sql.ExprFunc(func(b *sql.Builder) {
				b.Join(from)
				for _, j := range joins {
					b.WriteString(" LEFT JOIN LATERAL (")
					b.Join(j.target(s.Dialect(), `"ranked"."`+j.Column+`"`, false))
					b.WriteString(`) AS "` + j.As + `" ON true`)
				}
			})
			ranked := order(sql.Dialect(s.Dialect()).Select().From(sql.Table("ranked")))
			*s = *sql.Dialect(s.Dialect()).Select(outer...).FromExpr(joinsLateral).
				OrderBy(append([]string{`"parents"."id"`}, ranked...)...)
			return
		}
		*s = *joinPaged(s.Dialect(), s.Builder.Quote, sql.Dialect(s.Dialect()).Select(append(outer, `"parents"."id" AS "`+orderColumn+`"`)...).FromExpr(from), names, joins, order)
	}
}

// JoinAfterRows is the size of a page from which its joins are read
// after it (joinPaged) rather than by a primary-key lookup per row.
// PostgreSQL's cached (generic) plan cannot see how many parents a page
// has: given the choice, it would hash a whole target table for a board's
// 20 issues too, where 20 lookups cost less than one pass over a thousand
// users.
const JoinAfterRows = 100

// JoinsAfter reports whether a page of parents parents (one for a lookup)
// of limit rows each should read its joins after it (With.JoinAfter),
// each target's fields in columns of their own (read them with
// JoinedFields), rather than each target as a record (read it with
// Joined).
func JoinsAfter(parents, limit int, lookup bool) bool {
	if lookup {
		parents = 1
	}
	return parents*limit >= JoinAfterRows
}

// orderColumn is the alias under which a page joined after it is read
// (joinPaged) carries its parent's id, the first term of its order.
const orderColumn = "parent_order"

// joinPaged returns the statement that reads the rows paged selects (the
// columns names, and orderColumn) with the targets of joins, in the
// page's order:
//
//	SELECT "paged".<names>, <targets> FROM (<paged> OFFSET 0) AS "paged"
//	LEFT JOIN <target table> ON <its id> = "paged".<column> ...
//	ORDER BY "paged"."parent_order", <order>
//
// The joins come after the page, not inside its LATERAL loop, so
// PostgreSQL picks how to join by the page's size and the target table's:
// a hash of a thousand users for the 842 comments of a deep page (twice
// as cheap as a primary-key lookup per row), lookups by key for a few
// rows or a large table. OFFSET 0 keeps the planner from moving the joins
// back into the loop over parents, where a hash would be built once per
// parent.
func joinPaged(dialect string, quote func(string) string, paged *sql.Selector, names []string, joins []Join, order func(s *sql.Selector) []string) *sql.Selector {
	columns := make([]string, 0, len(names)+len(joins))
	for _, c := range names {
		columns = append(columns, `"paged".`+quote(c))
	}
	for _, j := range joins {
		for _, f := range j.Fields {
			columns = append(columns, `"`+j.As+`_row".`+quote(f)+` AS `+quote(JoinedField(j, f)))
		}
	}
	sel := sql.Dialect(dialect).Select(columns...)
	from := sql.ExprFunc(func(b *sql.Builder) {
		b.WriteString("(")
		b.Join(paged)
		b.WriteString(` OFFSET 0) AS "paged"`)
		for _, j := range joins {
			alias := j.As + "_row"
			b.WriteString(` LEFT JOIN "` + j.Table + `" AS "` + alias + `" ON "` + alias + `"."id" = "paged".` + quote(j.Column))
		}
	})
	terms := order(sql.Dialect(dialect).Select().From(sql.Table("paged")))
	return sel.FromExpr(from).OrderBy(append([]string{`"paged"."` + orderColumn + `"`}, terms...)...)
}

// LookupColumn is the column in which a Lookup selects each parent's row
// as JSON (read it with Joined).
const LookupColumn = "parent_row"

// With is what a FirstPerParent page reads beside its rows, in the same
// statement.
type With struct {
	// Lookup, when set, is where the parents come from instead of the
	// parent ids (which are then ignored): a statement selecting each
	// parent's id as "id" and its row as JSON as LookupColumn, such as a
	// project looked up by its key, which is then read with its first page
	// in one statement. Every row carries its parent's row; a parent
	// without rows in its page comes back as one row whose own columns
	// are null.
	Lookup *sql.Selector
	// Total adds each parent's totalCount, the query's rows for the parent
	// (read it with Counted, in TotalColumn). Only for a query whose
	// conditions are the list's: a cursor's condition would leave rows out.
	Total bool
	// StoredTotal, when set, is where Total reads each parent's
	// totalCount instead of counting its rows.
	StoredTotal *Stored
	// Counts add the size of a list under each of the page's rows (an
	// issue's comments, see Count).
	Counts []Count
	// Joins add the row a to-one edge of the page's rows points at (an
	// issue's assignee, see Join).
	Joins []Join
	// JoinAfter reads the Joins after the page rather than by a lookup
	// per row (JoinsAfter says when; the caller decides once, as it reads
	// the joins back differently: JoinedFields, not Joined).
	JoinAfter bool
	// Nests add a page of a list under each of the page's rows (an
	// issue's labels, see Nest).
	Nests []Nest
}

// TotalColumn is the alias under which a page reads its parent's
// totalCount with each row (With.Total).
const TotalColumn = "parent_total"

// Count is a list under each row of a page (an issue's comments) whose
// size the page reads in the same statement: the rows of Table whose
// Column holds the page row's id and that Visible (the table's privacy
// filter, as its own queries apply it) shows the viewer, counted into the
// column As (read it with Counted). A board's issues and their comment
// counts are then one statement instead of two.
type Count struct {
	As     string
	Table  string
	Column string
	// Visible is the counted table's privacy filter, on a selector of it.
	Visible func(*sql.Selector)
}

// counter counts the rows of one page row.
func (c Count) counter(dialect string) *sql.Selector {
	t := sql.Table(c.Table).As(c.As + "_row")
	sel := sql.Dialect(dialect).Select().
		AppendSelectExprAs(sql.Expr(sql.Count("*")), c.As).
		From(t).
		Where(sql.ExprP(t.C(c.Column) + ` = "ranked"."id"`))
	c.Visible(sel)
	return sel
}

// Counted reads the size a Count read with row, in the column as.
func Counted(row Row, as string) (int, error) {
	v, err := extra(row, as)
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("%s of unexpected type %T", as, v)
	}
	return int(n), nil
}

// Row is an ent entity: it reads back the columns a modifier selected
// beside its own.
type Row interface {
	Value(string) (ent.Value, error)
}

// extra reads the column name a modifier selected with row. ent keeps a
// column it does not know behind a pointer (sql.UnknownType).
func extra(row Row, name string) (any, error) {
	v, err := row.Value(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if p, ok := v.(*any); ok {
		v = *p
	}
	return v, nil
}

// Join is a to-one edge read with the page that lists its source rows:
// for each row, the row of Table whose id is in the row's Column comes
// back as one record of its Fields, in their order, in the column As (read
// it with Joined; PostgreSQL writes it in the text form of a composite
// value, "(7,\"Ada L\")"). A page of issues and their assignees is then
// one statement instead of two. Under a nested page (Nest.Joins) the
// target is a JSON object of the Fields instead, collected by the page's
// json_agg; with a page large enough to join after its rows (JoinsAfter),
// each field is a column of its own (JoinedField; read them with
// JoinedFields, which tells a row pointing nowhere by the id field, so
// Fields hold "id" there).
//
// A record rather than JSON: json_build_object looks up the type of each
// of its arguments on every row, which cost PostgreSQL about half a
// microsecond per joined user (a deep page joins 1,100), where a record's
// output functions are looked up once per statement.
//
// The target gets no privacy filter of its own: a Join is only for edges
// whose target the viewer may see whenever they may see the source row,
// which the page's own filter has already checked. An issue's author and
// assignee and a comment's author are such edges (rule.FilterUsers shows
// the people of every issue and comment the viewer sees).
type Join struct {
	As     string
	Table  string
	Column string
	// Fields are the target's columns the JSON object holds, each under
	// its own name.
	Fields []string
}

// JoinEach is an ent query modifier for a plain query (not a page): each
// row comes back with the targets of joins, as Join describes, and the
// pages of nests, as Nest describes (read them with Joined). An issue
// looked up by its key is then read with its author, its labels and its
// comments in one statement.
func JoinEach(joins []Join, nests []Nest) func(*sql.Selector) {
	return func(s *sql.Selector) {
		for _, j := range joins {
			j.selectWith(s, s.C(j.Column), false)
		}
		if len(nests) == 0 {
			return
		}
		// The nested pages need the row's id in a LATERAL join: the query
		// becomes the source of an outer one.
		inner := s.Clone()
		outer := []string{`"looked".*`}
		for _, n := range nests {
			for _, c := range n.columns() {
				outer = append(outer, `"`+n.As+`"."`+c+`"`)
			}
		}
		from := sql.ExprFunc(func(b *sql.Builder) {
			b.WriteString("(")
			b.Join(inner)
			b.WriteString(`) AS "looked"`)
			for _, n := range nests {
				b.WriteString(" LEFT JOIN LATERAL (")
				n.aggregate(b, `"looked"."id"`)
				b.WriteString(`) AS "` + n.As + `" ON true`)
			}
		})
		*s = *sql.Dialect(s.Dialect()).Select(outer...).FromExpr(from)
	}
}

// selectWith adds to s, as the column j.As, the target of the row whose
// Column is the SQL expression source (asJSON: see target).
func (j Join) selectWith(s *sql.Selector, source string, asJSON bool) {
	target := j.target(s.Dialect(), source, asJSON)
	s.AppendSelectExprAs(sql.ExprFunc(func(b *sql.Builder) {
		b.WriteString("(")
		b.Join(target)
		b.WriteString(")")
	}), j.As)
}

// Nest is a list under each row of a page or lookup (an issue's labels or
// comments) read in the same statement. For each row, the rows Page
// selects (the list's rows of the parent whose id is the SQL expression
// parent, with the list's privacy filter, conditions, order and limit;
// their Columns, ordered by Order's terms) come back as one
// JSON array of objects of their Columns in the column As (null for an
// empty list). Joins are to-one edges of the listed rows read with them
// (a comment's author), each as a JSON array of the targets, row by row,
// in the column As_<join's As>; Total, when set, selects the size of the
// parent's list, in the column As_total. Read them all with Joined and
// Counted. A board's issues and their labels are then one statement
// instead of two.
type Nest struct {
	As      string
	Columns []string
	Page    func(dialect, parent string) *sql.Selector
	// Order gives the page's ORDER BY terms on a selector; they name only
	// Columns, so the JSON arrays follow the same order.
	Order func(*sql.Selector) []string
	Joins []Join
	Total func(dialect, parent string) *sql.Selector
}

// JoinedColumn is the column in which a page nested as as reads the
// targets of join.
func JoinedColumn(as string, join Join) string { return as + "_" + join.As }

// TotalOf is the column in which a page nested as as reads its list's size.
func TotalOf(as string) string { return as + "_total" }

// NestedPage selects, for a Nest, the columns of table from s's rows
// (s selects from table) and each row's joins, in the order of terms.
func NestedPage(s *sql.Selector, columns []string, joins []Join, terms []string) *sql.Selector {
	cs := make([]string, len(columns))
	for i, c := range columns {
		cs[i] = s.C(c)
	}
	s.Select(cs...)
	for _, j := range joins {
		j.selectWith(s, s.C(j.Column), true)
	}
	return s.OrderBy(terms...)
}

// columns are the columns n's aggregate selects.
func (n Nest) columns() []string {
	out := []string{n.As}
	for _, j := range n.Joins {
		out = append(out, JoinedColumn(n.As, j))
	}
	if n.Total != nil {
		out = append(out, TotalOf(n.As))
	}
	return out
}

// aggregate writes the statement that reads n's page of the row whose id
// is parent as JSON arrays, in order, and its total.
func (n Nest) aggregate(b *sql.Builder, parent string) {
	order := " ORDER BY " + strings.Join(n.Order(sql.Dialect(b.Dialect()).Select().From(sql.Table("nested"))), ", ") + ")"
	b.WriteString("SELECT json_agg(json_build_object(")
	for i, c := range n.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`'` + c + `', "nested"."` + c + `"`)
	}
	b.WriteString(")" + order + ` AS "` + n.As + `"`)
	for _, j := range n.Joins {
		b.WriteString(`, json_agg("nested"."` + j.As + `"` + order + ` AS "` + JoinedColumn(n.As, j) + `"`)
	}
	if n.Total != nil {
		b.WriteString(", (")
		b.Join(n.Total(b.Dialect(), parent))
		b.WriteString(`) AS "` + TotalOf(n.As) + `"`)
	}
	b.WriteString(" FROM (")
	b.Join(n.Page(b.Dialect(), parent))
	b.WriteString(`) AS "nested"`)
}

// JoinedField is the column in which a page that joins after its rows
// (JoinsAfter) reads field of j's target.
func JoinedField(j Join, field string) string { return j.As + "_" + field }

// JoinedFields returns the values of j's Fields, in order, that a page
// joining after its rows (JoinsAfter) read with row, or nil when the row
// points nowhere (its target's id is null). Each target field is a
// column of its own: a record would cost PostgreSQL its output function
// on every row (a tenth of a deep page's comments statement).
func JoinedFields(row Row, j Join) ([]any, error) {
	values := make([]any, len(j.Fields))
	for i, f := range j.Fields {
		v, err := extra(row, JoinedField(j, f))
		if err != nil {
			return nil, err
		}
		if f == "id" && v == nil {
			return nil, nil
		}
		values[i] = v
	}
	return values, nil
}

// target selects the joined row of the source row whose Column is the
// expression source: a record of its Fields, or, asJSON, a JSON object of
// them (for a nested page's json_agg).
func (j Join) target(dialect, source string, asJSON bool) *sql.Selector {
	alias := j.As + "_row"
	t := sql.Table(j.Table).As(alias)
	object := sql.ExprFunc(func(b *sql.Builder) {
		if asJSON {
			b.WriteString("json_build_object(")
		} else {
			b.WriteString("ROW(")
		}
		for i, f := range j.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			if asJSON {
				b.WriteString("'" + f + "', ")
			}
			b.WriteString(t.C(f))
		}
		b.WriteString(")")
	})
	sel := sql.Dialect(dialect).Select().
		AppendSelectExprAs(object, j.As).
		From(t).
		Where(sql.ExprP(t.C("id") + " = " + source)).
		// LIMIT 1 (the id is unique) keeps the planner from flattening
		// the lateral into a join: a generic plan would then hash the
		// whole target table for a page of a few dozen rows, where a
		// primary-key lookup per row is what it costs. Larger pages join
		// after their rows instead (joinPaged).
		Limit(1)
	return sel
}

// Joined returns what a Join (a record), a Nest (a JSON array) or a Lookup
// (a JSON object) read with row in the column as, or nil when there was
// none (the edge is not set, the list is empty).
func Joined(row Row, as string) ([]byte, error) {
	raw, err := extra(row, as)
	if err != nil {
		return nil, err
	}
	switch raw := raw.(type) {
	case nil:
		return nil, nil
	case []byte:
		return raw, nil
	case string:
		return []byte(raw), nil
	default:
		return nil, fmt.Errorf("%s of unexpected type %T", as, raw)
	}
}

// Stored is a column of the parents' rows kept equal to the size of a
// list under each parent, as its viewers see it (a project's issue_total,
// kept by triggers on issues: every issue of a project is visible to
// whoever sees the project). A list without conditions of its own reads its
// totalCount there rather than counting its rows (With.StoredTotal,
// StoredPerParent).
type Stored struct {
	Table  string
	Column string
}

// of selects, as TotalColumn, the stored size of the parent whose id is
// the SQL expression parent.
func (st Stored) of(dialect, parent string) *sql.Selector {
	b := sql.Dialect(dialect)
	t := b.Table(st.Table).As("stored_total")
	return b.Select().
		AppendSelectExprAs(sql.Expr(t.C(st.Column)), TotalColumn).
		From(t).
		Where(sql.ExprP(t.C("id") + " = " + parent))
}

// StoredPerParent is CountPerParent for a list whose sizes st stores: an
// ent query modifier that reads, instead of the query's rows, one row per
// parent with its id (ParentColumn) and its stored size ("count"). Scan
// the result into []ParentCount.
func StoredPerParent(st Stored, parents []int64) func(*sql.Selector) {
	return func(s *sql.Selector) {
		b := sql.Dialect(s.Dialect())
		t := b.Table(st.Table)
		*s = *b.Select(sql.As(t.C("id"), ParentColumn), sql.As(t.C(st.Column), "count")).
			From(t).
			Where(anyOf(t.C("id"), parents))
	}
}

// CountPerParent is an ent query modifier that turns a query into one row
// per parent: its id (ParentColumn) and how many rows it has ("count").
// Scan the result into []ParentCount.
func CountPerParent(parent Parent, parents []int64) func(*sql.Selector) {
	return func(s *sql.Selector) {
		expr := parent.expr(s)
		s.Where(anyOf(expr, parents))
		s.Select(sql.As(expr, ParentColumn), sql.As(sql.Count("*"), "count")).GroupBy(expr)
	}
}

// ParentCount is one row of a CountPerParent query.
type ParentCount struct {
	Parent int64 `sql:"parent_id"`
	Count  int   `sql:"count"`
}

// ParentOf reads the parent id a FirstPerParent query selected with a row.
func ParentOf(row Row) (int64, error) {
	v, err := extra(row, ParentColumn)
	if err != nil {
		return 0, err
	}
	id, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("parent id of unexpected type %T", v)
	}
	return id, nil
}

// ByColumn is the Parent of a one-to-many edge whose children hold the
// parent's id in column, one of their own fields.
func ByColumn(column string) Parent {
	return Parent{
		expr: func(s *sql.Selector) string { return s.C(column) },
		is: func(s *sql.Selector, parent string) *sql.Predicate {
			return sql.ExprP(s.C(column) + " = " + parent)
		},
		own: true,
	}
}

// ThroughTable is the Parent of a many-to-many edge: the join table holds
// (parentColumn, childColumn) pairs, childColumn pointing at the queried
// table's id.
func ThroughTable(table, parentColumn, childColumn string) Parent {
	return Parent{
		expr: func(s *sql.Selector) string {
			t := sql.Table(table)
			s.Join(t).On(s.C("id"), t.C(childColumn))
			return t.C(parentColumn)
		},
		is: func(s *sql.Selector, parent string) *sql.Predicate {
			t := `"` + table + `_of_parent"`
			return sql.ExprP(s.C("id") + ` = ANY(ARRAY(SELECT ` + t + `."` + childColumn + `" FROM "` + table + `" AS ` + t +
				` WHERE ` + t + `."` + parentColumn + `" = ` + parent + `))`)
		},
	}
}

// anyOf is `expr = ANY($1)` with ids as one array parameter: a batch of a
// thousand keys is one parameter to bind and plan, not a thousand.
func anyOf(expr string, ids []int64) *sql.Predicate {
	return sql.P(func(b *sql.Builder) {
		b.WriteString(expr).WriteString(" = ANY(").Arg(pq.Array(ids)).WriteString(")")
	})
}

// idIn restricts a query to rows whose id is one of ids.
func idIn(ids []int64) func(*sql.Selector) {
	return func(s *sql.Selector) { s.Where(anyOf(s.C("id"), ids)) }
}
