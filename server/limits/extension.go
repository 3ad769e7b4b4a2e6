package limits

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/redis/go-redis/v9"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"go.opentelemetry.io/otel/metric"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/server/limits/bucket"
)

// Extension is the gqlgen extension that refuses an operation over a
// structural or cost limit before any resolver runs, charges its requested
// cost to the viewer's bucket, refunds what it did not use and reports both
// in extensions.cost.
type Extension struct {
	cost      *Cost
	structure Structure
	width     Width
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
	// cacheFor is the max-age of successful GETs of persisted operations.
	cacheFor time.Duration
	metrics  *metrics // nil: not measured
	// requestID names the request in ctx in log lines.
	requestID     func(context.Context) string
	allowLog      func(kind string) (bool, int)
	clientAddress func(context.Context) string
}

var (
	_ graphql.HandlerExtension          = (*Extension)(nil)
	_ graphql.OperationParameterMutator = (*Extension)(nil)
	_ graphql.OperationContextMutator   = (*Extension)(nil)
	_ graphql.ResponseInterceptor       = (*Extension)(nil)
)

// Options are what New builds the extension from.
type Options struct {
	Config config.Config
	// Schema is the schema operations are priced against.
	Schema *ast.Schema
	// Redis holds the buckets, so every instance meters one budget per
	// viewer; nil: in process.
	Redis *redis.Client
	Log   *slog.Logger
	// Meter measures charges, refusals and unmetered requests.
	Meter metric.MeterProvider
	// Docs is the executor's cache of parsed, validated documents: a
	// document found there was measured when it was first parsed.
	Docs graphql.Cache[*ast.QueryDocument]
	// RequestID and ClientAddress read what the server knows of the
	// request in ctx: its id for log lines, and the address anonymous
	// requests are metered by.
	RequestID     func(context.Context) string
	ClientAddress func(context.Context) string
	// LogAllowed reports whether a line of kind may be logged now, and how
	// many occurrences it stands for: an outage of the bucket store, which
	// every request meets, is kept to a line a second. Nil logs every one.
	LogAllowed func(kind string) (ok bool, occurrences int)
}

// New builds the extension.
func New(o Options) *Extension {
	var buckets bucket.Limiter = bucket.NewMemory()
	if o.Redis != nil {
		buckets = bucket.NewRedis(o.Redis, o.Config.RedisPrefix+"ratelimit:")
	}
	m, err := newMetrics(o.Meter)
	if err != nil {
		o.Log.Error("rate-limit metrics disabled", "error", err)
	}
	cfg := o.Config
	return &Extension{
		cost: NewCost(o.Schema, graph.MaxPageSize),
		structure: Structure{
			MaxDepth: cfg.Limits.MaxDepth, MaxAliases: cfg.Limits.MaxAliases,
			MaxRootFields: cfg.Limits.MaxRootFields, MaxDirectives: cfg.Limits.MaxDirectives,
		},
		width: Width{MaxSelections: cfg.Limits.MaxSelections, MaxRepeats: cfg.Limits.MaxRepeats},
		cfg:   cfg.Limits, rate: cfg.RateLimit, buckets: buckets, log: o.Log,
		failOpen: &atomic.Int64{}, cacheFor: cfg.PersistedGetMaxAge,
		metrics: m, docs: o.Docs, requestID: o.RequestID, clientAddress: o.ClientAddress, allowLog: o.LogAllowed,
	}
}

func (c *Extension) ExtensionName() string { return "CostLimits" }

func (c *Extension) Validate(graphql.ExecutableSchema) error { return nil }

// operationCost is what one operation was measured and charged at.
type operationCost struct {
	requested int
	charged   bool // the requested cost was taken from a bucket
	notRun    bool // refused before execution (admission): refunded in full
}

const costStatsKey = "issuegraph.cost"

// Refuse is a refusal with a code and details in its extensions. Its
// status, when not 0, replaces gqlgen's for the HTTP response (through the
// request's meter).
func Refuse(ctx context.Context, status int, code string, msg string, ext map[string]any) *gqlerror.Error {
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
func (c *Extension) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if n := len(p.Query); n > c.cfg.MaxDocumentBytes {
		return Refuse(ctx, http.StatusRequestEntityTooLarge, string(graph.CodeBadUserInput),
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
func (c *Extension) checkWidth(ctx context.Context, text string) *gqlerror.Error {
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
		return Refuse(ctx, 0, errcode.ValidationFailed, v.Error(), ext)
	}
	return nil
}

func cached(ctx context.Context, docs graphql.Cache[*ast.QueryDocument], text string) bool {
	_, ok := docs.Get(ctx, text)
	return ok
}

// MutateOperationContext runs after parsing and validation, before
// execution: structural limits, then the cost limit, then the charge.
func (c *Extension) MutateOperationContext(ctx context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if v := c.structure.Check(op.Doc, op.Operation); v != nil {
		return Refuse(ctx, 0, errcode.ValidationFailed, v.Error(),
			map[string]any{"limit": v.Limit, "maximum": v.Max, "actual": v.Actual})
	}
	requested, err := c.cost.Requested(op.Operation, op.Variables)
	var pageErr *PageSizeError
	if errors.As(err, &pageErr) {
		return Refuse(ctx, 0, string(graph.CodeBadUserInput), pageErr.Error(),
			map[string]any{"argument": pageErr.Argument, "maximum": pageErr.Max})
	}
	if requested > c.cfg.MaxCost {
		return Refuse(ctx, 0, string(graph.CodeCostLimitExceeded),
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
			if ok, n := c.logAllowed("refusing"); ok {
				c.log.WarnContext(ctx, "rate-limit store unavailable; refusing", "request_id", c.requestID(ctx), "error", err, "occurrences", n)
			}
			return Refuse(ctx, http.StatusServiceUnavailable, string(graph.CodeUnavailable),
				"the rate limiter is unavailable; retry shortly", nil)
		}
		c.metrics.ranUnmetered(ctx)
		n := c.failOpen.Add(1)
		if ok, occurrences := c.logAllowed("unmetered"); ok {
			c.log.WarnContext(ctx, "rate-limit store unavailable; running unmetered", "request_id", c.requestID(ctx),
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
		return Refuse(ctx, http.StatusTooManyRequests, string(graph.CodeRateLimited),
			fmt.Sprintf("rate limited: the operation costs %d points and %d are available; retry after %ds", requested, res.Remaining, max(retry, 1)), ext)
	}
	oc.charged = true
	return nil
}

// InterceptResponse prices what the operation returned, refunds the part of
// the charge it did not use and reports the cost to the client.
func (c *Extension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || !graphql.HasOperationContext(ctx) {
		return resp
	}
	op := graphql.GetOperationContext(ctx)
	// Errors first: looking for a meter walks the whole context, in vain
	// for every event a WebSocket subscription delivers.
	if len(resp.Errors) > 0 {
		if m := meterFrom(ctx); m != nil {
			m.markErrored()
		}
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
				c.log.WarnContext(ctx, "rate-limit refund failed", "request_id", c.requestID(ctx), "error", err)
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

// logAllowed asks Options.LogAllowed, or logs every line without it.
func (c *Extension) logAllowed(kind string) (bool, int) {
	if c.allowLog == nil {
		return true, 1
	}
	return c.allowLog(kind)
}
