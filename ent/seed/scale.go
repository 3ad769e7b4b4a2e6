package seed

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/lib/pq"
)

// ScalePassword is the password of every generated account.
const ScalePassword = "issuegraph-seed"

// ScaleOrganization is the slug of the generated organization.
const ScaleOrganization = "scale"

// Sizes says how much Generate writes into its one organization.
type Sizes struct {
	Users, Projects, Labels, Issues, Comments int
}

// SizesAt returns the sizes of `issuegraph seed --scale N`: at scale 1,
// 1,000 users, 50 projects, 50 labels, 100,000 issues and 500,000
// comments (about 2 labels per issue). Every size is at least 1 (labels
// at least 2), so tiny scales still make a usable organization.
func SizesAt(scale float64) Sizes {
	n := func(base float64, least int) int {
		return max(least, int(math.Round(base*scale)))
	}
	return Sizes{Users: n(1000, 1), Projects: n(50, 1), Labels: n(50, 2), Issues: n(100_000, 1), Comments: n(500_000, 0)}
}

// ScaleUserEmail is the email of generated user i (1-based); user 1 is
// the organization's OWNER, the rest are MEMBERs.
func ScaleUserEmail(i int) string { return fmt.Sprintf("user%05d@seed.example", i) }

// ScaleProjectKey is the key of generated project i (1-based): PA, PB, ...
func ScaleProjectKey(i int) string {
	key := ""
	for i--; ; i = i/26 - 1 {
		key = string(rune('A'+i%26)) + key
		if i < 26 {
			break
		}
	}
	return "P" + key
}

// Generate fills an empty, migrated database with one organization of the
// given sizes, deterministically (the same sizes give the same rows). It
// writes with COPY in one transaction, with explicit ids from 1, moves the
// id sequences past them, then vacuums and analyzes the tables. The
// transaction lifts statement_timeout: a large scale's COPY runs longer.
// passwordHash is stored for every user (hashing thousands of passwords
// would take minutes).
func Generate(ctx context.Context, db *sql.DB, s Sizes, passwordHash string) error {
	var users int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&users); err != nil {
		return fmt.Errorf("counting users: %w", err)
	}
	if users > 0 {
		return fmt.Errorf("database is not empty: seed --scale needs a fresh database")
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("starting seed: %w", err)
	}
	if err := generate(ctx, tx, s, passwordHash); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("seeding: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing seed: %w", err)
	}
	return vacuum(ctx, db)
}

// vacuum sets the new rows' hint bits and visibility map and refreshes the
// planner's statistics. Without it the first reads after seeding rewrite
// every page they touch, and index-only scans cannot skip the heap:
// benchmarks run right after seeding would measure that, not the queries.
// VACUUM cannot run in a transaction; it runs on a connection of its own
// with statement_timeout lifted, as the COPY did.
func vacuum(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("vacuuming: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET statement_timeout = 0`); err != nil {
		return fmt.Errorf("vacuuming: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `RESET statement_timeout`) //nolint:errcheck // the connection is only returned to the pool
	if _, err := conn.ExecContext(ctx, `VACUUM (ANALYZE) organizations, users, memberships, labels, projects, issues, issue_labels, comments`); err != nil {
		return fmt.Errorf("vacuuming: %w", err)
	}
	return nil
}

// generator writes rows with a fixed random source.
type generator struct {
	ctx  context.Context
	tx   *sql.Tx
	rand *rand.Rand
}

// copyRows streams rows into table with COPY.
func (g *generator) copyRows(table string, columns []string, n int, row func(i int) []any) error {
	stmt, err := g.tx.PrepareContext(g.ctx, pq.CopyIn(table, columns...))
	if err != nil {
		return fmt.Errorf("copying into %s: %w", table, err)
	}
	defer stmt.Close()
	for i := 1; i <= n; i++ {
		if _, err := stmt.ExecContext(g.ctx, row(i)...); err != nil {
			return fmt.Errorf("copying into %s: %w", table, err)
		}
	}
	if _, err := stmt.ExecContext(g.ctx); err != nil {
		return fmt.Errorf("copying into %s: %w", table, err)
	}
	return nil
}

var (
	statuses   = []string{"BACKLOG", "TODO", "TODO", "IN_PROGRESS", "IN_PROGRESS", "DONE", "DONE", "DONE", "CANCELED"}
	priorities = []string{"NONE", "LOW", "MEDIUM", "HIGH", "URGENT"}
)

func generate(ctx context.Context, tx *sql.Tx, s Sizes, passwordHash string) error {
	if _, err := tx.ExecContext(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
		return fmt.Errorf("lifting statement_timeout: %w", err)
	}
	g := &generator{ctx: ctx, tx: tx, rand: rand.New(rand.NewPCG(1, 2))}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO organizations (id, created_at, updated_at, slug, name) VALUES (1, $1, $1, $2, 'Scale Inc')`,
		base, ScaleOrganization); err != nil {
		return fmt.Errorf("inserting organization: %w", err)
	}
	err := g.copyRows("users", []string{"id", "created_at", "updated_at", "email", "name", "password_hash"}, s.Users, func(i int) []any {
		return []any{i, at(i), at(i), ScaleUserEmail(i), fmt.Sprintf("User %d", i), passwordHash}
	})
	if err != nil {
		return err
	}
	err = g.copyRows("memberships", []string{"id", "created_at", "updated_at", "role", "organization_id", "user_id"}, s.Users, func(i int) []any {
		role := "MEMBER"
		if i == 1 {
			role = "OWNER"
		}
		return []any{i, at(i), at(i), role, 1, i}
	})
	if err != nil {
		return err
	}
	err = g.copyRows("labels", []string{"id", "created_at", "updated_at", "name", "color", "organization_id"}, s.Labels, func(i int) []any {
		return []any{i, at(i), at(i), fmt.Sprintf("label-%03d", i), fmt.Sprintf("#%06x", g.rand.IntN(1<<24)), 1}
	})
	if err != nil {
		return err
	}
	// Issues go round-robin over the projects, so each project numbers
	// its own from 1 (PostgreSQL counts them into issue_total as they are
	// copied).
	issueCount := make([]int, s.Projects+1)
	for i := 1; i <= s.Issues; i++ {
		issueCount[(i-1)%s.Projects+1]++
	}
	err = g.copyRows("projects", []string{"id", "created_at", "updated_at", "key", "name", "issue_count", "organization_id"}, s.Projects, func(i int) []any {
		return []any{i, at(i), at(i), ScaleProjectKey(i), fmt.Sprintf("Project %d", i), issueCount[i], 1}
	})
	if err != nil {
		return err
	}
	perProject := make([]int, s.Projects+1)
	err = g.copyRows("issues", []string{"id", "created_at", "updated_at", "number", "title", "status", "priority", "closed_at", "project_id", "organization_id", "author_id", "assignee_id"}, s.Issues, func(i int) []any {
		p := (i-1)%s.Projects + 1
		perProject[p]++
		created := at(i)
		updated := created.Add(time.Duration(g.rand.IntN(60*24*30)) * time.Minute)
		status := statuses[g.rand.IntN(len(statuses))]
		var closed any
		if status == "DONE" || status == "CANCELED" {
			closed = updated
		}
		var assignee any
		if g.rand.IntN(5) > 0 { // four in five issues are assigned
			assignee = g.rand.IntN(s.Users) + 1
		}
		return []any{i, created, updated, perProject[p], fmt.Sprintf("Issue %d of project %d", perProject[p], p),
			status, priorities[g.rand.IntN(len(priorities))], closed, p, 1, g.rand.IntN(s.Users) + 1, assignee}
	})
	if err != nil {
		return err
	}
	err = g.copyRows("comments", []string{"id", "created_at", "updated_at", "body", "issue_id", "organization_id", "author_id"}, s.Comments, func(i int) []any {
		issueID := g.rand.IntN(s.Issues) + 1
		created := at(issueID + g.rand.IntN(60*24*30))
		return []any{i, created, created, fmt.Sprintf("Comment %d", i), issueID, 1, g.rand.IntN(s.Users) + 1}
	})
	if err != nil {
		return err
	}
	// One to three distinct labels per issue, two on average.
	type pair struct{ issue, label int }
	var pairs []pair
	for i := 1; i <= s.Issues; i++ {
		k := min(1+g.rand.IntN(3), s.Labels)
		for _, l := range g.rand.Perm(s.Labels)[:k] {
			pairs = append(pairs, pair{i, l + 1})
		}
	}
	err = g.copyRows("issue_labels", []string{"issue_id", "label_id"}, len(pairs), func(i int) []any {
		return []any{pairs[i-1].issue, pairs[i-1].label}
	})
	if err != nil {
		return err
	}
	for _, t := range []string{"organizations", "users", "memberships", "labels", "issues", "projects", "comments"} {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT max(id) FROM %s))`, t, t)); err != nil {
			return fmt.Errorf("moving the %s id sequence: %w", t, err)
		}
	}
	return nil
}
