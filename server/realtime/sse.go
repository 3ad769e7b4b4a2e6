package realtime

import (
	"bytes"
	"context"
	"net/http"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/server/auth"
)

// sseTransport is gqlgen's SSE transport, except that a subscription the
// server ends for a reason worth retrying (retryableEnd: going away, the
// broker cannot serve it now) ends the stream with neither that error nor
// `event: complete`: a client reconnects after a stream that just ends
// (EventSource does by itself) and resumes with after, where complete
// would tell it the subscription is over.
//
// A stream whose credential is revoked (revocation.go) gets one
// UNAUTHENTICATED error event, then `event: complete`.
type sseTransport struct {
	transport.SSE
	streams *streamWatch
}

var _ graphql.Transport = sseTransport{}

func (t sseTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ex := &retryingExecutor{GraphExecutor: exec}
	if key := auth.ViewerKey(viewer.FromContext(r.Context())); key != "" && t.streams != nil {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer t.streams.watch(key, func() { ex.revoked.Store(true); cancel() })()
		r = r.WithContext(ctx)
	}
	t.SSE.Do(&sseWriter{ResponseWriter: w, ex: ex}, r, ex)
}

// retryingExecutor ends a subscription's responses, without the last one,
// at a retryable end.
type retryingExecutor struct {
	graphql.GraphExecutor
	retry atomic.Bool
	// revoked: the viewer's credential was revoked; told: the stream has
	// said so.
	revoked, told atomic.Bool
}

func (e *retryingExecutor) DispatchOperation(ctx context.Context, rc *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	next, ctx := e.GraphExecutor.DispatchOperation(ctx, rc)
	if !isSubscription(rc) {
		return next, ctx
	}
	return func(ctx context.Context) *graphql.Response {
		if e.retry.Load() || e.told.Load() {
			return nil
		}
		resp := next(ctx)
		if e.revoked.Load() {
			e.told.Store(true)
			return revokedResponse()
		}
		if resp != nil && retryableEnd(resp) {
			e.retry.Store(true)
			return nil
		}
		return resp
	}, ctx
}

// sseWriter drops the stream's `event: complete` after a retryable end.
type sseWriter struct {
	http.ResponseWriter
	ex *retryingExecutor
}

var sseComplete = []byte("event: complete\n\n")

func (w *sseWriter) Write(b []byte) (int, error) {
	if w.ex.retry.Load() && bytes.Equal(b, sseComplete) {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets gqlgen's SSE transport, which requires an http.Flusher, flush
// through the wrapper.
func (w *sseWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *sseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
