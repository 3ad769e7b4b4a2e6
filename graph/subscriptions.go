package graph

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/issuegraph/issuegraph/graph/model"
	"github.com/issuegraph/issuegraph/loaders"
	"github.com/issuegraph/issuegraph/subscriptions"
	"github.com/issuegraph/issuegraph/subscriptions/delivery"
)

// WithEvents lets subscriptions follow streams through feed
// (subscriptions/delivery does the delivering). A client that does not
// take an event within sendTimeout is ended as a slow consumer (it can
// resume with its cursor).
func WithEvents(feed *subscriptions.Feed, sendTimeout time.Duration) Option {
	return func(r *Resolver) { r.events.Feed, r.events.SendTimeout = feed, sendTimeout }
}

// WithEventLoaders sets the options of the fresh loaders each burst of
// delivered events gets.
func WithEventLoaders(opts loaders.Options) Option {
	return func(r *Resolver) { r.events.Loaders = opts }
}

// WithTracing traces event deliveries through tp; without it they are not
// traced.
func WithTracing(tp trace.TracerProvider) Option {
	return func(r *Resolver) {
		r.events.Tracer = tp.Tracer("github.com/issuegraph/issuegraph/subscriptions/delivery")
	}
}

// subscribe starts following stream for the signed-in viewer, a member of
// organization orgID, after the cursor when one is given.
func (r *Resolver) subscribe(ctx context.Context, stream subscriptions.Stream, orgID int64, after *string) (<-chan *model.Event, error) {
	if r.deliverer == nil {
		return nil, Errorf(CodeUnavailable, "subscriptions are not enabled on this server")
	}
	userID, err := requireUser(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.deliverer.CheckMember(ctx, userID, orgID); err != nil {
		return nil, subscriptionError(err, 0)
	}
	start := int64(-1)
	if after != nil {
		if start, err = r.deliverer.CheckCursor(ctx, stream, *after); err != nil {
			return nil, subscriptionError(err, 0)
		}
	}
	return r.deliverer.Start(ctx, stream, userID, orgID, start), nil
}

// subscriptionError maps why a subscription could not start or ended to
// what the client sees; unexpected errors are returned unchanged (and
// masked by the error presenter).
func subscriptionError(err error, last int64) error {
	resume := ""
	if last > 0 {
		resume = " (your last cursor is " + subscriptions.Cursor(last) + ")"
	}
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, delivery.ErrNotMember):
		return Errorf(CodeForbidden, "%s", delivery.ErrNotMember.Error())
	case errors.Is(err, subscriptions.ErrBadCursor):
		return Errorf(CodeBadUserInput, "after is not a cursor of this stream")
	case errors.Is(err, subscriptions.ErrCursorAhead):
		return Errorf(CodeBadUserInput, "after is newer than the server's event log, which was restored from a backup taken before that event: refetch what you show, then subscribe without after")
	case errors.Is(err, subscriptions.ErrCursorExpired):
		return Errorf(CodeBadUserInput, "after is older than the event log's retention or not from this stream; reload, then subscribe without after")
	case errors.Is(err, subscriptions.ErrUnavailable), errors.Is(err, subscriptions.ErrClosed):
		return Errorf(CodeUnavailable, "%s%s", err.Error(), resume)
	case errors.Is(err, delivery.ErrSlowClient):
		return Errorf(CodeUnavailable, "you did not read events fast enough and were disconnected from this stream; subscribe again with after%s", resume)
	}
	return err
}

// endError turns the error that ended a subscription into what the client
// sees, with its last cursor to resume from; unexpected errors are logged
// here and masked by the error presenter.
func (r *Resolver) endError(ctx context.Context, err error, last int64) error {
	mapped := subscriptionError(err, last)
	e, ok := AsError(mapped)
	if !ok {
		r.log.ErrorContext(ctx, "subscription failed", "error", err)
		return mapped
	}
	if last > 0 {
		e = &Error{Code: e.Code, Message: e.Message, Extensions: map[string]any{"cursor": subscriptions.Cursor(last)}}
	}
	return e
}
