package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/metric"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/loaders"
	"github.com/issuegraph/issuegraph/subscriptions/delivery"
)

// isRealtime reports whether r opens a subscription stream: a WebSocket
// upgrade or an SSE request.
func isRealtime(r *http.Request) bool {
	return isUpgrade(r) || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// withLoaders gives each request its own dataloaders, so batches never mix
// two viewers and run with the request's own context and deadline.
// opts.Naive (ISSUEGRAPH_LOADERS=false, for benchmarks only) makes them
// fetch one key per statement, like resolvers without loaders.
func withLoaders(client *ent.Client, opts loaders.Options) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isRealtime(r) {
				// A subscription lives for as long as its connection: loaders
				// attached here would cache the first event's rows for every
				// later one. Each burst of events gets its own (loadersPerBurst).
				next.ServeHTTP(w, r)
				return
			}
			ctx := loaders.NewContext(r.Context(), loaders.New(client, opts))
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// loadersPerBurst lets a subscription give each burst of events it
// delivers fresh loaders (subscriptions/delivery makes them and its
// Handoff carries them): the request's would otherwise live, and cache,
// for the whole subscription. The operation's
// context is the one both the subscription resolver and the resolution of
// each event see, so the loaders are handed over there. Queries and
// mutations keep the request's.
func loadersPerBurst(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if op := graphql.GetOperationContext(ctx); op.Operation != nil && op.Operation.Operation == ast.Subscription {
		ctx = delivery.Prepare(ctx)
	}
	return next(ctx)
}

// reportStatements adds extensions.dbStatements, the number of database
// statements the operation ran so far, to each response (development
// only: it tells clients about the server's internals).
func reportStatements(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	c := database.StatementCounterFrom(ctx)
	if resp == nil || c == nil {
		return resp
	}
	if resp.Extensions == nil {
		resp.Extensions = map[string]any{}
	}
	resp.Extensions["dbStatements"] = c.Count()
	return resp
}

func (s *Server) loaderOptions() loaders.Options {
	opts := loaders.Options{Naive: !s.cfg.Loaders, Wait: s.cfg.LoaderWait, Tracer: s.tel.Tracer.Tracer("github.com/issuegraph/issuegraph/loaders")}
	size, err := s.tel.Meter.Meter("github.com/issuegraph/issuegraph/loaders").Int64Histogram("dataloader.batch.size",
		metric.WithDescription("Keys served by one dataloader batch."), metric.WithUnit("{key}"),
		metric.WithExplicitBucketBoundaries(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))
	if err != nil {
		s.log.Error("dataloader metrics disabled", "error", err)
		return opts
	}
	opts.BatchSize = size
	return opts
}
