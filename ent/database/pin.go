package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// Pinned is one transaction that every statement run with its context
// joins, whichever part of the program runs it: resolvers, loaders and the
// token service alike. An Idempotency-Key request runs in one, so the key
// and the response it stores commit together with the request's effects,
// and the response is read from the same snapshot the effects were written
// in. A transaction started inside it (ent's Client.Tx, as every mutation
// does) becomes a savepoint, so a mutation that fails still rolls back only
// its own changes.
type Pinned struct {
	tx *sql.Tx
	// mu serialises statements: one connection carries one result set at a
	// time, while loaders of one request run concurrently. It is held from
	// a query until its rows are closed.
	mu         sync.Mutex
	savepoints atomic.Int64
}

type pinnedKey struct{}

// Pin begins a transaction on db and returns ctx carrying it: every ent
// statement run with the returned context (or one derived from it) runs
// in that transaction until Commit or Rollback.
func (d *DB) Pin(ctx context.Context) (context.Context, *Pinned, error) {
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return ctx, nil, fmt.Errorf("beginning request transaction: %w", err)
	}
	p := &Pinned{tx: tx}
	return context.WithValue(ctx, pinnedKey{}, p), p, nil
}

func pinnedFrom(ctx context.Context) *Pinned {
	p, _ := ctx.Value(pinnedKey{}).(*Pinned)
	return p
}

// Commit commits the transaction.
func (p *Pinned) Commit() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tx.Commit()
}

// Rollback rolls the transaction back; after Commit it does nothing.
func (p *Pinned) Rollback() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return err
	}
	return nil
}

// Exec runs a statement in the transaction.
func (p *Pinned) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	count(ctx)
	return p.tx.ExecContext(ctx, query, args...)
}

// QueryRow runs a query expected to return at most one row and scans it
// into dest; sql.ErrNoRows when there is none.
func (p *Pinned) QueryRow(ctx context.Context, dest []any, query string, args ...any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	count(ctx)
	return p.tx.QueryRowContext(ctx, query, args...).Scan(dest...)
}

// pinningDriver sends the statements of a pinned context to its
// transaction and everything else to the pool.
type pinningDriver struct{ *entsql.Driver }

func (d pinningDriver) Exec(ctx context.Context, query string, args, v any) error {
	if p := pinnedFrom(ctx); p != nil {
		return p.exec(ctx, query, args, v)
	}
	return d.Driver.Exec(ctx, query, args, v)
}

func (d pinningDriver) Query(ctx context.Context, query string, args, v any) error {
	if p := pinnedFrom(ctx); p != nil {
		if err := p.query(ctx, query, args, v); err != nil {
			return err
		}
		rememberColumnTypes(ctx, v)
		return nil
	}
	if err := d.Driver.Query(ctx, query, args, v); err != nil {
		return err
	}
	rememberColumnTypes(ctx, v)
	return nil
}

type columnTypesKey struct{}

// WithColumnTypesRemembered marks ctx's queries as ones whose rows work
// out their column types once (see rememberColumnTypes): queries that
// select columns their entity does not know, such as pages of many
// parents.
func WithColumnTypesRemembered(ctx context.Context) context.Context {
	return context.WithValue(ctx, columnTypesKey{}, true)
}

// rememberColumnTypes makes the rows of a query of a context marked by
// WithColumnTypesRemembered work out their column types once. ent scans a
// column its entity does not know (a parent id, a user read with a page)
// by asking database/sql for the types of every column, for every row, and
// database/sql builds them afresh each time: for a page of a thousand
// comments, megabytes of garbage. Only marked queries: ent's schema
// migration expects database/sql's own rows.
func rememberColumnTypes(ctx context.Context, v any) {
	if marked, _ := ctx.Value(columnTypesKey{}).(bool); !marked {
		return
	}
	if rows, ok := v.(*entsql.Rows); ok && rows.ColumnScanner != nil {
		rows.ColumnScanner = &typedRows{ColumnScanner: rows.ColumnScanner}
	}
}

// typedRows answers ColumnTypes from its first answer: a result set's
// columns do not change while it is read.
type typedRows struct {
	entsql.ColumnScanner
	types []*sql.ColumnType
}

func (r *typedRows) ColumnTypes() ([]*sql.ColumnType, error) {
	if r.types != nil {
		return r.types, nil
	}
	types, err := r.ColumnScanner.ColumnTypes()
	if err == nil {
		r.types = types
	}
	return types, err
}

func (d pinningDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	if p := pinnedFrom(ctx); p != nil {
		return p.savepoint(ctx)
	}
	return d.Driver.Tx(ctx)
}

// BeginTx keeps ent's Client.BeginTx working: in a pinned context the
// options cannot change a transaction already begun, so it is a savepoint.
func (d pinningDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	if p := pinnedFrom(ctx); p != nil {
		return p.savepoint(ctx)
	}
	return d.Driver.BeginTx(ctx, opts)
}

// ExecContext serves ent's raw ExecContext (pg_notify).
func (d pinningDriver) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if p := pinnedFrom(ctx); p != nil {
		return p.Exec(ctx, query, args...)
	}
	return d.Driver.ExecContext(ctx, query, args...)
}

// QueryContext serves ent's raw QueryContext outside a pinned context
// only: a *sql.Rows cannot release the statement lock when it is closed,
// and two result sets on one connection would corrupt both. Nothing in a
// request's path runs raw queries through ent.
func (d pinningDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if pinnedFrom(ctx) != nil {
		return nil, errors.New("raw QueryContext is not supported inside a pinned request transaction")
	}
	return d.Driver.QueryContext(ctx, query, args...)
}

func (p *Pinned) exec(ctx context.Context, query string, args, v any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return entsql.Conn{ExecQuerier: p.tx}.Exec(ctx, query, args, v)
}

func (p *Pinned) query(ctx context.Context, query string, args, v any) error {
	p.mu.Lock()
	if err := (entsql.Conn{ExecQuerier: p.tx}).Query(ctx, query, args, v); err != nil {
		p.mu.Unlock()
		return err
	}
	rows, ok := v.(*entsql.Rows)
	if !ok { // Conn.Query accepts nothing else
		p.mu.Unlock()
		return fmt.Errorf("unexpected rows type %T", v)
	}
	rows.ColumnScanner = &unlockingRows{ColumnScanner: rows.ColumnScanner, unlock: p.mu.Unlock}
	return nil
}

// unlockingRows releases the statement lock when its rows are closed.
type unlockingRows struct {
	entsql.ColumnScanner
	once   sync.Once
	unlock func()
}

func (r *unlockingRows) Close() error {
	err := r.ColumnScanner.Close()
	r.once.Do(r.unlock)
	return err
}

// savepoint starts a nested transaction of the pinned one.
func (p *Pinned) savepoint(ctx context.Context) (dialect.Tx, error) {
	name := fmt.Sprintf("ig_sp_%d", p.savepoints.Add(1))
	if _, err := p.Exec(ctx, "SAVEPOINT "+name); err != nil {
		return nil, fmt.Errorf("starting savepoint: %w", err)
	}
	return &savepointTx{p: p, name: name, ctx: ctx}, nil
}

// savepointTx is a transaction inside a pinned one: committing releases
// its savepoint (the pinned transaction commits it later, or not at all),
// rolling back undoes only what it did.
type savepointTx struct {
	p    *Pinned
	name string
	ctx  context.Context
	done bool
}

func (t *savepointTx) Exec(ctx context.Context, query string, args, v any) error {
	return t.p.exec(ctx, query, args, v)
}

func (t *savepointTx) Query(ctx context.Context, query string, args, v any) error {
	return t.p.query(ctx, query, args, v)
}

func (t *savepointTx) Tx(ctx context.Context) (dialect.Tx, error) { return t.p.savepoint(ctx) }

func (t *savepointTx) Close() error { return nil }

func (t *savepointTx) Dialect() string { return dialect.Postgres }

func (t *savepointTx) Commit() error {
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	_, err := t.p.Exec(t.ctx, "RELEASE SAVEPOINT "+t.name)
	return err
}

func (t *savepointTx) Rollback() error {
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	_, err := t.p.Exec(t.ctx, "ROLLBACK TO SAVEPOINT "+t.name)
	return err
}

// ExecContext serves ent's raw ExecContext inside the savepoint.
func (t *savepointTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.p.Exec(ctx, query, args...)
}

// QueryContext is refused inside a pinned transaction, as on the driver.
func (t *savepointTx) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, errors.New("raw QueryContext is not supported inside a pinned request transaction")
}
