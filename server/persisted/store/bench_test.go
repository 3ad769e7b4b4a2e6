package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/issuegraph/issuegraph/server/persisted/store"
)

// BenchmarkGet measures the lookup every hash-only APQ request makes, for a
// query of about 2 KB.
func BenchmarkGet(b *testing.B) {
	q := query + "#" + strings.Repeat("x", 2000)
	stores := map[string]func(b *testing.B) store.Store{
		"lru": func(*testing.B) store.Store { return store.NewLRU(0) },
		"redis": func(b *testing.B) store.Store {
			client := mustRedisClient(b)
			return store.NewRedis(client, mustPrefix(b, client), time.Hour)
		},
	}
	for _, name := range []string{"lru", "redis"} {
		b.Run(name, func(b *testing.B) {
			s := stores[name](b)
			ctx := context.Background()
			hash := hashOf(q)
			if err := s.Add(ctx, hash, q); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, ok, err := s.Get(ctx, hash); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
