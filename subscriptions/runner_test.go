package subscriptions

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	runnerWait = 5 * time.Second
	runnerPoll = time.Millisecond
)

// TestRunnerReusesIdleGoroutines: a function run after another returned
// runs on the goroutine that ran it, and idle goroutines end after the
// idle time.
func TestRunnerReusesIdleGoroutines(t *testing.T) {
	t.Parallel()
	r := newRunner(100 * time.Millisecond)
	const n = 20
	var wg sync.WaitGroup
	release := make(chan struct{})
	wg.Add(n)
	for range n {
		r.run(func() { defer wg.Done(); <-release })
	}
	assert.Zero(t, r.idleWorkers(), "all busy")
	close(release)
	wg.Wait()
	require.Eventually(t, func() bool { return r.idleWorkers() == n }, runnerWait, runnerPoll, "each parks once done")

	// Taken from the parked ones, not started anew.
	proceed, ran := make(chan struct{}), make(chan struct{})
	r.run(func() { <-proceed; close(ran) })
	assert.Equal(t, n-1, r.idleWorkers(), "one parked goroutine took it")
	close(proceed)
	<-ran
	require.Eventually(t, func() bool { return r.idleWorkers() == n }, runnerWait, runnerPoll, "it parks again")

	require.Eventually(t, func() bool { return r.idleWorkers() == 0 }, runnerWait, runnerPoll, "idle goroutines end")
}

// TestRunnerNeverWaits: a function that blocks does not hold up the next
// one, even when the blocked one's goroutine was the only one kept.
func TestRunnerNeverWaits(t *testing.T) {
	t.Parallel()
	r := newRunner(time.Minute)
	done := make(chan struct{})
	r.run(func() { close(done) })
	<-done
	require.Eventually(t, func() bool { return r.idleWorkers() == 1 }, runnerWait, runnerPoll)

	block := make(chan struct{})
	defer close(block)
	r.run(func() { <-block })
	second := make(chan struct{})
	r.run(func() { close(second) })
	select {
	case <-second:
	case <-time.After(runnerWait):
		t.Fatal("the second function waited for the first")
	}
}

// TestRunnerRunsEachFunctionOnce runs many functions while goroutines keep
// timing out (a very short idle time): none is lost or run twice when a
// goroutine is taken just as it gives up.
func TestRunnerRunsEachFunctionOnce(t *testing.T) {
	t.Parallel()
	r := newRunner(50 * time.Microsecond)
	const n = 20000
	var runs [n]atomic.Int32
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		r.run(func() { runs[i].Add(1); wg.Done() })
		if i%100 == 0 {
			time.Sleep(100 * time.Microsecond) // let some goroutines time out
		}
	}
	wg.Wait()
	for i := range runs {
		require.Equal(t, int32(1), runs[i].Load(), "function %d", i)
	}
	require.Eventually(t, func() bool { return r.idleWorkers() == 0 }, runnerWait, runnerPoll)
}
