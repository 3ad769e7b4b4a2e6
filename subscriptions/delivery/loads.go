package delivery

import (
	"sync"
	"time"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/graph/model"
	"github.com/issuegraph/issuegraph/subscriptions"
)

// eventLoadTTL is how long a load of delivered events' objects is shared
// with the other subscriptions on this instance that deliver the same
// events: enough for one fan-out, far too short to serve stale data.
const eventLoadTTL = 2 * time.Second

// eventLoadKey names one viewer's events: a viewer, the fields it selected
// and the positions delivered. The stream is part of it: a project's and
// one of its issues' batches between the same positions differ.
type eventLoadKey struct {
	user        int64
	want        eventFields
	stream      subscriptions.Stream
	first, last int64
}

// objectLoadKey names one load of the issues, comments and projects that
// delivered events refer to, as any member of org sees them.
type objectLoadKey struct {
	org         int64
	want        eventFields // actor unset: actors are loaded per viewer
	stream      subscriptions.Stream
	first, last int64
}

// eventObjects are the issues, comments and projects of a batch of
// events, by id.
type eventObjects struct {
	issues   map[int64]*ent.Issue
	comments map[int64]*ent.Comment
	projects map[int64]*ent.Project
}

// eventLoads share what delivering the same events loads on this
// instance: each viewer's events (its tabs and devices deliver the same
// ones), and the objects they refer to, once per organization.
type eventLoads struct {
	events  *sharedLoads[eventLoadKey, []*model.Event]
	objects *sharedLoads[objectLoadKey, *eventObjects]
}

func newEventLoads() *eventLoads {
	return &eventLoads{events: newSharedLoads[eventLoadKey, []*model.Event](), objects: newSharedLoads[objectLoadKey, *eventObjects]()}
}

// sharedLoads runs one load per key at a time, and shares its result with
// every caller asking for the same key within eventLoadTTL. A failed load
// is not shared with later callers.
type sharedLoads[K comparable, V any] struct {
	mu      sync.Mutex
	entries map[K]*sharedLoad[V]
	// swept is when expired entries were last dropped. They are dropped
	// once per eventLoadTTL, not whenever a new key comes: a fan-out adds
	// one key per viewer, and walking every live entry for each of them
	// cost more than the loads shared (thousands of entries at a few
	// events a second).
	swept time.Time
}

type sharedLoad[V any] struct {
	done    chan struct{}
	v       V
	err     error
	expires time.Time
}

func newSharedLoads[K comparable, V any]() *sharedLoads[K, V] {
	return &sharedLoads[K, V]{entries: map[K]*sharedLoad[V]{}}
}

// load returns the value for key, running fn only if no load of key is
// running or finished within eventLoadTTL.
func (l *sharedLoads[K, V]) load(key K, fn func() (V, error)) (V, error) {
	now := time.Now()
	l.mu.Lock()
	if e, ok := l.entries[key]; ok && (e.expires.IsZero() || now.Before(e.expires)) {
		l.mu.Unlock()
		<-e.done
		return e.v, e.err
	}
	e := &sharedLoad[V]{done: make(chan struct{})}
	l.entries[key] = e
	if now.Sub(l.swept) >= eventLoadTTL {
		l.swept = now
		for k, old := range l.entries {
			if !old.expires.IsZero() && now.After(old.expires) {
				delete(l.entries, k)
			}
		}
	}
	l.mu.Unlock()

	e.v, e.err = fn()
	l.mu.Lock()
	if e.err != nil {
		delete(l.entries, key)
	} else {
		e.expires = time.Now().Add(eventLoadTTL)
	}
	l.mu.Unlock()
	close(e.done)
	return e.v, e.err
}
