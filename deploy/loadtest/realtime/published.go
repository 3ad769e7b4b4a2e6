package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// publishedWatch records when the relay publishes to the run's project
// streams in Redis, so delivery latency splits into the relay's part and
// the fan-out's. The timed events are created one at a time, so the first
// publication after a mutation was sent is that mutation's event.
type publishedWatch struct {
	client *redis.Client
	ps     *redis.PubSub
	done   chan struct{}

	mu sync.Mutex
	at []time.Time // in arrival order
}

func watchPublished(redisURL, prefix string) (*publishedWatch, error) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ps := client.PSubscribe(ctx, prefix+"events:project:*") // server/realtime names them
	if _, err := ps.Receive(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("subscribing to the run's project streams: %w", err)
	}
	w := &publishedWatch{client: client, ps: ps, done: make(chan struct{})}
	// Owned by w: it returns once close closes ps.
	go func() {
		defer close(w.done)
		for range ps.Channel() {
			now := time.Now()
			w.mu.Lock()
			w.at = append(w.at, now)
			w.mu.Unlock()
		}
	}()
	return w, nil
}

// first is the first publication at or after t, waiting briefly for it
// (the subscribers had it already, so Redis had too).
func (w *publishedWatch) first(t time.Time) (time.Time, bool) {
	for range 100 {
		w.mu.Lock()
		i := sort.Search(len(w.at), func(i int) bool { return !w.at[i].Before(t) })
		var at time.Time
		if i < len(w.at) {
			at = w.at[i]
		}
		w.mu.Unlock()
		if !at.IsZero() {
			return at, true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Time{}, false
}

func (w *publishedWatch) close() {
	_ = w.ps.Close()
	<-w.done
	_ = w.client.Close()
}
