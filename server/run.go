package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/seed"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/server/auth"
	"github.com/issuegraph/issuegraph/server/telemetry"
)

// OpenDatabase opens the configured database. With AutoMigrate (the
// development default) it first creates the database if it is missing and
// applies pending migrations; otherwise it refuses a database that lacks a
// migration this binary needs.
func OpenDatabase(ctx context.Context, cfg config.Config, log *slog.Logger) (*database.DB, error) {
	return OpenDatabaseWith(ctx, cfg, log, nil)
}

// OpenDatabaseWith is OpenDatabase with statements traced and the pool
// measured through tel (nil: not instrumented).
func OpenDatabaseWith(ctx context.Context, cfg config.Config, log *slog.Logger, tel *telemetry.Telemetry) (*database.DB, error) {
	if cfg.AutoMigrate {
		created, err := database.EnsureExists(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, err
		}
		if created {
			log.Info("created database", "url", database.Redact(cfg.DatabaseURL))
		}
	}
	opts := database.Options{
		MaxOpenConns: cfg.DBMaxOpenConns, MaxIdleConns: cfg.DBMaxOpenConns, StatementTimeout: cfg.StatementTimeout,
		StatementCache: cfg.DBStatementCache, WrapDriver: database.CountStatements,
	}
	if tel != nil {
		opts.Tracer, opts.Meter = tel.Tracer, tel.Meter
	}
	db, err := database.Open(ctx, cfg.DatabaseURL, opts)
	if err != nil {
		return nil, err
	}
	if cfg.AutoMigrate {
		applied, err := database.Migrate(ctx, db.SQL)
		if err != nil {
			db.Close()
			return nil, err
		}
		if len(applied) > 0 {
			log.Info("applied migrations", "versions", applied)
		}
		return db, nil
	}
	pending, err := database.Pending(ctx, db.SQL)
	if err != nil {
		db.Close()
		return nil, err
	}
	if len(pending) > 0 {
		db.Close()
		return nil, fmt.Errorf("database lacks migrations %s: run `issuegraph migrate` first", strings.Join(pending, ", "))
	}
	return db, nil
}

// SeedDemo loads the demo organization when the database is empty.
func SeedDemo(ctx context.Context, db *database.DB, log *slog.Logger) error {
	ctx = viewer.SystemContext(ctx)
	empty, err := seed.IsEmpty(ctx, db.Client)
	if err != nil || !empty {
		return err
	}
	hash, err := auth.HashPassword(seed.DemoPassword)
	if err != nil {
		return err
	}
	if err := seed.Demo(ctx, db.Client, hash); err != nil {
		return err
	}
	log.Info("loaded demo data", "organization", "acme", "users", seed.DemoUsers, "password", seed.DemoPassword)
	return nil
}

// SeedScale fills an empty database with a generated organization of
// seed.SizesAt(scale), for benchmarks.
func SeedScale(ctx context.Context, db *database.DB, scale float64, log *slog.Logger) error {
	hash, err := auth.HashPassword(seed.ScalePassword)
	if err != nil {
		return err
	}
	sizes := seed.SizesAt(scale)
	start := time.Now()
	if err := seed.Generate(ctx, db.SQL, sizes, hash); err != nil {
		return err
	}
	log.Info("generated data", "organization", seed.ScaleOrganization, "sizes", fmt.Sprintf("%+v", sizes),
		"first_user", seed.ScaleUserEmail(1), "password", seed.ScalePassword, "seconds", time.Since(start).Seconds())
	return nil
}

// Run starts a whole instance from cfg and serves until ctx ends.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, version string) error {
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "issuegraph", Version: version, Environment: cfg.Env, PrintSpans: cfg.TraceStdout})
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tel.Close(flushCtx); err != nil {
			log.Warn("flushing telemetry", "error", err)
		}
	}()
	db, err := OpenDatabaseWith(ctx, cfg, log, tel)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.DemoData {
		if err := SeedDemo(ctx, db, log); err != nil {
			return err
		}
	}
	rdb, err := OpenRedis(ctx, cfg.RedisURL)
	if err != nil {
		return err
	}
	if rdb != nil {
		redis.SetLogger(NewRedisLogger(log))
		defer rdb.Close()
		if err := InstrumentRedis(rdb, tel); err != nil {
			return err
		}
	}
	srv := New(cfg, db, rdb, log, WithTelemetry(tel))
	if cfg.MetricsAddr != "off" {
		stop, err := serveMetrics(ctx, cfg.MetricsAddr, srv.MetricsHandler(), cfg.Pprof, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	base := "http://" + ln.Addr().String()
	log.Info("issuegraph is serving", "api", base+"/graphql", "env", cfg.Env)
	if !cfg.Production() {
		fmt.Printf("\nIssuegraph is running.\n  GraphiQL:  %s/\n  API:       %s/graphql\n  Sign in:   mutation { logIn(input: {email: %q, password: %q}) { tokens { accessToken } } }\n\n",
			base, base, seed.DemoUsers[0], seed.DemoPassword)
	}
	return srv.Serve(ctx, ln)
}

// OpenRedis connects to Redis when url is set; nil when it is empty. An
// unreachable Redis at start is not fatal: the instance degrades as
// documented and the client reconnects by itself.
func OpenRedis(ctx context.Context, url string) (*redis.Client, error) {
	if url == "" {
		return nil, nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("ISSUEGRAPH_REDIS_URL: %w", err)
	}
	return redis.NewClient(opts), nil
}

// InstrumentRedis gives every Redis command a span and counts them.
func InstrumentRedis(rdb *redis.Client, tel *telemetry.Telemetry) error {
	if err := redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(tel.Tracer)); err != nil {
		return fmt.Errorf("tracing redis: %w", err)
	}
	if err := redisotel.InstrumentMetrics(rdb, redisotel.WithMeterProvider(tel.Meter)); err != nil {
		return fmt.Errorf("measuring redis: %w", err)
	}
	return nil
}

// serveMetrics serves /metrics on addr until stop is called, and the
// profiler under /debug/pprof/ when withPprof is set.
func serveMetrics(ctx context.Context, addr string, h http.Handler, withPprof bool, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	if withPprof {
		// Registered by hand: importing net/http/pprof for its side effect
		// would put it on http.DefaultServeMux, which nothing here serves.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "error", err)
		}
	}()
	log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(shutdownCtx)
		<-done
	}, nil
}
