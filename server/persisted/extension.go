package persisted

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/server/limits"
	"github.com/issuegraph/issuegraph/server/persisted/store"
)

// Extension is the gqlgen extension that turns a persisted-query
// hash into the document to run: a trusted document imported ahead of time
// (PostgreSQL), or, in allow mode, an Automatic Persisted Query a client
// registered by sending its text once (Redis, or in process without it). In
// enforce mode only trusted documents run.
type Extension struct {
	mode string
	// exempt are the API keys that run as in allow mode when mode is
	// enforce (ISSUEGRAPH_PERSISTED_EXEMPT_API_KEYS): operators' tools.
	exempt  map[int64]bool
	apq     store.Store
	trusted *Trusted
	log     *slog.Logger
	lookups metric.Int64Counter
	// requestID names the request in ctx in log lines.
	requestID func(context.Context) string
}

var (
	_ graphql.HandlerExtension          = (*Extension)(nil)
	_ graphql.OperationParameterMutator = (*Extension)(nil)
)

// Options are what NewExtension builds the extension from.
type Options struct {
	Config config.Config
	// Client reads the trusted documents.
	Client *ent.Client
	// Redis holds the Automatic Persisted Queries, shared by every
	// instance; nil: in process.
	Redis *redis.Client
	Log   *slog.Logger
	// Meter counts lookups by source and result.
	Meter metric.MeterProvider
	// RequestID names the request in ctx in log lines.
	RequestID func(context.Context) string
}

// NewExtension builds the extension.
func NewExtension(o Options) *Extension {
	cfg := o.Config
	var apq store.Store = store.NewLRU(1000, store.WithMaxQueryBytes(cfg.Limits.MaxDocumentBytes))
	if o.Redis != nil {
		apq = store.NewRedis(o.Redis, cfg.RedisPrefix+"apq:", cfg.APQTTL, store.WithMaxQueryBytes(cfg.Limits.MaxDocumentBytes))
	}
	exempt := map[int64]bool{}
	for _, id := range cfg.PersistedExemptAPIKeys {
		exempt[id] = true
	}
	lookups, err := o.Meter.Meter("github.com/issuegraph/issuegraph/server").Int64Counter("persisted.lookups", metric.WithUnit("{lookup}"),
		metric.WithDescription("Persisted-operation lookups by source (trusted, apq) and result (hit, miss, refused)."))
	if err != nil {
		o.Log.Error("persisted-operation metrics disabled", "error", err)
		lookups = metricnoop.Int64Counter{}
	}
	return &Extension{
		mode: cfg.PersistedMode, exempt: exempt, apq: apq, trusted: NewTrusted(o.Client, 10_000),
		log: o.Log, lookups: lookups, requestID: o.RequestID,
	}
}

// counted counts one lookup.
func (p *Extension) counted(ctx context.Context, source, result string) {
	p.lookups.Add(ctx, 1, metric.WithAttributes(attribute.String("source", source), attribute.String("result", result)))
}

// modeFor is the mode the request in ctx runs under. An exempt API key runs
// enforce as allow: any document, and APQ registrations and lookups, which
// only exempt keys can then read back, since enforce never reads the APQ
// store for anyone else.
func (p *Extension) modeFor(ctx context.Context) string {
	if p.mode == config.PersistedEnforce {
		if k := viewer.FromContext(ctx).APIKey; k != nil && p.exempt[k.ID] {
			return config.PersistedAllow
		}
	}
	return p.mode
}

func (p *Extension) ExtensionName() string { return "PersistedOperations" }

func (p *Extension) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationParameters fills in the query of a request that names a
// persisted operation, and in enforce mode refuses any other document.
func (p *Extension) MutateOperationParameters(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	mode := p.modeFor(ctx)
	if mode == config.PersistedOff {
		return nil
	}
	hash, named, err := persistedHash(raw.Extensions)
	if err != nil {
		return limits.Refuse(ctx, http.StatusBadRequest, string(graph.CodeBadUserInput), err.Error(), nil)
	}
	if raw.Query == "" {
		if !named {
			return nil // gqlgen reports the missing document
		}
		doc, ok, err := p.trusted.Get(ctx, hash)
		if err != nil {
			p.log.ErrorContext(ctx, "trusted document lookup", "request_id", p.requestID(ctx), "error", err)
			return limits.Refuse(ctx, http.StatusServiceUnavailable, string(graph.CodeUnavailable), "could not look up the persisted operation; retry shortly", nil)
		}
		if ok {
			p.counted(ctx, "trusted", "hit")
			raw.Query = doc
			limits.MarkPersisted(ctx)
			markTrusted(ctx)
			return nil
		}
		if mode == config.PersistedEnforce {
			p.counted(ctx, "trusted", "refused")
			return notInList(ctx)
		}
		doc, ok, err = p.apq.Get(ctx, hash)
		if err != nil {
			// Redis unreachable: a miss, so the client resends the text.
			p.log.WarnContext(ctx, "persisted query store unavailable", "request_id", p.requestID(ctx), "error", err)
		}
		if !ok {
			p.counted(ctx, "apq", "miss")
			// Apollo clients match this exact message, then resend the text.
			return limits.Refuse(ctx, 0, string(graph.CodePersistedQueryNotFound), "PersistedQueryNotFound", nil)
		}
		p.counted(ctx, "apq", "hit")
		raw.Query = doc
		limits.MarkPersisted(ctx)
		return nil
	}
	if !named && mode != config.PersistedEnforce {
		return nil // text in allow mode: nothing to look up or register
	}
	sum := Hash(raw.Query)
	if named && hash != sum {
		return limits.Refuse(ctx, http.StatusBadRequest, string(graph.CodeBadUserInput), "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query", nil)
	}
	if mode == config.PersistedEnforce {
		// Text is accepted only when it is a trusted document; sending it
		// with a hash (an APQ registration) registers nothing.
		_, ok, err := p.trusted.Get(ctx, sum)
		if err != nil {
			p.log.ErrorContext(ctx, "trusted document lookup", "request_id", p.requestID(ctx), "error", err)
			return limits.Refuse(ctx, http.StatusServiceUnavailable, string(graph.CodeUnavailable), "could not look up the persisted operation; retry shortly", nil)
		}
		if !ok {
			p.counted(ctx, "trusted", "refused")
			return notInList(ctx)
		}
		p.counted(ctx, "trusted", "hit")
		markTrusted(ctx)
		return nil
	}
	if named {
		if err := p.apq.Add(ctx, hash, raw.Query); err != nil {
			if errors.Is(err, store.ErrTooLarge) {
				return limits.Refuse(ctx, http.StatusRequestEntityTooLarge, string(graph.CodeBadUserInput), "the document is too large to persist", nil)
			}
			// Not stored: the request still runs, the client will resend.
			p.log.WarnContext(ctx, "persisted query not stored", "request_id", p.requestID(ctx), "error", err)
		}
	}
	return nil
}

// trustedKey marks, in the operation's stats, a document from the trusted
// list, so DocumentCache keeps it apart from arbitrary text.
const trustedKey = "issuegraph.trusted"

func markTrusted(ctx context.Context) {
	if graphql.HasOperationContext(ctx) {
		graphql.GetOperationContext(ctx).Stats.SetExtension(trustedKey, true)
	}
}

// DocumentCache is gqlgen's cache of parsed, validated documents, keyed by
// their text. Trusted documents get a space of their own, so a flood of
// distinct public queries cannot evict them: a registered operation is
// parsed and validated once per instance.
type DocumentCache struct {
	trusted *lru.Cache[string, *ast.QueryDocument]
	other   *lru.Cache[string, *ast.QueryDocument]
}

var _ graphql.Cache[*ast.QueryDocument] = (*DocumentCache)(nil)

// NewDocumentCache keeps up to trusted parsed trusted documents and other
// parsed documents of any other text.
func NewDocumentCache(trusted, other int) *DocumentCache {
	t, err1 := lru.New[string, *ast.QueryDocument](max(trusted, 1))
	o, err2 := lru.New[string, *ast.QueryDocument](max(other, 1))
	if err := errors.Join(err1, err2); err != nil {
		panic(fmt.Sprintf("document cache: %v", err)) // unreachable: sizes are positive
	}
	return &DocumentCache{trusted: t, other: o}
}

func (c *DocumentCache) Get(_ context.Context, text string) (*ast.QueryDocument, bool) {
	if doc, ok := c.trusted.Get(text); ok {
		return doc, true
	}
	return c.other.Get(text)
}

func (c *DocumentCache) Add(ctx context.Context, text string, doc *ast.QueryDocument) {
	if graphql.HasOperationContext(ctx) && graphql.GetOperationContext(ctx).Stats.GetExtension(trustedKey) == true {
		c.trusted.Add(text, doc)
		return
	}
	c.other.Add(text, doc)
}

func notInList(ctx context.Context) *gqlerror.Error {
	return limits.Refuse(ctx, http.StatusBadRequest, string(graph.CodePersistedQueryNotInList),
		"this server runs only registered operations, and this one is not registered", nil)
}

// persistedHash reads extensions.persistedQuery {version: 1, sha256Hash}.
func persistedHash(ext map[string]any) (hash string, named bool, err error) {
	v, ok := ext["persistedQuery"]
	if !ok || v == nil {
		return "", false, nil
	}
	pq, ok := v.(map[string]any)
	if !ok {
		return "", false, errors.New("extensions.persistedQuery must be an object {version: 1, sha256Hash}")
	}
	if fmt.Sprint(pq["version"]) != "1" { // a json.Number or a float64, by transport
		return "", false, errors.New("extensions.persistedQuery.version must be 1")
	}
	hash, ok = pq["sha256Hash"].(string)
	if !ok || hash == "" {
		return "", false, errors.New("extensions.persistedQuery.sha256Hash must be the SHA-256 of the document, in hex")
	}
	return strings.ToLower(hash), true, nil
}
