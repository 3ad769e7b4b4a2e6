package limits

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/server/limits/bucket"
)

// meter is the rate-limit state of one HTTP request: whose bucket it is
// charged to, what the bucket looked like last, and the status the response
// must carry when a limit refused it.
type meter struct {
	key    string
	policy bucket.Policy

	// cacheFor, when positive, lets a successful GET of a persisted
	// operation be cached privately (MarkPersisted).
	get      bool
	cacheFor time.Duration

	mu          sync.Mutex
	result      *bucket.Result
	status      int
	unavailable bool
	busy        time.Duration // Retry-After of a 503 for a saturated instance
	persisted   bool          // the document was named by hash, not sent as text
	errored     bool          // the response carries errors: never cached
}

type meterKey struct{}

func meterFrom(ctx context.Context) *meter {
	m, _ := ctx.Value(meterKey{}).(*meter)
	return m
}

func (m *meter) setStatus(s int) { m.mu.Lock(); m.status = s; m.mu.Unlock() }

func (m *meter) retryAfter(d time.Duration) { m.mu.Lock(); m.busy = d; m.mu.Unlock() }

// MarkPersisted notes that the request in ctx named its document by hash,
// so a successful GET of it may carry cache headers.
func MarkPersisted(ctx context.Context) {
	if m := meterFrom(ctx); m != nil {
		m.mu.Lock()
		m.persisted = true
		m.mu.Unlock()
	}
}

// Busy gives the response of the request in ctx 503 and Retry-After: the
// instance has no room to run it, or a dependency is down.
func Busy(ctx context.Context, retryAfter time.Duration) {
	if m := meterFrom(ctx); m != nil {
		m.setStatus(http.StatusServiceUnavailable)
		m.retryAfter(retryAfter)
	}
}

func (m *meter) markErrored() { m.mu.Lock(); m.errored = true; m.mu.Unlock() }

func (m *meter) markUnavailable() { m.mu.Lock(); m.unavailable = true; m.mu.Unlock() }

func (m *meter) setResult(r bucket.Result) { m.mu.Lock(); m.result = &r; m.mu.Unlock() }

// ForItem gives one operation of a batch a meter of its own, on the same
// bucket: it is charged and refunded alone, and its status (429, 413...)
// stays its own. done hands the batch's response what it must know of the
// operation. The bucket's last result is not taken: the batch's headers
// report the bucket as it stands after the whole batch (see meteredWriter).
func ForItem(ctx context.Context) (_ context.Context, done func()) {
	parent := meterFrom(ctx)
	if parent == nil {
		return ctx, func() {}
	}
	item := &meter{key: parent.key, policy: parent.policy}
	return context.WithValue(ctx, meterKey{}, item), func() { parent.absorb(item) }
}

func (m *meter) absorb(item *meter) {
	item.mu.Lock()
	unavailable := item.unavailable
	item.mu.Unlock()
	if unavailable {
		m.markUnavailable()
	}
}

func (m *meter) refunded(points int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.result != nil {
		m.result.Remaining = min(m.result.Remaining+points, m.result.Limit)
	}
}

func (m *meter) last() (bucket.Result, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.result == nil {
		return bucket.Result{}, false
	}
	return *m.result, true
}

// meterKeyPolicy picks the bucket a request is charged to: an API key's
// own bucket (apart from the user who created it, so a runaway script does
// not lock its creator out), a signed-in user's, or, anonymous, the client
// address's (after ISSUEGRAPH_TRUSTED_PROXY_HOPS, the address sign-in
// throttling uses too). Before authentication every request is anonymous.
func (c *Extension) meterKeyPolicy(r *http.Request) (string, bucket.Policy) {
	rate := c.rate
	v := viewer.FromContext(r.Context())
	switch {
	case v.APIKey != nil:
		return "apikey:" + strconv.FormatInt(v.APIKey.ID, 10), bucket.Policy{Capacity: rate.APIKeyCapacity, RestoreRate: rate.APIKeyRestoreRate}
	case v.Authenticated():
		return "user:" + strconv.FormatInt(v.UserID, 10), bucket.Policy{Capacity: rate.UserCapacity, RestoreRate: rate.UserRestoreRate}
	}
	addr := c.clientAddress(r.Context())
	if addr == "" {
		// Not reached through routes, which records the address first.
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		addr = host
	}
	return "ip:" + addr, bucket.Policy{Capacity: rate.AnonCapacity, RestoreRate: rate.AnonRestoreRate}
}

// MeterRequests gives each GraphQL request over HTTP its meter and writes the
// IETF draft RateLimit-Policy and RateLimit headers on every response (and
// Retry-After on a 429). It runs before any check that may refuse the
// request, so refusals carry the headers too; until MeterViewer learns who
// is asking, the meter is the client address's.
func (c *Extension) MeterRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			next.ServeHTTP(w, r)
			return
		}
		key, policy := c.meterKeyPolicy(r)
		m := &meter{key: key, policy: policy, get: r.Method == http.MethodGet, cacheFor: c.cacheFor}
		ctx := context.WithValue(r.Context(), meterKey{}, m)
		mw := &meteredWriter{ResponseWriter: w, m: m, buckets: c.buckets, ctx: ctx}
		next.ServeHTTP(mw, r.WithContext(ctx))
	})
}

// MeterViewer points the request's meter at the bucket of its viewer. It
// runs right after authentication, before anything is charged, so the
// meter is not yet shared with another goroutine.
func (c *Extension) MeterViewer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := meterFrom(r.Context()); m != nil {
			m.key, m.policy = c.meterKeyPolicy(r)
		}
		next.ServeHTTP(w, r)
	})
}

// meteredWriter adds the rate-limit headers and the status a limit chose
// just before the response starts.
type meteredWriter struct {
	http.ResponseWriter
	m       *meter
	buckets bucket.Limiter
	ctx     context.Context
	started bool
}

func (w *meteredWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush keeps streaming transports (SSE) working through the wrapper: they
// assert http.Flusher on the writer they get.
func (w *meteredWriter) Flush() {
	if !w.started {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *meteredWriter) Write(b []byte) (int, error) {
	if !w.started {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *meteredWriter) WriteHeader(status int) {
	if w.started {
		return
	}
	w.started = true
	w.m.mu.Lock()
	if w.m.status != 0 {
		status = w.m.status
	}
	res, unavailable, busy := w.m.result, w.m.unavailable, w.m.busy
	cacheable := w.m.get && w.m.persisted && !w.m.errored && w.m.cacheFor > 0
	w.m.mu.Unlock()
	if cacheable && status == http.StatusOK {
		// private: only the caller's own cache may keep it, never a shared
		// proxy, so authenticated data stays with its viewer; Vary keeps a
		// response for one token from answering another.
		w.Header().Set("Cache-Control", fmt.Sprintf("private, max-age=%d", int(w.m.cacheFor.Seconds())))
		w.Header().Add("Vary", "Authorization")
	}
	if res == nil && !unavailable {
		// Refused before the charge (bad JSON, parse or validation error),
		// or a batch, whose operations were charged on meters of their own:
		// report the bucket as it stands now.
		if peek, err := w.buckets.Peek(w.ctx, w.m.key, w.m.policy); err == nil {
			res = &peek
		}
	}
	h := w.Header()
	p := w.m.policy
	window := int(math.Ceil(float64(p.Capacity) / p.RestoreRate))
	h.Set("RateLimit-Policy", fmt.Sprintf(`"cost";q=%d;w=%d`, p.Capacity, window))
	if res != nil {
		h.Set("RateLimit", fmt.Sprintf(`"cost";r=%d;t=%d`, res.Remaining, int(math.Ceil(res.ResetAfter.Seconds()))))
		if status == http.StatusTooManyRequests {
			h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(res.RetryAfter.Seconds())))))
		}
	}
	if status == http.StatusServiceUnavailable && busy > 0 {
		h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(busy.Seconds())))))
	}
	w.ResponseWriter.WriteHeader(status)
}
