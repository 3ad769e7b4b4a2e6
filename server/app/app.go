package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/server"
	"github.com/issuegraph/issuegraph/server/telemetry"
)

// App is one running instance's parts, built by Open in the order they
// depend on each other.
type App struct {
	Config    config.Config
	Log       *slog.Logger
	Telemetry *telemetry.Telemetry
	DB        *database.DB
	// Redis is nil when ISSUEGRAPH_REDIS_URL is empty: one instance with
	// in-process equivalents.
	Redis  *redis.Client
	Server *server.Server

	closers []func() // in the order they run: last opened first
}

// Options adjust what Open builds.
type Options struct {
	// Version is reported by telemetry.
	Version string
	// Telemetry replaces the providers Open would set up from the
	// environment (tests: telemetry.Noop, or an in-memory exporter). The
	// caller keeps it: Close does not flush it.
	Telemetry *telemetry.Telemetry
	// Uninstrumented builds the instance with no telemetry at all: no-op
	// providers, and the database and Redis clients not wrapped (most
	// tests: the wrappers allocate on every statement even when their
	// providers record nothing).
	Uninstrumented bool
}

// Open builds an instance from cfg: telemetry, then the database (created
// and migrated with AutoMigrate, seeded with the demo data when asked),
// then Redis, then the server on top of them. On an error everything
// opened so far is closed again.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger, opts Options) (_ *App, err error) {
	a := &App{Config: cfg, Log: log, Telemetry: opts.Telemetry}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	instrumented := a.Telemetry
	if opts.Uninstrumented {
		a.Telemetry, instrumented = telemetry.Noop(), nil
	}
	if a.Telemetry == nil {
		tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "issuegraph", Version: opts.Version, Environment: cfg.Env, PrintSpans: cfg.TraceStdout})
		if err != nil {
			return nil, err
		}
		a.Telemetry, instrumented = tel, tel
		a.onClose(func() {
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := tel.Close(flushCtx); err != nil {
				log.Warn("flushing telemetry", "error", err)
			}
		})
	}
	if a.DB, err = OpenDatabase(ctx, cfg, log, instrumented); err != nil {
		return nil, err
	}
	a.onClose(func() { _ = a.DB.Close() })
	if cfg.DemoData {
		if err := SeedDemo(ctx, a.DB, log); err != nil {
			return nil, err
		}
	}
	if a.Redis, err = openRedis(cfg.RedisURL, instrumented); err != nil {
		return nil, err
	}
	if a.Redis != nil {
		a.onClose(func() { _ = a.Redis.Close() })
	}
	a.Server = server.New(cfg, a.DB, a.Redis, log, a.Telemetry)
	return a, nil
}

func (a *App) onClose(f func()) { a.closers = append(a.closers, f) }

// Close releases what Open opened, last first. Call it once Run returned.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// Run serves the API on ln, and the metrics on their own address unless
// ISSUEGRAPH_METRICS_ADDR is off, until ctx ends; then it shuts down
// gracefully (server.Serve).
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	if a.Config.MetricsAddr != "off" {
		stop, err := serveMetrics(ctx, a.Config.MetricsAddr, a.Telemetry.Metrics, a.Config.Pprof, a.Log)
		if err != nil {
			_ = ln.Close()
			return err
		}
		defer stop()
	}
	return a.Server.Serve(ctx, ln)
}

// openRedis connects to Redis when url is set, with every command traced
// and counted through tel (nil: not instrumented); nil when url is empty.
// An unreachable Redis at start is not fatal: the instance degrades as
// documented and the client reconnects by itself.
func openRedis(url string, tel *telemetry.Telemetry) (*redis.Client, error) {
	if url == "" {
		return nil, nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("ISSUEGRAPH_REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(opts)
	if tel == nil {
		return rdb, nil
	}
	if err := redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(tel.Tracer)); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("tracing redis: %w", err)
	}
	if err := redisotel.InstrumentMetrics(rdb, redisotel.WithMeterProvider(tel.Meter)); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("measuring redis: %w", err)
	}
	return rdb, nil
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
