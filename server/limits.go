package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/redis/go-redis/v9"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/server/limits"
	"github.com/issuegraph/issuegraph/server/limits/bucket"
)

// costLimits is the gqlgen extension that refuses an operation over a
// structural or cost limit before any resolver runs, charges its requested
// cost to the viewer's bucket, refunds what it did not use and reports both
// in extensions.cost.
type costLimits struct {
	cost      *limits.Cost
	structure limits.Structure
	width     limits.Width
	// docs is the executor's cache of parsed, validated documents: a
	// document found there was measured when it was first parsed.
	docs    graphql.Cache[*ast.QueryDocument]
	cfg     config.Limits
	rate    config.RateLimit
	buckets bucket.Limiter
	log     *slog.Logger
	// failOpen counts requests run unmetered because the bucket store was
	// unreachable (the warning metric of the fail-open policy; also logged).
	failOpen *atomic.Int64
	// throttle keeps an outage of the bucket store, which every request
	// meets, to a line a second.
	throttle *logThrottle
	// cacheFor is the max-age of successful GETs of persisted operations.
	cacheFor time.Duration
	metrics  *abuseMetrics // nil: not measured
}

var (
	_ graphql.HandlerExtension          = (*costLimits)(nil)
	_ graphql.OperationParameterMutator = (*costLimits)(nil)
	_ graphql.OperationContextMutator   = (*costLimits)(nil)
	_ graphql.ResponseInterceptor       = (*costLimits)(nil)
)

// newCostLimits builds the extension for schema. Buckets live in Redis when
// rdb is set, so every instance meters one budget per viewer, and in process
// otherwise.
func newCostLimits(cfg config.Config, schema *ast.Schema, rdb *redis.Client, log *slog.Logger) *costLimits {
	var buckets bucket.Limiter = bucket.NewMemory()
	if rdb != nil {
		buckets = bucket.NewRedis(rdb, cfg.RedisPrefix+"ratelimit:")
	}
	return &costLimits{
		cost: limits.NewCost(schema, graph.MaxPageSize),
		structure: limits.Structure{
			MaxDepth: cfg.Limits.MaxDepth, MaxAliases: cfg.Limits.MaxAliases,
			MaxRootFields: cfg.Limits.MaxRootFields, MaxDirectives: cfg.Limits.MaxDirectives,
		},
		width: limits.Width{MaxSelections: cfg.Limits.MaxSelections, MaxRepeats: cfg.Limits.MaxRepeats},
		cfg:   cfg.Limits, rate: cfg.RateLimit, buckets: buckets, log: log,
		failOpen: &atomic.Int64{}, throttle: newLogThrottle(time.Second), cacheFor: cfg.PersistedGetMaxAge,
	}
}

func (c *costLimits) ExtensionName() string { return "CostLimits" }

func (c *costLimits) Validate(graphql.ExecutableSchema) error { return nil }

// operationCost is what one operation was measured and charged at.
type operationCost struct {
	requested int
	charged   bool // the requested cost was taken from a bucket
	notRun    bool // refused before execution (admission): refunded in full
}

const costStatsKey = "issuegraph.cost"

// limitError is a refusal with a code and details in its extensions. Its
// status, when not 0, replaces gqlgen's for the HTTP response.
func limitError(ctx context.Context, status int, code string, msg string, ext map[string]any) *gqlerror.Error {
	if status != 0 {
		if m := meterFrom(ctx); m != nil {
			m.setStatus(status)
		}
	}
	e := &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": code}}
	for k, v := range ext {
		e.Extensions[k] = v
	}
	return e
}

// MutateOperationParameters refuses an oversized document before it is
// parsed. It runs after the persisted-operation lookup, so it sees the text
// that would be parsed.
func (c *costLimits) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if n := len(p.Query); n > c.cfg.MaxDocumentBytes {
		return limitError(ctx, http.StatusRequestEntityTooLarge, string(graph.CodeBadUserInput),
			fmt.Sprintf("the document is %d bytes; at most %d are allowed", n, c.cfg.MaxDocumentBytes),
			map[string]any{"limit": "documentBytes", "maximum": c.cfg.MaxDocumentBytes, "actual": n})
	}
	return c.checkWidth(ctx, p.Query)
}

// checkWidth refuses a document whose selection sets are too wide to
// validate cheaply. It parses the text itself (validation would follow
// parsing without a pause), once per document: one already in the cache
// passed. A text that does not parse is left to the executor, which
// reports the syntax error.
func (c *costLimits) checkWidth(ctx context.Context, text string) *gqlerror.Error {
	if text == "" || (c.docs != nil && cached(ctx, c.docs, text)) {
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: text}, c.cfg.MaxTokens)
	if err != nil {
		return nil
	}
	if v := c.width.Check(doc); v != nil {
		ext := map[string]any{"limit": v.Limit, "maximum": v.Max, "actual": v.Actual}
		if v.Name != "" {
			ext["field"] = v.Name
		}
		return limitError(ctx, 0, errcode.ValidationFailed, v.Error(), ext)
	}
	return nil
}

func cached(ctx context.Context, docs graphql.Cache[*ast.QueryDocument], text string) bool {
	_, ok := docs.Get(ctx, text)
	return ok
}

// MutateOperationContext runs after parsing and validation, before
// execution: structural limits, then the cost limit, then the charge.
func (c *costLimits) MutateOperationContext(ctx context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if v := c.structure.Check(op.Doc, op.Operation); v != nil {
		return limitError(ctx, 0, errcode.ValidationFailed, v.Error(),
			map[string]any{"limit": v.Limit, "maximum": v.Max, "actual": v.Actual})
	}
	requested, err := c.cost.Requested(op.Operation, op.Variables)
	var pageErr *limits.PageSizeError
	if errors.As(err, &pageErr) {
		return limitError(ctx, 0, string(graph.CodeBadUserInput), pageErr.Error(),
			map[string]any{"argument": pageErr.Argument, "maximum": pageErr.Max})
	}
	if requested > c.cfg.MaxCost {
		return limitError(ctx, 0, string(graph.CodeCostLimitExceeded),
			fmt.Sprintf("the operation costs %d points; at most %d are allowed per operation: ask for fewer items or fields", requested, c.cfg.MaxCost),
			map[string]any{"cost": map[string]any{"requestedQueryCost": requested, "maximumAvailable": c.cfg.MaxCost}})
	}
	oc := &operationCost{requested: requested}
	op.Stats.SetExtension(costStatsKey, oc)
	m := meterFrom(ctx)
	if m == nil || op.Operation.Operation == ast.Subscription || (m.get && op.Operation.Operation == ast.Mutation) {
		// No HTTP request to meter (a WebSocket operation), an operation
		// that runs for long, or a mutation over GET that the transport
		// refuses next: measured and bounded, not charged.
		return nil
	}
	res, err := c.buckets.Charge(ctx, m.key, requested, m.policy)
	if err != nil {
		m.markUnavailable()
		if c.rate.OnRedisError == "closed" {
			if ok, n := c.throttle.allow("refusing"); ok {
				c.log.WarnContext(ctx, "rate-limit store unavailable; refusing", "request_id", RequestID(ctx), "error", err, "occurrences", n)
			}
			return limitError(ctx, http.StatusServiceUnavailable, string(graph.CodeUnavailable),
				"the rate limiter is unavailable; retry shortly", nil)
		}
		c.metrics.ranUnmetered(ctx)
		n := c.failOpen.Add(1)
		if ok, occurrences := c.throttle.allow("unmetered"); ok {
			c.log.WarnContext(ctx, "rate-limit store unavailable; running unmetered", "request_id", RequestID(ctx),
				"metric", "ratelimit_fail_open_total", "value", n, "error", err, "occurrences", occurrences)
		}
		return nil
	}
	m.setResult(res)
	if !res.Allowed {
		c.metrics.refused(ctx)
		retry := int(math.Ceil(res.RetryAfter.Seconds()))
		ext := map[string]any{"cost": map[string]any{
			"requestedQueryCost": requested,
			"throttleStatus":     throttleStatus(res, m.policy),
		}}
		if retry > 0 {
			ext["retryAfterSeconds"] = retry
		}
		return limitError(ctx, http.StatusTooManyRequests, string(graph.CodeRateLimited),
			fmt.Sprintf("rate limited: the operation costs %d points and %d are available; retry after %ds", requested, res.Remaining, max(retry, 1)), ext)
	}
	oc.charged = true
	return nil
}

// InterceptResponse prices what the operation returned, refunds the part of
// the charge it did not use and reports the cost to the client.
func (c *costLimits) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || !graphql.HasOperationContext(ctx) {
		return resp
	}
	op := graphql.GetOperationContext(ctx)
	if m := meterFrom(ctx); m != nil && len(resp.Errors) > 0 {
		m.markErrored()
	}
	oc, ok := op.Stats.GetExtension(costStatsKey).(*operationCost)
	if !ok || op.Operation == nil || op.Operation.Operation == ast.Subscription {
		return resp
	}
	actual := min(c.cost.Actual(op.Operation, resp.Data), oc.requested)
	report := map[string]any{"requestedQueryCost": oc.requested, "actualQueryCost": actual}
	if m := meterFrom(ctx); m != nil && oc.charged {
		kept := oc.requested
		// A response with errors keeps the whole charge: otherwise a query
		// could do the work, fail late (a null bubbling up to the root) and
		// be refunded for rows it made the database read.
		// One that never ran (refused by admission) gets it all back.
		if refund := oc.requested - actual; refund > 0 && (len(resp.Errors) == 0 || oc.notRun) {
			// The request's own deadline may have passed; the refund still
			// belongs to the viewer.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			if err := c.buckets.Refund(rctx, m.key, refund, m.policy); err != nil {
				c.log.WarnContext(ctx, "rate-limit refund failed", "request_id", RequestID(ctx), "error", err)
			} else {
				m.refunded(refund)
				kept -= refund
			}
			cancel()
		}
		c.metrics.charged(ctx, kept)
		if res, ok := m.last(); ok {
			report["throttleStatus"] = throttleStatus(res, m.policy)
		}
	}
	if resp.Extensions == nil {
		resp.Extensions = map[string]any{}
	}
	resp.Extensions["cost"] = report
	return resp
}

func throttleStatus(res bucket.Result, p bucket.Policy) map[string]any {
	return map[string]any{
		"maximumAvailable":   p.Capacity,
		"currentlyAvailable": res.Remaining,
		"restoreRate":        p.RestoreRate,
	}
}

// meter is the rate-limit state of one HTTP request: whose bucket it is
// charged to, what the bucket looked like last, and the status the response
// must carry when a limit refused it.
type meter struct {
	key    string
	policy bucket.Policy

	// cacheFor, when positive, lets a successful GET of a persisted
	// operation be cached privately (see persistedOperations).
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

func (m *meter) markPersisted() { m.mu.Lock(); m.persisted = true; m.mu.Unlock() }

func (m *meter) markErrored() { m.mu.Lock(); m.errored = true; m.mu.Unlock() }

func (m *meter) markUnavailable() { m.mu.Lock(); m.unavailable = true; m.mu.Unlock() }

func (m *meter) setResult(r bucket.Result) { m.mu.Lock(); m.result = &r; m.mu.Unlock() }

// forItem returns the meter of one operation of a batch: the same bucket,
// a result and status of its own.
func (m *meter) forItem() *meter { return &meter{key: m.key, policy: m.policy} }

// absorb takes what the batch's response must know from one of its
// operations. The bucket's last result is not taken: the batch's headers
// report the bucket as it stands after the whole batch (see meteredWriter).
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
func meterKeyPolicy(r *http.Request, rate config.RateLimit) (string, bucket.Policy) {
	v := viewer.FromContext(r.Context())
	switch {
	case v.APIKey != nil:
		return "apikey:" + strconv.FormatInt(v.APIKey.ID, 10), bucket.Policy{Capacity: rate.APIKeyCapacity, RestoreRate: rate.APIKeyRestoreRate}
	case v.Authenticated():
		return "user:" + strconv.FormatInt(v.UserID, 10), bucket.Policy{Capacity: rate.UserCapacity, RestoreRate: rate.UserRestoreRate}
	}
	addr := clientAddress(r.Context())
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

// meterRequests gives each GraphQL request over HTTP its meter and writes the
// IETF draft RateLimit-Policy and RateLimit headers on every response (and
// Retry-After on a 429). It runs before any check that may refuse the
// request, so refusals carry the headers too; until meterViewer learns who
// is asking, the meter is the client address's.
func (c *costLimits) meterRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		key, policy := meterKeyPolicy(r, c.rate)
		m := &meter{key: key, policy: policy, get: r.Method == http.MethodGet, cacheFor: c.cacheFor}
		ctx := context.WithValue(r.Context(), meterKey{}, m)
		mw := &meteredWriter{ResponseWriter: w, m: m, buckets: c.buckets, ctx: ctx}
		next.ServeHTTP(mw, r.WithContext(ctx))
	})
}

// meterViewer points the request's meter at the bucket of its viewer. It
// runs right after authentication, before anything is charged, so the
// meter is not yet shared with another goroutine.
func (c *costLimits) meterViewer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := meterFrom(r.Context()); m != nil {
			m.key, m.policy = meterKeyPolicy(r, c.rate)
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

// useLimits installs persisted operations, the parser's token limit, the
// structural and cost limits and the rate limiter on srv, and returns the
// handler of one operation.
func (s *Server) useLimits(srv *handler.Server, schema *ast.Schema) http.Handler {
	srv.SetParserTokenLimit(s.cfg.Limits.MaxTokens)
	// "Did you mean" suggestions would let anyone map the schema with
	// introspection turned off.
	srv.SetDisableSuggestion(s.cfg.Production())
	// Persisted operations first: the limits below see the document that
	// will actually run.
	metrics, err := newAbuseMetrics(s.tel.Meter)
	if err != nil {
		s.log.Error("abuse-control metrics disabled", "error", err)
	}
	po := newPersistedOperations(s.cfg, s.db.Client, s.redis, s.log)
	po.metrics = metrics
	srv.Use(po)
	// Replaces the query cache set above: same size for arbitrary text, plus
	// room of its own for trusted documents.
	docs := newDocumentCache(10_000, 1000)
	srv.SetQueryCache(docs)
	limiter := newCostLimits(s.cfg, schema, s.redis, s.log)
	limiter.metrics = metrics
	limiter.docs = docs

	srv.Use(limiter)
	// After the limiter, so its response interceptor runs inside the
	// limiter's (gqlgen nests the first one outermost): an operation it
	// refuses still gets its charge refunded and its extensions.cost.
	if a := newAdmission(s.cfg.ExecutionBudget, s.cfg.OperationQueueTimeout); a != nil {
		srv.Use(a)
		s.admission = a
	}
	// routes meters each request with limiter, before the checks that may
	// refuse it.
	s.limiter = limiter
	return documentIDs(srv)
}
