package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/XSAM/otelsql"
	"github.com/lib/pq"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/issuegraph/issuegraph/ent/ent"
	// The generated runtime registers the schemas' defaults, hooks and
	// privacy policies; a client built without it would skip authorization.
	_ "github.com/issuegraph/issuegraph/ent/ent/runtime"
)

// Options tune the connection pool and the server-side statement timeout.
type Options struct {
	MaxOpenConns     int
	MaxIdleConns     int
	StatementTimeout time.Duration
	// StatementCache is how many statements each connection keeps
	// prepared (stmtcache.go); zero prepares none, for poolers that cannot
	// carry prepared statements.
	StatementCache int
	// WrapDriver, when set, wraps the ent driver (tests count statements
	// with it).
	WrapDriver func(dialect.Driver) dialect.Driver
	// Tracer and Meter, when set, give every statement a span and publish
	// the pool's statistics (XSAM/otelsql).
	Tracer trace.TracerProvider
	Meter  metric.MeterProvider
}

// DB is an open database: the ent client and the *sql.DB under it.
type DB struct {
	Client *ent.Client
	SQL    *sql.DB
}

// Close closes the client and the pool.
func (d *DB) Close() error { return d.Client.Close() }

// Open connects to the database at rawURL and checks it answers.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	dsn, err := withStatementTimeout(rawURL, opts.StatementTimeout)
	if err != nil {
		return nil, err
	}
	if opts.StatementCache > 0 {
		dsn = withDefault(dsn, "plan_cache_mode", "force_generic_plan")
	}
	dsn = withDefault(dsn, "random_page_cost", "1.1")
	pqc, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	var connector driver.Connector = pqc
	if opts.StatementCache > 0 {
		connector = stmtCacheConnector{Connector: pqc, size: opts.StatementCache}
	}
	var db *sql.DB
	if opts.Tracer != nil && opts.Meter != nil {
		db = otelsql.OpenDB(connector,
			otelsql.WithTracerProvider(opts.Tracer),
			otelsql.WithMeterProvider(opts.Meter),
			otelsql.WithAttributes(semconv.DBSystemNamePostgreSQL),
			otelsql.WithSpanOptions(otelsql.SpanOptions{OmitConnResetSession: true, OmitRows: true, OmitConnectorConnect: true, DisableErrSkip: true}),
		)
		if _, err := otelsql.RegisterDBStatsMetrics(db, otelsql.WithMeterProvider(opts.Meter), otelsql.WithAttributes(semconv.DBSystemNamePostgreSQL)); err != nil {
			db.Close()
			return nil, fmt.Errorf("opening database: %w", err)
		}
	} else {
		db = sql.OpenDB(connector)
	}
	if opts.MaxOpenConns > 0 {
		db.SetMaxOpenConns(opts.MaxOpenConns)
	}
	if opts.MaxIdleConns > 0 {
		db.SetMaxIdleConns(opts.MaxIdleConns)
	}
	db.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to %s: %w", Redact(rawURL), err)
	}
	var drv dialect.Driver = pinningDriver{entsql.OpenDB("postgres", db)}
	var client *ent.Client
	if opts.WrapDriver != nil {
		client = ent.NewClient(ent.Driver(opts.WrapDriver(drv)))
	} else {
		client = ent.NewClient(ent.Driver(drv))
	}
	return &DB{Client: client, SQL: db}, nil
}

// withStatementTimeout adds PostgreSQL's statement_timeout as a run-time
// parameter of every connection, so no query can run longer than the
// request that asked for it.
func withStatementTimeout(rawURL string, d time.Duration) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("database URL must look like postgres://user@host:port/name")
	}
	if d > 0 {
		q := u.Query()
		q.Set("statement_timeout", fmt.Sprint(d.Milliseconds()))
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// Planner settings every connection starts with (as run-time parameters
// of the URL) unless the URL sets them itself; a startup parameter wins
// over ALTER DATABASE settings, so an operator who wants others sets them
// in the URL.
//
// plan_cache_mode=force_generic_plan (with the statement cache only): the
// prepared statements keep one generic plan. PostgreSQL's default plans a
// statement afresh, for its actual arguments, whenever a custom plan looks
// cheaper than the generic one; for a statement with an array of ids that
// is every time, and planning a page of issues with its privacy filter
// cost as much CPU as running it. Every statement Issuegraph reads with is
// driven by indexes on ids and foreign keys, which the generic plan uses
// whatever the arguments.
//
// random_page_cost=1.1 (PostgreSQL's documentation suggests about that for
// solid-state storage and data that stays in memory; its default 4.0 is
// for spinning disks): with 4.0 it reads each issue's first comments by a
// bitmap scan of all of them and a sort, instead of walking the (issue_id,
// created_at, id) index in order and stopping at the page's end; on a
// deep page of 200 issues that cost a seventh of its PostgreSQL CPU.
//
// withDefault adds the run-time parameter name=value to the URL dsn unless
// it sets name itself.
func withDefault(dsn, name, value string) string {
	u, err := url.Parse(dsn)
	if err != nil { // withStatementTimeout parsed it already
		return dsn
	}
	q := u.Query()
	if q.Get(name) == "" {
		q.Set(name, value)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// EnsureExists creates the database named in rawURL when it is missing,
// by connecting to the server's "postgres" maintenance database.
func EnsureExists(ctx context.Context, rawURL string) (created bool, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false, fmt.Errorf("parsing database URL: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return false, errors.New("database URL names no database")
	}
	admin := *u
	admin.Path = "/postgres"
	db, err := sql.Open("postgres", admin.String())
	if err != nil {
		return false, fmt.Errorf("opening maintenance database: %w", err)
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return false, fmt.Errorf("connecting to %s: %w", Redact(admin.String()), err)
	}
	if exists {
		return false, nil
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code == "42P04" { // created meanwhile by another process
			return false, nil
		}
		return false, fmt.Errorf("creating database %q: %w", name, err)
	}
	return true, nil
}

// Redact hides the password of a database or Redis URL for logs and errors.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
