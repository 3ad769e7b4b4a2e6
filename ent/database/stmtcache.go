package database

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"
	"strings"

	"github.com/lib/pq"
)

// Each connection keeps the statements it ran most recently prepared on
// the server. lib/pq otherwise runs every statement with arguments as an
// unnamed one: a Parse and Describe round trip, then Bind and Execute, and
// PostgreSQL plans it afresh each time. Planning is not free: the privacy
// filter on users (four correlated EXISTS) takes about 3 ms to plan and
// 1 ms to run. A prepared statement costs one round trip, and after five
// runs PostgreSQL keeps its generic plan when that plan is no worse than
// the custom ones. The statement texts ent builds are few and stable
// (lists of ids are one array parameter), so a small cache holds them all.

// stmtCacheConnector hands out connections that cache prepared statements.
type stmtCacheConnector struct {
	driver.Connector
	size int
}

func (c stmtCacheConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := conn.(pqConn)
	if !ok { // not lib/pq's connection: use it as it is
		return conn, nil
	}
	return &cachingConn{pqConn: pc, size: c.size, byQuery: map[string]*list.Element{}, recent: list.New()}, nil
}

// pqConn is what database/sql uses of a lib/pq connection; cachingConn
// passes all of it through and intercepts queries and execs.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// preparedStmt is a lib/pq statement: it runs with a context.
type preparedStmt interface {
	driver.Stmt
	driver.StmtQueryContext
	driver.StmtExecContext
}

type cachedStmt struct {
	query string
	stmt  preparedStmt
}

// cachingConn keeps up to size statements prepared, evicting the least
// recently used. database/sql uses a connection from one goroutine at a
// time, so it needs no lock.
type cachingConn struct {
	pqConn
	size    int
	byQuery map[string]*list.Element // of *cachedStmt
	recent  *list.List               // most recently used first
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if !cacheable(query, args) {
		return c.pqConn.QueryContext(ctx, query, args)
	}
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args)
	if planOutdated(err) {
		c.forget(query)
		return c.pqConn.QueryContext(ctx, query, args)
	}
	return rows, err
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if !cacheable(query, args) {
		return c.pqConn.ExecContext(ctx, query, args)
	}
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := st.ExecContext(ctx, args)
	if planOutdated(err) {
		c.forget(query)
		return c.pqConn.ExecContext(ctx, query, args)
	}
	return res, err
}

// cacheable: statements without arguments use the simple protocol, which
// is one round trip already; COPY is a protocol of its own.
func cacheable(query string, args []driver.NamedValue) bool {
	if len(args) == 0 {
		return false
	}
	q := strings.TrimSpace(query)
	return len(q) < 4 || !strings.EqualFold(q[:4], "COPY")
}

// prepared returns query's statement, preparing it on first use.
func (c *cachingConn) prepared(ctx context.Context, query string) (preparedStmt, error) {
	if e, ok := c.byQuery[query]; ok {
		c.recent.MoveToFront(e)
		return e.Value.(*cachedStmt).stmt, nil
	}
	s, err := c.pqConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := s.(preparedStmt)
	if !ok {
		_ = s.Close()
		return nil, errors.New("database driver statement does not take a context")
	}
	for c.recent.Len() >= c.size {
		c.evict(c.recent.Back())
	}
	c.byQuery[query] = c.recent.PushFront(&cachedStmt{query: query, stmt: st})
	return st, nil
}

func (c *cachingConn) forget(query string) {
	if e, ok := c.byQuery[query]; ok {
		c.evict(e)
	}
}

// evict deallocates e's statement on the server. A failure leaves the
// connection unusable, which lib/pq reports on its next use.
func (c *cachingConn) evict(e *list.Element) {
	cs := c.recent.Remove(e).(*cachedStmt)
	delete(c.byQuery, cs.query)
	_ = cs.stmt.Close()
}

// Close closes the connection; the server drops its statements with it.
func (c *cachingConn) Close() error { return c.pqConn.Close() }

// planOutdated reports PostgreSQL refusing a prepared statement whose
// result columns changed under it (a migration altered a table it reads):
// it is prepared again on its next use.
func planOutdated(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && pe.Code == "0A000" && strings.Contains(pe.Message, "cached plan must not change result type")
}
