package server

import (
	"context"
	"net/http"
	"time"

	"github.com/issuegraph/issuegraph/graph"
)

// admission bounds how many operations one instance executes at once; the
// rest wait their turn in arrival order. A deep query is thousands of
// small resolver goroutines and a few batched statements: run sixteen at
// once on two cores and each gets so little CPU that its dataloaders'
// collection window closes before a level's keys have all arrived, so one
// statement per level becomes three, and every request is slow together.
// Run a few at a time and each finishes quickly, in fewer statements.
//
// Subscriptions are not operations here: they hold a connection open for
// as long as the client likes and only use CPU when an event arrives.
type admission struct {
	slots chan struct{}
	wait  time.Duration // longest time a request queues before 503
}

// newAdmission admits n operations at once; n <= 0 admits everything.
func newAdmission(n int, wait time.Duration) *admission {
	if n <= 0 {
		return nil
	}
	return &admission{slots: make(chan struct{}, n), wait: wait}
}

// admit is the middleware. A request that waits longer than a.wait, or
// past its own deadline, is refused with 503 UNAVAILABLE and Retry-After:
// the instance is saturated and another may have room.
func (a *admission) admit(next http.Handler) http.Handler {
	if a == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isRealtime(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), a.wait)
		defer cancel()
		select {
		case a.slots <- struct{}{}:
		case <-ctx.Done():
			w.Header().Set("Retry-After", "1")
			writeError(w, r, http.StatusServiceUnavailable, graph.CodeUnavailable, "the server is busy; retry shortly")
			return
		}
		defer func() { <-a.slots }()
		next.ServeHTTP(w, r)
	})
}
