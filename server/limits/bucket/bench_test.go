package bucket_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/issuegraph/issuegraph/server/limits/bucket"
)

// BenchmarkCharge measures one allowed charge, the path every request takes, on
// one key (serial) and on 1000 keys from parallel goroutines.
func BenchmarkCharge(b *testing.B) {
	// A capacity no benchmark drains: every charge is allowed and each bucket
	// stays partly spent, as for an active viewer.
	policy := bucket.Policy{Capacity: 1 << 40, RestoreRate: 50}
	limiters := map[string]func(b *testing.B) bucket.Limiter{
		"memory": func(*testing.B) bucket.Limiter { return bucket.NewMemory() },
		"redis": func(b *testing.B) bucket.Limiter {
			client := mustRedisClient(b)
			return bucket.NewRedis(client, mustPrefix(b, client))
		},
	}
	for _, name := range []string{"memory", "redis"} {
		b.Run(name, func(b *testing.B) {
			limiter := limiters[name](b)
			ctx := context.Background()
			for b.Loop() {
				if _, err := limiter.Charge(ctx, "user:42", 1, policy); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"-parallel", func(b *testing.B) {
			limiter := limiters[name](b)
			ctx := context.Background()
			keys := make([]string, 1000)
			for i := range keys {
				keys[i] = "user:" + strconv.Itoa(i)
			}
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := limiter.Charge(ctx, keys[i%len(keys)], 1, policy); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
	}
}
