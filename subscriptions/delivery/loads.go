package delivery

import (
	"sync"
	"time"

	"github.com/issuegraph/issuegraph/graph/model"
)

// eventLoadTTL is how long one viewer's loaded events are shared with the
// viewer's other subscriptions on this instance: enough for one fan-out,
// far too short to serve stale data.
const eventLoadTTL = 2 * time.Second

// eventLoadKey names one load: a viewer, the fields it selected and the
// positions delivered.
type eventLoadKey struct {
	user        int64
	want        eventFields
	first, last int64
}

// eventLoads lets the subscriptions of one viewer (tabs, devices) share the
// objects loaded for the same delivered events, so one event fanned out to
// many connections of a user costs one load. Objects are still loaded per
// viewer, so what each viewer may see is unchanged.
type eventLoads struct {
	mu      sync.Mutex
	entries map[eventLoadKey]*eventLoad
}

type eventLoad struct {
	done    chan struct{}
	events  []*model.Event
	err     error
	expires time.Time
}

func newEventLoads() *eventLoads { return &eventLoads{entries: map[eventLoadKey]*eventLoad{}} }

// load returns the events for key, running fn only if no equal load is
// running or finished within eventLoadTTL. A failed load is not shared
// with later callers.
func (l *eventLoads) load(key eventLoadKey, fn func() ([]*model.Event, error)) ([]*model.Event, error) {
	now := time.Now()
	l.mu.Lock()
	if e, ok := l.entries[key]; ok && (e.expires.IsZero() || now.Before(e.expires)) {
		l.mu.Unlock()
		<-e.done
		return e.events, e.err
	}
	e := &eventLoad{done: make(chan struct{})}
	l.entries[key] = e
	if len(l.entries) > 1024 {
		for k, old := range l.entries {
			if !old.expires.IsZero() && now.After(old.expires) {
				delete(l.entries, k)
			}
		}
	}
	l.mu.Unlock()

	e.events, e.err = fn()
	l.mu.Lock()
	if e.err != nil {
		delete(l.entries, key)
	} else {
		e.expires = time.Now().Add(eventLoadTTL)
	}
	l.mu.Unlock()
	close(e.done)
	return e.events, e.err
}
