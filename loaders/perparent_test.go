package loaders_test

import (
	"testing"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/assert"

	"github.com/issuegraph/issuegraph/loaders"
)

// TestPagesJoinAfterReadingFromTheirSize: a page's joins are read after
// its rows once it may hold loaders.JoinAfterRows rows (parents times the
// limit; a lookup has one parent), and by a lookup per row below that. The
// answers of both ways are compared on a server in
// server.TestLargePagesJoinTheirUsersAfterReading.
func TestPagesJoinAfterReadingFromTheirSize(t *testing.T) {
	author := loaders.Join{As: "joined_author", Table: "users", Column: "author_id", Fields: []string{"id", "name"}}
	order := func(s *sql.Selector) []string { return []string{s.C("created_at"), s.C("id")} }
	statement := func(parents, limit int, lookup bool) string {
		ids := make([]int64, parents)
		for i := range ids {
			ids[i] = int64(i + 1)
		}
		with := loaders.With{Joins: []loaders.Join{author}, JoinAfter: loaders.JoinsAfter(parents, limit, lookup)}
		if lookup {
			with.Lookup = sql.Dialect(dialect.Postgres).Select("id", `'{}' AS "parent_row"`).From(sql.Table("issues")).Limit(2)
		}
		s := sql.Dialect(dialect.Postgres).Select("id", "created_at", "issue_id", "author_id").From(sql.Table("comments"))
		loaders.FirstPerParent(loaders.ByColumn("issue_id"), ids, limit, order, with)(s)
		query, _ := s.Query()
		return query
	}
	for _, c := range []struct {
		parents, limit int
		lookup, after  bool
	}{
		{1, 20, false, false},
		{1, loaders.JoinAfterRows - 1, false, false},
		{1, loaders.JoinAfterRows, false, true},
		{10, 9, false, false},
		{10, 10, false, true},
		{200, 5, false, true},
		{1, 21, true, false},
		{5, 21, true, false}, // a lookup's parents are its one row
		{1, loaders.JoinAfterRows + 1, true, true},
	} {
		q := statement(c.parents, c.limit, c.lookup)
		if c.after {
			assert.Contains(t, q, `OFFSET 0) AS "paged" LEFT JOIN "users" AS "joined_author_row" ON "joined_author_row"."id" = "paged"."author_id"`, "%+v", c)
			assert.Contains(t, q, `ORDER BY "paged"."parent_order", "paged"."created_at", "paged"."id"`, "%+v", c)
			assert.Contains(t, q, `"joined_author_row"."id" AS "joined_author_id", "joined_author_row"."name" AS "joined_author_name" FROM`, "%+v", c)
			assert.NotContains(t, q, "LIMIT 1)", "%+v", c)
		} else {
			assert.Contains(t, q, `LEFT JOIN LATERAL (SELECT (ROW("joined_author_row"."id", "joined_author_row"."name")) AS "joined_author" FROM "users" AS "joined_author_row" WHERE "joined_author_row"."id" = "ranked"."author_id" LIMIT 1)`, "%+v", c)
			assert.NotContains(t, q, `"paged"`, "%+v", c)
		}
	}
}
