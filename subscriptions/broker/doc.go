// Package broker fans events out to real-time subscribers.
//
// Events are published to named streams ("project:42", "issue:7"). Each server
// instance holds at most one upstream subscription per stream that has local
// subscribers and fans every message out to them. Two implementations exist:
//
//   - NewMemory: in process, for a single instance without Redis.
//   - NewRedis: Redis pub/sub over one shared connection per instance.
//     SUBSCRIBE when a stream's first local subscriber arrives, UNSUBSCRIBE
//     when its last one leaves. Subscribe returns only once Redis has
//     confirmed the channel subscription (a PING written after the
//     SUBSCRIBE has been answered), so anything published afterwards is
//     delivered; the subscription layer can then read the event log after
//     its cursor without a gap. go-redis reconnects and resubscribes by
//     itself after an outage; subscriptions stay open. While Redis is
//     unreachable Publish fails within 2 s (when the caller's context has no
//     deadline) and Subscribe fails; Healthy reports the connection state.
//
// Delivery is at-most-once: the durable event log in PostgreSQL, not the
// broker, is what guarantees that a client sees every event. A subscriber
// whose buffer (Options.BufferSize, default 64) is full when a message
// arrives is ended with ErrSlowConsumer rather than slowing the others or
// silently losing messages, so the layer above knows it must catch up from
// the log; messages published while the Redis connection is down are not
// delivered either.
//
// The tests need Redis at 127.0.0.1:6379; each uses its own random channel
// prefix, so runs can overlap. They never stop Redis: connection loss is
// simulated by killing only the broker's own pub/sub connection (CLIENT
// KILL ID).
//
// BenchmarkFanout delivers one message to 1,000 local subscribers of one
// stream per iteration, every subscriber drained (2 vCPU AMD EPYC shared
// with other builds, Redis 7.0 on localhost;
// go test -run '^$' -bench BenchmarkFanout -benchmem -count=3 ./subscriptions/broker):
//
//	case    ns/op              ns/delivery  B/op   allocs/op
//	memory  71,000–89,000      71–89        48     1
//	redis   205,000–236,000    205–236      1,032  23
//
// The one allocation in memory is the copy of the payload, shared by all
// subscribers; the redis case adds the PUBLISH round trip and go-redis's
// parsing of the message.
package broker
