package subscriptions

import (
	"sync"
	"time"
)

// runnerIdle is how long a runner keeps a goroutine that has nothing to
// run: long enough to carry it from one event's fan-out to the next under
// load, short enough that an instance whose subscribers are idle holds
// none of them.
const runnerIdle = time.Second

// runner runs functions on goroutines of their own, like the go statement,
// but keeps each goroutine for a moment after its function returns and
// runs the next function on it. A delivery resolves and writes a response
// deep in gqlgen's executor: on a fresh goroutine, that grows a 2 KiB stack
// to 16 KiB or more, copying it at each step, for every subscriber at every
// event (a fifth of an instance's CPU in the fan-out). A goroutine kept
// from the previous fan-out has grown already.
//
// run never waits: with no idle goroutine it starts one, so a subscriber
// stuck writing to a slow client delays nobody else. Goroutines kept idle
// end after idle.
type runner struct {
	idle time.Duration

	mu     sync.Mutex
	parked []*worker // idle goroutines, the most recently parked last
}

// worker is a goroutine a runner keeps; it receives its next function on
// next.
type worker struct {
	next chan func()
	slot int // index in runner.parked while parked; under runner.mu
}

func newRunner(idle time.Duration) *runner { return &runner{idle: idle} }

// run runs f on an idle goroutine of r, or on a new one.
func (r *runner) run(f func()) {
	r.mu.Lock()
	if n := len(r.parked); n > 0 {
		w := r.parked[n-1]
		r.parked[n-1] = nil
		r.parked = r.parked[:n-1]
		w.slot = -1
		r.mu.Unlock()
		w.next <- f // buffered: the worker takes it once it looks
		return
	}
	r.mu.Unlock()
	w := &worker{next: make(chan func(), 1), slot: -1}
	// Owned by r: it runs f, then what run gives it, and ends once idle
	// for r.idle.
	go r.work(w, f)
}

func (r *runner) work(w *worker, f func()) {
	timer := time.NewTimer(r.idle)
	defer timer.Stop()
	for {
		f()
		f = nil // nothing of f stays reachable while parked
		r.mu.Lock()
		w.slot = len(r.parked)
		r.parked = append(r.parked, w)
		r.mu.Unlock()
		timer.Reset(r.idle)
		select {
		case f = <-w.next:
			continue
		case <-timer.C:
		}
		if !r.unpark(w) {
			// Taken by run just as the timer fired: its function is on
			// the way.
			f = <-w.next
			continue
		}
		return
	}
}

// unpark takes w off the idle list; false when run took it already.
func (r *runner) unpark(w *worker) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w.slot < 0 {
		return false
	}
	last := len(r.parked) - 1
	moved := r.parked[last]
	r.parked[w.slot], moved.slot = moved, w.slot
	r.parked[last] = nil
	r.parked = r.parked[:last]
	w.slot = -1
	return true
}

// idleWorkers is how many goroutines r keeps waiting.
func (r *runner) idleWorkers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.parked)
}
