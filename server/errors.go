package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/lib/pq"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/server/limits"
)

// presentError turns a resolver's error into what the client sees. Errors
// with a code (graph.Error, or gqlgen's own parse and validation errors)
// pass through; anything else is an internal failure: logged with its
// cause and the request id, and shown as INTERNAL_SERVER_ERROR with no
// detail, so no SQL, driver or stack text ever reaches a client.
//
// A database or Redis that cannot be reached answers UNAVAILABLE, 503 and
// Retry-After (the client should retry; a load balancer may send it
// elsewhere), logged at most once a second per kind with a count.
// Introspection refused in production is the client's doing: its own
// code, logged below info.
func presentError(log *slog.Logger, throttle *logThrottle) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		ri := infoFrom(ctx)
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Err == nil {
			// Produced by gqlgen itself while reading the request.
			out := *gqlErr
			if out.Extensions == nil || out.Extensions["code"] == nil {
				out.Extensions = map[string]any{"code": string(graph.CodeBadUserInput)}
			}
			ri.addCode(out.Extensions["code"])
			return &out
		}
		out := graphql.DefaultErrorPresenter(ctx, err)
		if e, ok := graph.AsError(err); ok {
			out.Message = e.Message
			out.Extensions = map[string]any{"code": string(e.Code)}
			for k, v := range e.Extensions {
				out.Extensions[k] = v
			}
			ri.addCode(e.Code)
			return out
		}
		if stopped(ctx, err) {
			out.Extensions = map[string]any{"code": string(graph.CodeUnavailable), "requestId": ri.id}
			ri.addCode(graph.CodeUnavailable)
			if errors.Is(ctx.Err(), context.Canceled) {
				// The client went away (or the server is stopping): no
				// deadline ran out, and nobody reads this answer.
				out.Message = "the request was canceled before it finished"
				if ri.firstStop() {
					log.DebugContext(ctx, "request canceled", "request_id", ri.id, "path", out.Path.String(), "cause", context.Cause(ctx))
				}
				return out
			}
			out.Message = "the request took too long and was stopped; try a smaller query"
			// Every field still waiting fails at once when a request stops:
			// one line says why, not one per field.
			if ri.firstStop() {
				log.WarnContext(ctx, "request stopped", "request_id", ri.id, "path", out.Path.String(), "error", err, "cause", context.Cause(ctx))
			}
			return out
		}
		if introspectionRefused(err) {
			log.DebugContext(ctx, "introspection refused", "request_id", ri.id, "path", out.Path.String())
			out.Message = "introspection is disabled on this server"
			out.Extensions = map[string]any{"code": string(graph.CodeIntrospectionDisabled)}
			ri.addCode(graph.CodeIntrospectionDisabled)
			return out
		}
		if kind, ok := dependencyDown(err); ok {
			limits.Busy(ctx, time.Second)
			if ok, n := throttle.allow(kind); ok {
				log.ErrorContext(ctx, kind, "request_id", ri.id, "path", out.Path.String(), "error", err, "occurrences", n)
			}
			out.Message = "a service this API depends on is unavailable; retry shortly"
			out.Extensions = map[string]any{"code": string(graph.CodeUnavailable), "requestId": ri.id}
			ri.addCode(graph.CodeUnavailable)
			return out
		}
		log.ErrorContext(ctx, "internal error", "request_id", ri.id, "path", out.Path.String(), "error", err)
		out.Message = fmt.Sprintf("internal server error (request id %s)", ri.id)
		out.Extensions = map[string]any{"code": string(graph.CodeInternal), "requestId": ri.id}
		ri.addCode(graph.CodeInternal)
		return out
	}
}

// recoverPanic logs a resolver panic with its stack and turns it into an
// internal error for the client.
func recoverPanic(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "request_id", RequestID(ctx), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return fmt.Errorf("panic: %v", p)
	}
}

// stopped reports whether err is the request running out of time rather
// than a fault: its deadline passed or its client went away (the context
// is done; the driver may report that as its own error), or PostgreSQL
// cancelled a statement that passed statement_timeout.
func stopped(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == queryCanceled
}

// queryCanceled is PostgreSQL's SQLSTATE for a statement cancelled by
// statement_timeout or by a cancel request.
const queryCanceled = "57014"

// introspectionRefused reports whether err is gqlgen refusing __schema or
// __type because introspection is off.
func introspectionRefused(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if e.Error() == "introspection disabled" {
			return true
		}
	}
	return false
}

// firstStop reports whether this is the request's first error from being
// stopped.
func (ri *requestInfo) firstStop() bool {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	first := !ri.stopLogged
	ri.stopLogged = true
	return first
}

// addCode records one error of the response. The access log lists each
// code once and counts the errors: a page of a thousand rows that all
// failed the same way is one code, not a thousand.
func (ri *requestInfo) addCode(code any) {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	ri.errors++
	c := fmt.Sprint(code)
	if !slices.Contains(ri.errorCodes, c) {
		ri.errorCodes = append(ri.errorCodes, c)
	}
}
