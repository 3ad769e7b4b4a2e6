package database

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sort"
	"time"

	atlas "ariga.io/atlas/sql/migrate"

	"github.com/issuegraph/issuegraph/ent/migrate/migrations"
)

// migrationLockID is the PostgreSQL advisory lock that serialises
// migrators, so several instances starting at once apply each file once.
const migrationLockID int64 = 7_301_912_200_001 // arbitrary, fixed

// Migration is one versioned migration file.
type Migration struct {
	Version     string
	Description string
	SQL         string
	// Hash is the file's sum in atlas.sum; Statements is how many
	// statements Atlas counts in it. Both are recorded with the revision,
	// as Atlas records them.
	Hash       string
	Statements int
}

// revision is m's record once applied in full, as the Atlas CLI writes it.
func (m Migration) revision() *atlas.Revision {
	return &atlas.Revision{
		Version: m.Version, Description: m.Description, Type: atlas.RevisionTypeExecute,
		Applied: m.Statements, Total: m.Statements, Hash: m.Hash, OperatorVersion: operatorVersion,
	}
}

// Migrations returns the embedded migrations in version order after
// checking them against atlas.sum, so an edited or half-copied directory is
// refused instead of applied.
func Migrations() ([]Migration, error) {
	dir := &atlas.MemDir{}
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(migrations.FS, e.Name())
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", e.Name(), err)
		}
		if err := dir.WriteFile(e.Name(), b); err != nil {
			return nil, fmt.Errorf("loading migration %s: %w", e.Name(), err)
		}
	}
	if err := atlas.Validate(dir); err != nil {
		return nil, fmt.Errorf("migration directory does not match atlas.sum: %w", err)
	}
	sum, err := dir.Checksum()
	if err != nil {
		return nil, fmt.Errorf("reading atlas.sum: %w", err)
	}
	files, err := dir.Files()
	if err != nil {
		return nil, fmt.Errorf("listing migrations: %w", err)
	}
	out := make([]Migration, 0, len(files))
	for _, f := range files {
		hash, err := sum.SumByName(f.Name())
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", f.Name(), err)
		}
		stmts, err := f.Stmts()
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", f.Name(), err)
		}
		out = append(out, Migration{Version: f.Version(), Description: f.Desc(), SQL: string(f.Bytes()), Hash: hash, Statements: len(stmts)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Migrate applies every migration the database has not had yet, each in its
// own transaction, and returns the versions it applied. It records them in
// Atlas's revision table (revisions.go), after carrying forward what an
// older version of this package recorded in schema_migrations.
func Migrate(ctx context.Context, db *sql.DB) ([]string, error) {
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrating: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockID); err != nil {
		return nil, fmt.Errorf("taking migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockID) //nolint:errcheck // the lock also ends with the session
	for _, stmt := range createRevisions {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("creating %s: %w", revisionSchema, err)
		}
	}
	if err := carryForward(ctx, conn, all); err != nil {
		return nil, err
	}
	todo, err := notApplied(ctx, conn, all)
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range todo {
		if err := apply(ctx, conn, m); err != nil {
			return applied, err
		}
		applied = append(applied, m.Version)
	}
	return applied, nil
}

// apply runs m and records it in one transaction: a file is applied
// whole or not at all, so no revision is ever left partly applied.
func apply(ctx context.Context, conn *sql.Conn, m Migration) error {
	start := time.Now()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.Version, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migration %s_%s: %w", m.Version, m.Description, err)
	}
	rev := m.revision()
	rev.ExecutedAt, rev.ExecutionTime = start, time.Since(start)
	if err := (revisions{tx}).WriteRevision(ctx, rev); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing migration %s: %w", m.Version, err)
	}
	return nil
}

// appliedVersions returns the versions applied in full: from Atlas's
// table, or, on a database no binary with that table has migrated yet,
// from the legacy one.
func appliedVersions(ctx context.Context, c sqlConn) (map[string]bool, error) {
	done := map[string]bool{}
	atlasTable, err := tableExists(ctx, c, revisionTable)
	if err != nil {
		return nil, err
	}
	if atlasTable {
		revs, err := revisions{c}.ReadRevisions(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range revs {
			if r.Applied == r.Total && r.Error == "" {
				done[r.Version] = true
			}
		}
		return done, nil
	}
	legacy, err := tableExists(ctx, c, legacyTable)
	if err != nil || !legacy {
		return done, err
	}
	rows, err := c.QueryContext(ctx, `SELECT version FROM `+legacyTable)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", legacyTable, err)
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("reading %s: %w", legacyTable, err)
		}
		done[v] = true
	}
	return done, rows.Err()
}

// Pending returns the versions not yet applied. Readiness uses it: an
// instance must not take traffic on a database older than its code.
func Pending(ctx context.Context, db *sql.DB) ([]string, error) {
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	todo, err := notApplied(ctx, db, all)
	if err != nil {
		return nil, err
	}
	var pending []string
	for _, m := range todo {
		pending = append(pending, m.Version)
	}
	return pending, nil
}

// notApplied returns the migrations of all that c has not had in full.
func notApplied(ctx context.Context, c sqlConn, all []Migration) ([]Migration, error) {
	done, err := appliedVersions(ctx, c)
	if err != nil {
		return nil, err
	}
	var todo []Migration
	for _, m := range all {
		if !done[m.Version] {
			todo = append(todo, m)
		}
	}
	return todo, nil
}
