// Package server wires Issuegraph's HTTP side: middleware, the GraphQL
// handler, health endpoints and graceful shutdown. Run starts a whole
// instance from a Config; New builds one from already opened parts so
// tests can run the real program on port :0.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/redis/go-redis/v9"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/server/auth"
	"github.com/issuegraph/issuegraph/server/graphiql"
	"github.com/issuegraph/issuegraph/server/telemetry"
)

// Server is one Issuegraph instance's HTTP side.
type Server struct {
	cfg config.Config
	db  *database.DB
	// redis is nil when ISSUEGRAPH_REDIS_URL is empty: one instance with
	// in-process equivalents.
	redis   *redis.Client
	log     *slog.Logger
	tokens  *auth.Service
	tel     *telemetry.Telemetry
	handler http.Handler
	// rt is the real-time side (server/realtime.go).
	rt *realtime
	// limiter meters requests (server/limits.go); set by graphql.
	limiter *costLimits
	// idempotency answers retried requests (server/idempotency.go).
	idempotency *idempotency
	// throttle bounds the log lines of failures that hit every request
	// (server/unavailable.go).
	throttle *logThrottle
	// admission bounds the work executed at once (server/admission.go);
	// nil without an execution budget.
	admission *admission
	// revocations are the sessions and API keys revoked lately
	// (server/revocation.go).
	revocations *auth.Revocations
}

// Option adjusts a Server built by New.
type Option func(*Server)

// WithTelemetry traces and measures the server with tel. Without it the
// server uses no-op providers and serves no metrics.
func WithTelemetry(tel *telemetry.Telemetry) Option { return func(s *Server) { s.tel = tel } }

// New builds a server on an open, migrated database and, when rdb is not
// nil, a Redis client it shares with the other instances.
func New(cfg config.Config, db *database.DB, rdb *redis.Client, log *slog.Logger, opts ...Option) *Server {
	revocations := auth.NewRevocations(db.Client, rdb, auth.RevocationOptions{
		Channel: cfg.RedisPrefix + "revocations",
		Window:  cfg.AccessTokenTTL + time.Minute, // a minute for clock skew
		Logger:  log,
	})
	s := &Server{
		cfg: cfg, db: db, redis: rdb, log: log, revocations: revocations,
		tokens: auth.NewService(db.Client, auth.Options{
			Secret: cfg.JWTSecret, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
			AccessTTL: cfg.AccessTokenTTL, RefreshTTL: cfg.RefreshTokenTTL, Revocations: revocations,
		}),
	}
	for _, o := range opts {
		o(s)
	}
	s.throttle = newLogThrottle(time.Second)
	s.idempotency = &idempotency{db: db, log: log, retention: cfg.IdempotencyRetention, throttle: s.throttle}
	if s.tel == nil {
		s.tel = telemetry.Noop()
	}
	// --- real-time hook: broker, relay, subscriptions (server/realtime.go) ---
	s.rt = newRealtime(cfg, db, rdb, s.tokens, log)
	revocations.OnRevoke(s.rt.closeRevoked)
	if err := s.registerRealtimeMetrics(); err != nil {
		log.Error("real-time metrics disabled", "error", err)
	}
	s.handler = s.routes()
	return s
}

// MetricsHandler serves the instance's metrics in the Prometheus format.
// Run serves it on its own address (ISSUEGRAPH_METRICS_ADDR), away from the
// public API.
func (s *Server) MetricsHandler() http.Handler { return s.tel.Metrics }

// QueuedOperations is how many operations wait for room in the execution
// budget right now, so tests (and operators) can see a queue form.
func (s *Server) QueuedOperations() int {
	if s.admission == nil {
		return 0
	}
	return int(s.admission.queued.Load())
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	gql := s.graphql()
	// The meter comes before every check that may refuse a request, so
	// every GraphQL response carries the rate-limit headers; authentication
	// comes before the body checks, so those refusals report the viewer's
	// bucket rather than the address's. A batch is split after both: each
	// of its operations is one request to everything below (its own
	// loaders, persisted lookup, limits and charge).
	api := chain(gql,
		cors(s.cfg.CORSOrigins),
		withClientAddress(s.cfg.TrustedProxyHops),
		s.limiter.meterRequests,
		deadline(s.cfg.RequestTimeout),
		authenticate(s.tokens, newAccounts(s.db.Client, time.Second)),
		s.limiter.meterViewer,
		graphqlRequest(s.cfg.BodyLimit, s.cfg.BatchMax),
		s.idempotency.middleware,
		batches(s.cfg.BatchMax),
		withLoaders(s.db.Client, s.loaderOptions()),
	)
	mux.Handle("/graphql", api)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if !s.cfg.Production() {
		mux.Handle("GET /{$}", graphiql.Page())
		mux.Handle("GET "+graphiql.AssetPrefix, graphiql.Assets())
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, graph.CodeNotFound, "not found; the API is at /graphql")
	})
	// otelhttp is outermost so the request's span (continuing an incoming
	// traceparent) is in the context of everything below, the access log
	// included.
	traced := otelhttp.NewHandler(chain(mux, requestContext(s.log, s.cfg.SlowOperation), securityHeaders), "http.server",
		otelhttp.WithTracerProvider(s.tel.Tracer),
		otelhttp.WithMeterProvider(s.tel.Meter),
		otelhttp.WithPropagators(s.tel.Propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }),
		otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/healthz" && r.URL.Path != "/readyz" }),
	)
	return detachWebSockets(traced)
}

// graphql builds the gqlgen handler with explicit transports: JSON over
// POST, and GET for queries only.
func (s *Server) graphql() http.Handler {
	resolver := graph.NewResolver(s.db.Client, s.tokens, s.log,
		append(s.rt.resolverOptions(),
			graph.WithSignInGuard(newSignInThrottle(s.cfg, s.redis, s.log)),
			graph.WithEventLoaders(s.loaderOptions()),
			graph.WithTracing(s.tel.Tracer))...)
	es := graph.NewExecutableSchema(graph.Config{Resolvers: resolver})
	srv := handler.New(es)
	s.rt.addTransports(srv)          // --- real-time hook: WebSocket and SSE, before POST ---
	srv.AddTransport(getTransport{}) // server/httptransport.go: GraphQL over HTTP as the spec words it
	srv.AddTransport(postTransport{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	if !s.cfg.Production() {
		srv.Use(extension.Introspection{})
	} else {
		srv.AroundRootFields(hideTypes) // server/introspection.go
	}
	if ot, err := newOperationTelemetry(s.tel.Tracer, s.tel.Meter); err != nil {
		s.log.Error("operation telemetry disabled", "error", err)
	} else {
		srv.Use(ot)
	}
	if tracesExported(s.tel.Tracer) {
		srv.Use(newResolverSpans(s.tel.Tracer))
	}
	srv.SetErrorPresenter(presentError(s.log, s.throttle))
	srv.SetRecoverFunc(recoverPanic(s.log))
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		op := graphql.GetOperationContext(ctx)
		ri := infoFrom(ctx)
		// A WebSocket runs its operations concurrently on one request.
		ri.mu.Lock()
		ri.operationName = op.OperationName
		if op.Operation != nil {
			ri.operationType = string(op.Operation.Operation)
			if ri.operationName == "" {
				ri.operationName = op.Operation.Name
			}
		}
		ri.mu.Unlock()
		return next(ctx)
	})
	srv.AroundOperations(loadersPerBurst)
	srv.AroundResponses(signInHint) // server/anonymous.go
	srv.AroundResponses(subscriptionErrors)
	if !s.cfg.Production() {
		srv.AroundResponses(reportStatements)
	}
	// Abuse control (server/limits.go, server/persisted.go): persisted
	// operations, structural and cost limits, cost-based rate limiting.
	return s.useLimits(srv, es.Schema())
}

// Serve answers on ln until ctx ends, then stops taking connections and
// waits up to the shutdown timeout for in-flight requests to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// --- real-time hook: the relay runs while the server serves ---
	stopRealtime := s.rt.start(context.WithoutCancel(ctx))
	defer stopRealtime()
	defer s.startRevocations(context.WithoutCancel(ctx))()
	sweepCtx, stopSweep := context.WithCancel(context.WithoutCancel(ctx))
	swept := make(chan struct{})
	go func() { defer close(swept); s.idempotency.sweep(sweepCtx, time.Minute) }()
	defer func() { stopSweep(); <-swept }()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.rt.goingAway(shutdownCtx) // --- real-time hook: WebSockets are hijacked; Shutdown does not close them ---
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
