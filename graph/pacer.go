package graph

import "context"

// Pacer lets a transport resolve a subscription's events on the goroutine
// that delivers them, instead of keeping a goroutine of its own parked on
// the subscription's channel for the subscription's whole life.
//
// When the operation's context carries a Pacer (WithPacer), the
// subscription calls Paced once before its resolver returns, buffers one
// event in its channel, and calls Ready each time the channel holds one
// more thing to take: an event, or the channel's close. The transport then
// takes exactly one response per Ready, on the caller's goroutine when
// nothing else is taking one, so the event is written by the time Ready
// returns. Without a Pacer (SSE) the transport reads the channel itself.
type Pacer interface {
	Paced()
	Ready()
}

type pacerKey struct{}

// WithPacer makes the subscriptions started under ctx paced by p.
func WithPacer(ctx context.Context, p Pacer) context.Context {
	return context.WithValue(ctx, pacerKey{}, p)
}

func pacerFrom(ctx context.Context) Pacer {
	p, _ := ctx.Value(pacerKey{}).(Pacer)
	return p
}

// pace tells p, when there is one, that one more response is ready.
func pace(p Pacer) {
	if p != nil {
		p.Ready()
	}
}
