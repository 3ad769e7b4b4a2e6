package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/server/persisted"
	"github.com/issuegraph/issuegraph/server/persisted/store"
)

// persistedOperations is the gqlgen extension that turns a persisted-query
// hash into the document to run: a trusted document imported ahead of time
// (PostgreSQL), or, in allow mode, an Automatic Persisted Query a client
// registered by sending its text once (Redis, or in process without it). In
// enforce mode only trusted documents run.
type persistedOperations struct {
	mode string
	// exempt are the API keys that run as in allow mode when mode is
	// enforce (ISSUEGRAPH_PERSISTED_EXEMPT_API_KEYS): operators' tools.
	exempt  map[int64]bool
	apq     store.Store
	trusted *persisted.Trusted
	log     *slog.Logger
	metrics *abuseMetrics // nil: not measured
}

var (
	_ graphql.HandlerExtension          = (*persistedOperations)(nil)
	_ graphql.OperationParameterMutator = (*persistedOperations)(nil)
)

func newPersistedOperations(cfg config.Config, client *ent.Client, rdb *redis.Client, log *slog.Logger) *persistedOperations {
	var apq store.Store = store.NewLRU(1000, store.WithMaxQueryBytes(cfg.Limits.MaxDocumentBytes))
	if rdb != nil {
		apq = store.NewRedis(rdb, cfg.RedisPrefix+"apq:", cfg.APQTTL, store.WithMaxQueryBytes(cfg.Limits.MaxDocumentBytes))
	}
	exempt := map[int64]bool{}
	for _, id := range cfg.PersistedExemptAPIKeys {
		exempt[id] = true
	}
	return &persistedOperations{mode: cfg.PersistedMode, exempt: exempt, apq: apq, trusted: persisted.NewTrusted(client, 10_000), log: log}
}

// modeFor is the mode the request in ctx runs under. An exempt API key runs
// enforce as allow: any document, and APQ registrations and lookups, which
// only exempt keys can then read back, since enforce never reads the APQ
// store for anyone else.
func (p *persistedOperations) modeFor(ctx context.Context) string {
	if p.mode == config.PersistedEnforce {
		if k := viewer.FromContext(ctx).APIKey; k != nil && p.exempt[k.ID] {
			return config.PersistedAllow
		}
	}
	return p.mode
}

func (p *persistedOperations) ExtensionName() string { return "PersistedOperations" }

func (p *persistedOperations) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationParameters fills in the query of a request that names a
// persisted operation, and in enforce mode refuses any other document.
func (p *persistedOperations) MutateOperationParameters(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	mode := p.modeFor(ctx)
	if mode == config.PersistedOff {
		return nil
	}
	hash, named, err := persistedHash(raw.Extensions)
	if err != nil {
		return limitError(ctx, http.StatusBadRequest, string(graph.CodeBadUserInput), err.Error(), nil)
	}
	if raw.Query == "" {
		if !named {
			return nil // gqlgen reports the missing document
		}
		doc, ok, err := p.trusted.Get(ctx, hash)
		if err != nil {
			p.log.ErrorContext(ctx, "trusted document lookup", "request_id", RequestID(ctx), "error", err)
			return limitError(ctx, http.StatusServiceUnavailable, string(graph.CodeUnavailable), "could not look up the persisted operation; retry shortly", nil)
		}
		if ok {
			p.metrics.persistedLookup(ctx, "trusted", "hit")
			raw.Query = doc
			markPersisted(ctx)
			markTrusted(ctx)
			return nil
		}
		if mode == config.PersistedEnforce {
			p.metrics.persistedLookup(ctx, "trusted", "refused")
			return notInList(ctx)
		}
		doc, ok, err = p.apq.Get(ctx, hash)
		if err != nil {
			// Redis unreachable: a miss, so the client resends the text.
			p.log.WarnContext(ctx, "persisted query store unavailable", "request_id", RequestID(ctx), "error", err)
		}
		if !ok {
			p.metrics.persistedLookup(ctx, "apq", "miss")
			// Apollo clients match this exact message, then resend the text.
			return limitError(ctx, 0, string(graph.CodePersistedQueryNotFound), "PersistedQueryNotFound", nil)
		}
		p.metrics.persistedLookup(ctx, "apq", "hit")
		raw.Query = doc
		markPersisted(ctx)
		return nil
	}
	sum := persisted.Hash(raw.Query)
	if named && hash != sum {
		return limitError(ctx, http.StatusBadRequest, string(graph.CodeBadUserInput), "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query", nil)
	}
	if mode == config.PersistedEnforce {
		// Text is accepted only when it is a trusted document; sending it
		// with a hash (an APQ registration) registers nothing.
		_, ok, err := p.trusted.Get(ctx, sum)
		if err != nil {
			p.log.ErrorContext(ctx, "trusted document lookup", "request_id", RequestID(ctx), "error", err)
			return limitError(ctx, http.StatusServiceUnavailable, string(graph.CodeUnavailable), "could not look up the persisted operation; retry shortly", nil)
		}
		if !ok {
			p.metrics.persistedLookup(ctx, "trusted", "refused")
			return notInList(ctx)
		}
		p.metrics.persistedLookup(ctx, "trusted", "hit")
		markTrusted(ctx)
		return nil
	}
	if named {
		if err := p.apq.Add(ctx, hash, raw.Query); err != nil {
			if errors.Is(err, store.ErrTooLarge) {
				return limitError(ctx, http.StatusRequestEntityTooLarge, string(graph.CodeBadUserInput), "the document is too large to persist", nil)
			}
			// Not stored: the request still runs, the client will resend.
			p.log.WarnContext(ctx, "persisted query not stored", "request_id", RequestID(ctx), "error", err)
		}
	}
	return nil
}

// markPersisted notes that the request named its document by hash, so a
// GET of it may carry cache headers.
func markPersisted(ctx context.Context) {
	if m := meterFrom(ctx); m != nil {
		m.markPersisted()
	}
}

// trustedKey marks, in the operation's stats, a document from the trusted
// list, so documentCache keeps it apart from arbitrary text.
const trustedKey = "issuegraph.trusted"

func markTrusted(ctx context.Context) {
	if graphql.HasOperationContext(ctx) {
		graphql.GetOperationContext(ctx).Stats.SetExtension(trustedKey, true)
	}
}

// documentCache is gqlgen's cache of parsed, validated documents, keyed by
// their text. Trusted documents get a space of their own, so a flood of
// distinct public queries cannot evict them: a registered operation is
// parsed and validated once per instance.
type documentCache struct {
	trusted *lru.Cache[string, *ast.QueryDocument]
	other   *lru.Cache[string, *ast.QueryDocument]
}

var _ graphql.Cache[*ast.QueryDocument] = (*documentCache)(nil)

func newDocumentCache(trusted, other int) *documentCache {
	t, err1 := lru.New[string, *ast.QueryDocument](max(trusted, 1))
	o, err2 := lru.New[string, *ast.QueryDocument](max(other, 1))
	if err := errors.Join(err1, err2); err != nil {
		panic(fmt.Sprintf("document cache: %v", err)) // unreachable: sizes are positive
	}
	return &documentCache{trusted: t, other: o}
}

func (c *documentCache) Get(_ context.Context, text string) (*ast.QueryDocument, bool) {
	if doc, ok := c.trusted.Get(text); ok {
		return doc, true
	}
	return c.other.Get(text)
}

func (c *documentCache) Add(ctx context.Context, text string, doc *ast.QueryDocument) {
	if graphql.HasOperationContext(ctx) && graphql.GetOperationContext(ctx).Stats.GetExtension(trustedKey) == true {
		c.trusted.Add(text, doc)
		return
	}
	c.other.Add(text, doc)
}

func notInList(ctx context.Context) *gqlerror.Error {
	return limitError(ctx, http.StatusBadRequest, string(graph.CodePersistedQueryNotInList),
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

// documentIDs accepts the GraphQL-over-HTTP persisted-documents form,
// a top-level "documentId": "sha256:<hex>" (POST body or GET parameter), by
// rewriting it to extensions.persistedQuery, the one form gqlgen passes on.
func documentIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			q := r.URL.Query()
			if id := q.Get("documentId"); id != "" && q.Get("extensions") == "" {
				hash, ok := strings.CutPrefix(id, "sha256:")
				if !ok {
					writeError(w, r, http.StatusBadRequest, graph.CodeBadUserInput, `documentId must be "sha256:<hex>"`)
					return
				}
				ext, _ := json.Marshal(map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}})
				q.Del("documentId")
				q.Set("extensions", string(ext))
				r.URL.RawQuery = q.Encode()
			}
		case http.MethodPost:
			body, err := io.ReadAll(r.Body) // already read and bounded by graphqlRequest
			if err != nil {
				writeError(w, r, http.StatusBadRequest, graph.CodeBadUserInput, "could not read the request body")
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if !bytes.Contains(body, []byte(`"documentId"`)) {
				break
			}
			var req map[string]json.RawMessage
			if json.Unmarshal(body, &req) != nil {
				break
			}
			var id string
			if json.Unmarshal(req["documentId"], &id) != nil {
				break
			}
			hash, ok := strings.CutPrefix(id, "sha256:")
			if !ok {
				writeError(w, r, http.StatusBadRequest, graph.CodeBadUserInput, `documentId must be "sha256:<hex>"`)
				return
			}
			ext := map[string]any{}
			_ = json.Unmarshal(req["extensions"], &ext)
			ext["persistedQuery"] = map[string]any{"version": 1, "sha256Hash": hash}
			req["extensions"], _ = json.Marshal(ext)
			delete(req, "documentId")
			body, _ = json.Marshal(req)
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		next.ServeHTTP(w, r)
	})
}
