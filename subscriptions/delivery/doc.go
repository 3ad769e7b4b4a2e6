// Package delivery delivers a stream's events to one subscriber: it
// re-checks the subscriber's membership before every burst, loads the
// burst's objects once per viewer (and fresh loaders for the fields below
// them), and hands each event, with its span, to the transport through the
// operation's one Handoff.
//
// An event's way from the feed to the socket:
//
//	subscriptions.Feed.Start -> Deliverer.deliver (members.go, loads.go,
//	spans.go) -> the subscription's channel -> Handoff (pace, span,
//	loaders) -> the transport's response (server/observe.go Await,
//	server/realtime/wstransport writes it).
package delivery
