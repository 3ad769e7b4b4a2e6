//go:build chaos

package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/issuegraph/issuegraph/deploy/internal/fleet"
)

// boardQuery is the read the load sends: a project's latest issues.
const boardQuery = `query($p:ID!){ node(id:$p){ ... on Project { issues(first:10){ totalCount edges{ node{ id title version } } } } } }`

// client is the load's HTTP client. A request that hangs longer than its
// timeout counts as failed.
var client = &http.Client{Timeout: 20 * time.Second}

// result is what one request got.
type result struct {
	start, end time.Time
	base       string
	status     int
	codes      []string // extensions.code of each error
	retryAfter string
	err        error // no answer (connection refused, reset, timeout)
	resp       *fleet.Response
}

// ok: an answer without errors.
func (r result) ok() bool { return r.err == nil && r.status == http.StatusOK && len(r.codes) == 0 }

// unavailable: the answer a client should retry, as the spec has it:
// 503, Retry-After and nothing but UNAVAILABLE.
func (r result) unavailable() bool {
	if r.err != nil || r.status != http.StatusServiceUnavailable || r.retryAfter == "" || len(r.codes) == 0 {
		return false
	}
	for _, c := range r.codes {
		if c != "UNAVAILABLE" {
			return false
		}
	}
	return true
}

// refused: the request reached no server (nothing to answer for).
func (r result) refused() bool { return errors.Is(r.err, syscall.ECONNREFUSED) }

func (r result) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	return fmt.Sprintf("status %d %v Retry-After %q", r.status, r.codes, r.retryAfter)
}

// call sends req to base and records the outcome. Stopping the load
// does not cancel a request in flight: the client's timeout bounds it.
func call(ctx context.Context, base string, req fleet.Request) result {
	ctx = context.WithoutCancel(ctx)
	r := result{start: time.Now(), base: base}
	resp, err := fleet.Post(ctx, client, base, req)
	r.end = time.Now()
	if err != nil && resp == nil {
		r.err = err
		return r
	}
	r.resp, r.status, r.retryAfter = resp, resp.Status, resp.Header.Get("Retry-After")
	if err != nil { // an answer that is not GraphQL JSON
		r.codes = []string{"unparsable"}
	}
	for _, e := range resp.Errors {
		code, _ := e.Extensions["code"].(string)
		r.codes = append(r.codes, code)
	}
	return r
}

// read is the load's query.
func read(ctx context.Context, f fleet.Fixture, base string) result {
	return call(ctx, base, fleet.Request{Token: f.Token, Query: boardQuery, Variables: map[string]any{"p": f.ProjectID}})
}

// create is the load's mutation, under an Idempotency-Key.
func create(ctx context.Context, f fleet.Fixture, base, title, key string) result {
	return call(ctx, base, fleet.Request{Token: f.Token, Query: fleet.CreateIssueMutation,
		Variables: map[string]any{"p": f.ProjectID, "t": title}, IdempotencyKey: key})
}

// workers runs n goroutines calling body(ctx, worker, iteration) every
// pace until stop is called; stop waits for them.
func workers(n int, pace time.Duration, body func(ctx context.Context, w, i int)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				body(ctx, w, i)
				select {
				case <-ctx.Done():
				case <-time.After(pace):
				}
			}
		}()
	}
	return func() { cancel(); wg.Wait() }
}

// recorder keeps results from many goroutines.
type recorder struct {
	mu      sync.Mutex
	results []result
}

func (rc *recorder) add(r result) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.results = append(rc.results, r)
}

func (rc *recorder) all() []result {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]result(nil), rc.results...)
}

// mixedLoad reads and creates issues on every base in turn (one create in
// four), recording every result; a create that got no definite answer is
// retried with its key on the next base.
func mixedLoad(f fleet.Fixture, bases []string, n int, pace time.Duration, tag string, rc *recorder) (stop func()) {
	return workers(n, pace, func(ctx context.Context, w, i int) {
		base := bases[(w+i)%len(bases)]
		if i%4 != 0 {
			rc.add(read(ctx, f, base))
			return
		}
		key := fmt.Sprintf("%s-%d-%d", tag, w, i)
		r := create(ctx, f, base, key, key)
		rc.add(r)
		for try := 1; !r.ok() && retryable(r) && try < 50 && ctx.Err() == nil; try++ {
			time.Sleep(200 * time.Millisecond)
			r = create(ctx, f, bases[(w+i+try)%len(bases)], key, key)
			rc.add(r)
		}
	})
}

// retryable: no answer, or an answer that says to come back.
func retryable(r result) bool {
	return r.err != nil || r.status == http.StatusServiceUnavailable || r.status == http.StatusConflict
}

// kinds counts results by a short description, most frequent first.
func kinds(rs []result) string {
	count := map[string]int{}
	for _, r := range rs {
		k := r.String()
		if r.err != nil {
			k = shortErr(r.err)
		}
		count[k]++
	}
	var keys []string
	for k := range count {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return count[keys[i]] > count[keys[j]] })
	var parts []string
	for i, k := range keys {
		if i == 3 {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, fmt.Sprintf("%d x %s", count[k], k))
	}
	return strings.Join(parts, "; ")
}

// shortErr drops the URL from a client error.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// sample is one reading of an instance's process.
type sample struct {
	at         time.Time
	rss        float64 // bytes
	goroutines float64
}

// measure reads the instance's resident memory and goroutines from its
// metrics listener.
func measure(in *fleet.Instance) (sample, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", in.Metrics))
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	sm := sample{at: time.Now()}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return sample{}, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		var v float64
		switch {
		case strings.HasPrefix(line, "process_resident_memory_bytes "):
			_, err = fmt.Sscan(strings.TrimPrefix(line, "process_resident_memory_bytes "), &v)
			sm.rss = v
		case strings.HasPrefix(line, "go_goroutines "):
			_, err = fmt.Sscan(strings.TrimPrefix(line, "go_goroutines "), &v)
			sm.goroutines = v
		}
		if err != nil {
			return sample{}, fmt.Errorf("reading %q: %w", line, err)
		}
	}
	if sm.rss == 0 || sm.goroutines == 0 {
		return sample{}, fmt.Errorf("%s metrics have no process_resident_memory_bytes or go_goroutines", in.Name)
	}
	return sm, nil
}
