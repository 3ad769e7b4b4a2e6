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
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/redis/go-redis/v9"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/server/auth"
	"github.com/issuegraph/issuegraph/server/graphiql"
	"github.com/issuegraph/issuegraph/server/limits"
	"github.com/issuegraph/issuegraph/server/persisted"
	"github.com/issuegraph/issuegraph/server/realtime"
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
	// rt is the real-time side (server/realtime).
	rt *realtime.Realtime
	// Abuse control: persisted operations (server/persisted), the
	// parsed-document cache they share with the limits, structural and
	// cost limits with the rate limiter, and the execution budget
	// (server/limits; admission is nil without a budget).
	persisted *persisted.Extension
	docs      *persisted.DocumentCache
	limiter   *limits.Extension
	// idempotency answers retried requests (server/idempotency.go).
	idempotency *idempotency
	// throttle bounds the log lines of failures that hit every request
	// (server/unavailable.go).
	throttle  *logThrottle
	admission *limits.Admission
	// revocations are the sessions and API keys revoked lately
	// (server/revocation.go; open streams: server/realtime).
	revocations *auth.Revocations
}

// New builds a server on an open, migrated database and, when rdb is not
// nil, a Redis client it shares with the other instances; tel traces and
// measures it (nil: no-op providers, no metrics). Its parts are built in
// the order they depend on each other, each from what was built before
// it: nothing is replaced or filled in afterwards.
func New(cfg config.Config, db *database.DB, rdb *redis.Client, log *slog.Logger, tel *telemetry.Telemetry) *Server {
	if tel == nil {
		tel = telemetry.Noop()
	}
	revocations := auth.NewRevocations(db.Client, rdb, auth.RevocationOptions{
		Channel: cfg.RedisPrefix + "revocations",
		Window:  cfg.AccessTokenTTL + time.Minute, // a minute for clock skew
		Logger:  log,
	})
	s := &Server{
		cfg: cfg, db: db, redis: rdb, log: log, tel: tel, revocations: revocations,
		tokens: auth.NewService(db.Client, auth.Options{
			Secret: cfg.JWTSecret, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
			AccessTTL: cfg.AccessTokenTTL, RefreshTTL: cfg.RefreshTokenTTL, Revocations: revocations,
		}),
		throttle: newLogThrottle(time.Second),
	}
	s.idempotency = &idempotency{db: db, log: log, retention: cfg.IdempotencyRetention, throttle: s.throttle}
	// --- real-time: broker, relay, feed, transports (server/realtime) ---
	s.rt = realtime.New(realtime.Options{
		Config: cfg, DB: db, Redis: rdb, Tokens: s.tokens, Log: log, Meter: tel.Meter,
		Recover: recoverPanic(log), Authenticated: setViewer,
	})
	revocations.OnRevoke(s.rt.CloseRevoked)
	// --- abuse control (server/persisted, server/limits) ---
	s.docs = persisted.NewDocumentCache(10_000, 1000)
	s.persisted = persisted.NewExtension(persisted.Options{
		Config: cfg, Client: db.Client, Redis: rdb, Log: log, Meter: tel.Meter, RequestID: RequestID,
	})
	s.limiter = limits.New(limits.Options{
		Config: cfg, Redis: rdb, Log: log, Meter: tel.Meter, Docs: s.docs,
		// The schema is static: the executable schema graphql builds
		// serves the same one.
		Schema:    graph.NewExecutableSchema(graph.Config{}).Schema(),
		RequestID: RequestID, ClientAddress: clientAddress, LogAllowed: s.throttle.allow,
	})
	s.admission = limits.NewAdmission(cfg.ExecutionBudget, cfg.OperationsAtOnce, cfg.OperationQueueTimeout)
	s.handler = s.routes(s.graphql())
	return s
}

// MetricsHandler serves the instance's metrics in the Prometheus format.
// Run serves it on its own address (ISSUEGRAPH_METRICS_ADDR), away from the
// public API.
func (s *Server) MetricsHandler() http.Handler { return s.tel.Metrics }

// ActiveSubscriptions is the number of the instance's subscribers that
// follow their stream live (tests wait for it).
func (s *Server) ActiveSubscriptions() int { return s.rt.Active() }

// QueuedOperations is how many operations wait for room in the execution
// budget right now, so tests (and operators) can see a queue form.
func (s *Server) QueuedOperations() int {
	if s.admission == nil {
		return 0
	}
	return s.admission.Queued()
}

// routes puts the middleware in front of the GraphQL handler gql and
// serves it with the health endpoints and, in development, GraphiQL.
func (s *Server) routes(gql http.Handler) http.Handler {
	mux := http.NewServeMux()
	// The meter comes before every check that may refuse a request, so
	// every GraphQL response carries the rate-limit headers; authentication
	// comes before the body checks, so those refusals report the viewer's
	// bucket rather than the address's. A batch is split after both: each
	// of its operations is one request to everything below (its own
	// loaders, persisted lookup, limits and charge).
	api := chain(gql,
		cors(s.cfg.CORSOrigins),
		withClientAddress(s.cfg.TrustedProxyHops),
		s.limiter.MeterRequests,
		deadline(s.cfg.RequestTimeout),
		authenticate(s.tokens, newAccounts(s.db.Client, time.Second)),
		s.limiter.MeterViewer,
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
	return realtime.DetachWebSockets(traced)
}

// graphql builds the gqlgen handler with explicit transports: JSON over
// POST, and GET for queries only.
func (s *Server) graphql() http.Handler {
	throttle := auth.NewThrottle(s.redis, s.cfg.RedisPrefix+"signin:", auth.ThrottleOptions{
		FailuresPerAccount: s.cfg.SignInFailuresPerAccount, FailuresPerAddress: s.cfg.SignInFailuresPerAddress, Lockout: s.cfg.SignInLockout,
	}, s.log)
	resolver := graph.NewResolver(s.db.Client, sessions{s.tokens}, s.log,
		append(s.rt.ResolverOptions(),
			graph.WithSignInGuard(signInGuard{throttle}),
			graph.WithEventLoaders(s.loaderOptions()),
			graph.WithTracing(s.tel.Tracer))...)
	es := graph.NewExecutableSchema(graph.Config{Resolvers: resolver})
	srv := handler.New(es)
	s.rt.AddTransports(srv)          // --- real-time hook: WebSocket and SSE, before POST ---
	srv.AddTransport(getTransport{}) // server/httptransport.go: GraphQL over HTTP as the spec words it
	srv.AddTransport(postTransport{})
	srv.SetQueryCache(s.docs)
	srv.SetParserTokenLimit(s.cfg.Limits.MaxTokens)
	// "Did you mean" suggestions would let anyone map the schema with
	// introspection turned off.
	srv.SetDisableSuggestion(s.cfg.Production())
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
	srv.AroundResponses(realtime.SubscriptionErrors)
	if !s.cfg.Production() {
		srv.AroundResponses(reportStatements)
	}
	// Abuse control. Persisted operations first: the limits see the
	// document that will actually run. Admission after the limiter, so its
	// response interceptor runs inside the limiter's (gqlgen nests the
	// first one outermost): an operation it refuses still gets its charge
	// refunded and its extensions.cost.
	srv.Use(s.persisted)
	srv.Use(s.limiter)
	if s.admission != nil {
		srv.Use(s.admission)
	}
	return srv
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
	stopRealtime := s.rt.Start(context.WithoutCancel(ctx))
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
	s.rt.GoingAway(shutdownCtx) // --- real-time hook: WebSockets are hijacked; Shutdown does not close them ---
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
