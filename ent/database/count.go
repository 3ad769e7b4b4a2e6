package database

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"

	"entgo.io/ent/dialect"
)

// StatementCounter counts the SQL statements run for one request: tests
// assert a nested query costs a fixed number of them, the access log and
// the development response extension report it.
type StatementCounter struct{ n atomic.Int64 }

// Count is how many statements ran so far.
func (c *StatementCounter) Count() int64 { return c.n.Load() }

// Add counts n statements run under another counter, such as those of one
// operation of a batched request, which has a counter of its own.
func (c *StatementCounter) Add(n int64) { c.n.Add(n) }

type counterKey struct{}

// WithStatementCounter returns ctx carrying a new counter: statements run
// with ctx or a context derived from it add to it.
func WithStatementCounter(ctx context.Context) (context.Context, *StatementCounter) {
	c := &StatementCounter{}
	return context.WithValue(ctx, counterKey{}, c), c
}

// CountStatements wraps an ent driver so every statement (in or out of a
// transaction) adds one to the StatementCounter of its context, if any.
// Use it as Options.WrapDriver.
func CountStatements(drv dialect.Driver) dialect.Driver { return countingDriver{drv} }

func count(ctx context.Context) {
	if c, ok := ctx.Value(counterKey{}).(*StatementCounter); ok {
		c.n.Add(1)
	}
}

type countingDriver struct{ dialect.Driver }

func (d countingDriver) Exec(ctx context.Context, query string, args, v any) error {
	count(ctx)
	return d.Driver.Exec(ctx, query, args, v)
}

func (d countingDriver) Query(ctx context.Context, query string, args, v any) error {
	count(ctx)
	return d.Driver.Query(ctx, query, args, v)
}

func (d countingDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return countingTx{tx}, nil
}

type countingTx struct{ dialect.Tx }

func (t countingTx) Exec(ctx context.Context, query string, args, v any) error {
	count(ctx)
	return t.Tx.Exec(ctx, query, args, v)
}

func (t countingTx) Query(ctx context.Context, query string, args, v any) error {
	count(ctx)
	return t.Tx.Query(ctx, query, args, v)
}

// BeginTx keeps ent's Client.BeginTx working through the wrapper.
func (d countingDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	b, ok := d.Driver.(interface {
		BeginTx(context.Context, *sql.TxOptions) (dialect.Tx, error)
	})
	if !ok {
		return d.Tx(ctx)
	}
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return countingTx{tx}, nil
}

// StatementCounterFrom returns the counter in ctx, or nil.
func StatementCounterFrom(ctx context.Context) *StatementCounter {
	c, _ := ctx.Value(counterKey{}).(*StatementCounter)
	return c
}

// execQuerier is what ent's sql/execquery feature asks of a driver or
// transaction (client.ExecContext, tx.ExecContext): raw statements such as
// pg_notify go through it.
type execQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func execContext(target any, ctx context.Context, query string, args []any) (sql.Result, error) {
	eq, ok := target.(execQuerier)
	if !ok {
		return nil, fmt.Errorf("ExecContext is not supported by %T", target)
	}
	count(ctx)
	return eq.ExecContext(ctx, query, args...)
}

func queryContext(target any, ctx context.Context, query string, args []any) (*sql.Rows, error) {
	eq, ok := target.(execQuerier)
	if !ok {
		return nil, fmt.Errorf("QueryContext is not supported by %T", target)
	}
	count(ctx)
	return eq.QueryContext(ctx, query, args...)
}

// ExecContext forwards raw statements to the wrapped driver, counted.
func (d countingDriver) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return execContext(d.Driver, ctx, query, args)
}

// QueryContext forwards raw queries to the wrapped driver, counted.
func (d countingDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return queryContext(d.Driver, ctx, query, args)
}

// ExecContext forwards raw statements to the wrapped transaction, counted.
func (t countingTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return execContext(t.Tx, ctx, query, args)
}

// QueryContext forwards raw queries to the wrapped transaction, counted.
func (t countingTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return queryContext(t.Tx, ctx, query, args)
}
