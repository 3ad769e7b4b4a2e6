package broker_test

import (
	"context"
	"testing"

	"github.com/issuegraph/issuegraph/subscriptions/broker"
)

// BenchmarkFanout delivers one message to 1,000 local subscribers of one
// stream per iteration, and drains every subscriber, so an iteration is one
// complete fan-out. The redis case adds the round trip through Redis.
func BenchmarkFanout(b *testing.B) {
	const subscribers = 1000
	for _, impl := range implementations {
		b.Run(impl.name, func(b *testing.B) {
			br := impl.new(b, broker.Options{})
			subs := make([]*broker.Subscription, subscribers)
			for i := range subs {
				subs[i] = MustSubscribe(b, br, "project:1")
			}
			payload := []byte(`{"type":"IssueUpdated","issue":"ENG-42"}`)
			ctx := context.Background()

			b.ReportAllocs()
			for b.Loop() {
				if err := br.Publish(ctx, "project:1", payload); err != nil {
					b.Fatal(err)
				}
				for _, sub := range subs {
					if _, ok := <-sub.C(); !ok {
						b.Fatalf("subscription ended: %v", sub.Err())
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subscribers), "ns/delivery")
		})
	}
}
