package database

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	atlas "ariga.io/atlas/sql/migrate"
)

// The applied migrations are recorded where and as the Atlas CLI records
// them on PostgreSQL, so `atlas migrate status` (and the rest of Atlas's
// tools) read the same state as this package:
//
//	atlas migrate status --dir file://ent/migrate/migrations --url "$DATABASE_URL"
//
// A URL without search_path makes Atlas use the table below, in a schema
// of its own; the columns are the CLI's.
const (
	revisionSchema = "atlas_schema_revisions"
	revisionTable  = `"atlas_schema_revisions"."atlas_schema_revisions"`
	// operatorVersion fills Revision.OperatorVersion, which Atlas sets to
	// its own version.
	operatorVersion = "issuegraph"
)

var createRevisions = []string{
	`CREATE SCHEMA IF NOT EXISTS "atlas_schema_revisions"`,
	`CREATE TABLE IF NOT EXISTS ` + revisionTable + ` (
	"version" character varying NOT NULL,
	"description" character varying NOT NULL,
	"type" bigint NOT NULL DEFAULT 2,
	"applied" bigint NOT NULL DEFAULT 0,
	"total" bigint NOT NULL DEFAULT 0,
	"executed_at" timestamptz NOT NULL,
	"execution_time" bigint NOT NULL,
	"error" text NULL,
	"error_stmt" text NULL,
	"hash" character varying NOT NULL,
	"partial_hashes" jsonb NULL,
	"operator_version" character varying NOT NULL,
	PRIMARY KEY ("version")
)`,
}

// sqlConn is what revisions reads and writes through: a database, a
// connection or a transaction.
type sqlConn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// revisions is Atlas's revision table, read and written as Atlas does.
type revisions struct{ c sqlConn }

var _ atlas.RevisionReadWriter = revisions{}

// Revisions returns the revision table of db as Atlas's Go packages read
// it (an atlas.Executor over it tells what Atlas would apply).
func Revisions(db *sql.DB) atlas.RevisionReadWriter { return revisions{db} }

// Ident names the table.
func (r revisions) Ident() *atlas.TableIdent {
	return &atlas.TableIdent{Schema: revisionSchema, Name: revisionSchema}
}

const revisionColumns = `version, description, type, applied, total, executed_at, execution_time,
	coalesce(error, ''), coalesce(error_stmt, ''), hash, partial_hashes, operator_version`

// ReadRevisions returns every revision in version order.
func (r revisions) ReadRevisions(ctx context.Context) ([]*atlas.Revision, error) {
	rows, err := r.c.QueryContext(ctx, `SELECT `+revisionColumns+` FROM `+revisionTable+` ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", revisionSchema, err)
	}
	defer rows.Close()
	var out []*atlas.Revision
	for rows.Next() {
		rev, err := scanRevision(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rev)
	}
	return out, rows.Err()
}

// ReadRevision returns the revision of version, or atlas.ErrRevisionNotExist.
func (r revisions) ReadRevision(ctx context.Context, version string) (*atlas.Revision, error) {
	rows, err := r.c.QueryContext(ctx, `SELECT `+revisionColumns+` FROM `+revisionTable+` WHERE version = $1`, version)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", revisionSchema, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, atlas.ErrRevisionNotExist
	}
	return scanRevision(rows)
}

func scanRevision(rows *sql.Rows) (*atlas.Revision, error) {
	var (
		rev     atlas.Revision
		nanos   int64
		partial []byte
	)
	if err := rows.Scan(&rev.Version, &rev.Description, &rev.Type, &rev.Applied, &rev.Total, &rev.ExecutedAt,
		&nanos, &rev.Error, &rev.ErrorStmt, &rev.Hash, &partial, &rev.OperatorVersion); err != nil {
		return nil, fmt.Errorf("reading %s: %w", revisionSchema, err)
	}
	rev.ExecutionTime = time.Duration(nanos)
	if len(partial) > 0 {
		if err := json.Unmarshal(partial, &rev.PartialHashes); err != nil {
			return nil, fmt.Errorf("reading %s partial_hashes of %s: %w", revisionSchema, rev.Version, err)
		}
	}
	return &rev, nil
}

// WriteRevision inserts or replaces rev.
func (r revisions) WriteRevision(ctx context.Context, rev *atlas.Revision) error {
	var partial any // NULL unless some statements of a file were applied
	if len(rev.PartialHashes) > 0 {
		b, err := json.Marshal(rev.PartialHashes)
		if err != nil {
			return err
		}
		partial = b
	}
	_, err := r.c.ExecContext(ctx, `INSERT INTO `+revisionTable+` (version, description, type, applied, total,
	executed_at, execution_time, error, error_stmt, hash, partial_hashes, operator_version)
VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''), nullif($9, ''), $10, $11, $12)
ON CONFLICT (version) DO UPDATE SET description = excluded.description, type = excluded.type,
	applied = excluded.applied, total = excluded.total, executed_at = excluded.executed_at,
	execution_time = excluded.execution_time, error = excluded.error, error_stmt = excluded.error_stmt,
	hash = excluded.hash, partial_hashes = excluded.partial_hashes, operator_version = excluded.operator_version`,
		rev.Version, rev.Description, int64(rev.Type), rev.Applied, rev.Total, rev.ExecutedAt, int64(rev.ExecutionTime),
		rev.Error, rev.ErrorStmt, rev.Hash, partial, rev.OperatorVersion)
	if err != nil {
		return fmt.Errorf("recording migration %s: %w", rev.Version, err)
	}
	return nil
}

// DeleteRevision deletes the revision of version.
func (r revisions) DeleteRevision(ctx context.Context, version string) error {
	if _, err := r.c.ExecContext(ctx, `DELETE FROM `+revisionTable+` WHERE version = $1`, version); err != nil {
		return fmt.Errorf("deleting migration %s: %w", version, err)
	}
	return nil
}

// legacyTable is where this package recorded migrations before it used
// Atlas's table. It is read once, by Migrate, which carries its rows
// forward, and left in place: an older binary still running during a
// rolling update reads it for its readiness check.
const legacyTable = "schema_migrations"

// carryForward records in Atlas's table every migration the legacy table
// says was applied and Atlas's does not have yet, as applied in full when
// the legacy table says so. Versions this binary does not know are left
// out: Atlas would report them as not in the directory.
func carryForward(ctx context.Context, c sqlConn, all []Migration) error {
	exists, err := tableExists(ctx, c, legacyTable)
	if err != nil || !exists {
		return err
	}
	rows, err := c.QueryContext(ctx, `SELECT version, applied_at FROM `+legacyTable)
	if err != nil {
		return fmt.Errorf("reading %s: %w", legacyTable, err)
	}
	appliedAt := map[string]time.Time{}
	for rows.Next() {
		var v string
		var at time.Time
		if err := rows.Scan(&v, &at); err != nil {
			rows.Close()
			return fmt.Errorf("reading %s: %w", legacyTable, err)
		}
		appliedAt[v] = at
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", legacyTable, err)
	}
	rrw := revisions{c}
	for _, m := range all {
		at, ok := appliedAt[m.Version]
		if !ok {
			continue
		}
		if _, err := rrw.ReadRevision(ctx, m.Version); err == nil {
			continue
		} else if !errors.Is(err, atlas.ErrRevisionNotExist) {
			return err
		}
		rev := m.revision()
		rev.ExecutedAt = at
		if err := rrw.WriteRevision(ctx, rev); err != nil {
			return err
		}
	}
	return nil
}

func tableExists(ctx context.Context, c sqlConn, name string) (bool, error) {
	rows, err := c.QueryContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, name)
	if err != nil {
		return false, fmt.Errorf("looking for %s: %w", name, err)
	}
	defer rows.Close()
	var exists bool
	if rows.Next() {
		if err := rows.Scan(&exists); err != nil {
			return false, fmt.Errorf("looking for %s: %w", name, err)
		}
	}
	return exists, rows.Err()
}
