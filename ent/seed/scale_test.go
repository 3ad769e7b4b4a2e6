package seed_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/ent/seed"
	"github.com/issuegraph/issuegraph/ent/viewer"
)

func TestSizesAtScaleOne(t *testing.T) {
	t.Parallel()
	assert.Equal(t, seed.Sizes{Users: 1000, Projects: 50, Labels: 50, Issues: 100_000, Comments: 500_000}, seed.SizesAt(1))
	assert.Equal(t, seed.Sizes{Users: 1, Projects: 1, Labels: 2, Issues: 100, Comments: 500}, seed.SizesAt(0.001))
	assert.Equal(t, []string{"PA", "PZ", "PAA", "PAZ", "PBA"}, []string{
		seed.ScaleProjectKey(1), seed.ScaleProjectKey(26), seed.ScaleProjectKey(27), seed.ScaleProjectKey(52), seed.ScaleProjectKey(53)})
}

// summary describes a generated database in a few numbers that change
// whenever any generated row does.
type summary struct {
	Users, Memberships, Projects, Labels, Issues, Comments, IssueLabels int
	IssueCountSum, MaxNumber                                            int
	Checksum                                                            string
}

func summarize(t *testing.T, db *database.DB) summary {
	t.Helper()
	var s summary
	err := db.SQL.QueryRow(`SELECT
		(SELECT count(*) FROM users), (SELECT count(*) FROM memberships), (SELECT count(*) FROM projects),
		(SELECT count(*) FROM labels), (SELECT count(*) FROM issues), (SELECT count(*) FROM comments),
		(SELECT count(*) FROM issue_labels), (SELECT sum(issue_count) FROM projects), (SELECT max(number) FROM issues),
		md5((SELECT string_agg(concat_ws(',', id, number, status, priority, project_id, author_id, assignee_id, updated_at), ';' ORDER BY id) FROM issues)
		 || (SELECT string_agg(concat_ws(',', id, issue_id, author_id, created_at), ';' ORDER BY id) FROM comments)
		 || (SELECT string_agg(concat_ws(',', issue_id, label_id), ';' ORDER BY issue_id, label_id) FROM issue_labels))`).
		Scan(&s.Users, &s.Memberships, &s.Projects, &s.Labels, &s.Issues, &s.Comments, &s.IssueLabels, &s.IssueCountSum, &s.MaxNumber, &s.Checksum)
	require.NoError(t, err)
	return s
}

// TestGenerateIsDeterministicAndUsable generates a tiny scale twice: the
// same rows both times, every project numbering its issues from 1, about
// two labels per issue, and ids that ent can keep allocating after.
func TestGenerateIsDeterministicAndUsable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sizes := seed.SizesAt(0.002)
	var got []summary
	for range 2 {
		db := databasetest.New(t, database.Options{})
		require.NoError(t, seed.Generate(ctx, db.SQL, sizes, "hash"))
		got = append(got, summarize(t, db))

		// The tables were vacuumed and analyzed after the load.
		var unvacuumed string
		require.NoError(t, db.SQL.QueryRow(`SELECT coalesce(string_agg(relname, ','), '') FROM pg_stat_user_tables
			WHERE relname IN ('users', 'projects', 'issues', 'issue_labels', 'comments') AND (last_vacuum IS NULL OR last_analyze IS NULL)`).
			Scan(&unvacuumed))
		assert.Empty(t, unvacuumed, "tables not vacuumed and analyzed")

		// The id sequences moved past the generated rows.
		u, err := db.Client.User.Create().SetEmail("new@example.com").SetName("New").SetPasswordHash("x").Save(viewer.SystemContext(ctx))
		require.NoError(t, err)
		assert.Equal(t, int64(sizes.Users+1), u.ID)

		// A second run refuses a database that has data.
		assert.ErrorContains(t, seed.Generate(ctx, db.SQL, sizes, "hash"), "not empty")
	}
	s := got[0]
	assert.Equal(t, got[0], got[1], "the same sizes give the same rows")
	assert.Equal(t, summary{Users: 2, Memberships: 2, Projects: 1, Labels: 2, Issues: 200, Comments: 1000,
		IssueLabels: s.IssueLabels, IssueCountSum: 200, MaxNumber: 200, Checksum: s.Checksum}, s)
	assert.InDelta(t, 5.0/3, float64(s.IssueLabels)/float64(s.Issues), 0.15, "1..3 labels per issue, capped by the 2 labels there are")
}
