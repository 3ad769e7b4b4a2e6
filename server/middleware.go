package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/server/auth"
	"github.com/issuegraph/issuegraph/server/graphiql"
)

// middleware wraps a handler.
type middleware func(http.Handler) http.Handler

// chain applies middlewares so the first listed runs first.
func chain(h http.Handler, ms ...middleware) http.Handler {
	for i := len(ms) - 1; i >= 0; i-- {
		h = ms[i](h)
	}
	return h
}

// writeError answers with a GraphQL-shaped error body, so clients parse
// every failure the same way.
func writeError(w http.ResponseWriter, r *http.Request, status int, code graph.Code, msg string) {
	writeErrorAs(w, r, mediaJSON, status, code, msg)
}

// writeErrorAs is writeError with the response's media type.
func writeErrorAs(w http.ResponseWriter, r *http.Request, media string, status int, code graph.Code, msg string) {
	ext := map[string]any{"code": string(code)}
	if id := RequestID(r.Context()); id != "" {
		ext["requestId"] = id
	}
	body, _ := json.Marshal(map[string]any{"errors": []map[string]any{{"message": msg, "extensions": ext}}})
	w.Header().Set("Content-Type", media)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// requestContext gives each request its id and info record and writes one
// access-log line when it is done. It also turns a panic outside gqlgen
// into a 500 with a GraphQL-shaped body.
func requestContext(log *slog.Logger, slow time.Duration) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ri := &requestInfo{id: r.Header.Get("X-Request-Id")}
			if !clientRequestID.MatchString(ri.id) {
				ri.id = newRequestID()
			}
			w.Header().Set("X-Request-Id", ri.id)
			ctx, statements := database.WithStatementCounter(withRequestInfo(r.Context(), ri))
			r = r.WithContext(ctx)
			rec := &statusRecorder{ResponseWriter: w, ri: ri}
			// The access line reads only these once the handler returned: a
			// WebSocket's line is written when the connection ends, and
			// must not keep the request (its headers) alive until then.
			method, path, realtime := r.Method, r.URL.Path, isRealtime(r)
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					log.ErrorContext(r.Context(), "panic in handler", "request_id", ri.id, "panic", fmt.Sprint(p))
					if rec.status == 0 {
						writeError(rec, r, http.StatusInternalServerError, graph.CodeInternal, "internal server error (request id "+ri.id+")")
					}
				}
				// A WebSocket's line covers its whole connection: written
				// now, or when the hijacked connection closes
				// (statusRecorder.Hijack).
				// Values, not rec: a WebSocket's response (and everything
				// under it) is done with at the upgrade.
				status, bytes := rec.status, rec.bytes
				ri.end(func() { accessLine(log, ctx, ri, status, bytes, statements, start, method, path, realtime, slow) })
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

// accessLine writes a request's access-log line, and the slow-operation
// line when it took longer than slow.
func accessLine(log *slog.Logger, ctx context.Context, ri *requestInfo, status, bytes int, statements *database.StatementCounter, start time.Time, method, path string, realtime bool, slow time.Duration) {
	ri.mu.Lock()
	codes, errs := slices.Clone(ri.errorCodes), ri.errors
	opType, opName := ri.operationType, ri.operationName
	ri.mu.Unlock()
	// A client that went away before its answer read nothing of it: status
	// 499, "client closed request", as proxies log it.
	clientClosed := !realtime && errors.Is(ctx.Err(), context.Canceled)
	if clientClosed {
		status = 499
	}
	attrs := []any{
		"request_id", ri.id, "method", method, "path", path, "status", status,
		"duration_ms", float64(time.Since(start).Microseconds()) / 1000, "bytes", bytes,
		"sql_statements", statements.Count(),
	}
	if opType != "" {
		attrs = append(attrs, "operation_type", opType, "operation_name", opName)
	}
	if ri.viewerID != 0 {
		attrs = append(attrs, "viewer_id", ri.viewerID)
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, "trace_id", sc.TraceID().String())
	}
	if ri.apiKeyID != 0 {
		attrs = append(attrs, "api_key_id", ri.apiKeyID)
	}
	if len(codes) > 0 {
		attrs = append(attrs, "error_codes", codes, "errors", errs)
	}
	if clientClosed {
		attrs = append(attrs, "client_closed", true)
	}
	log.InfoContext(ctx, "request", attrs...)
	// A subscription's line covers its whole connection: long by design.
	if took := time.Since(start); slow > 0 && took >= slow && opType != "" && !realtime {
		log.WarnContext(ctx, "slow operation", append(attrs, "threshold_ms", slow.Milliseconds())...)
	}
}

// securityHeaders sets headers that keep browsers from sniffing, framing
// or caching API responses. GraphiQL (development only) gets a policy
// that lets it load its own files, from this origin only.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, graphiql.AssetPrefix) {
			h.Set("Content-Security-Policy", graphiql.ContentSecurityPolicy)
		} else {
			h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// cors answers preflight requests and marks responses readable by the
// configured origins only. Requests from other origins get no CORS
// headers, so browsers refuse to hand them the response.
func cors(origins []string) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			w.Header().Add("Vary", "Origin")
			allowed := origin != "" && slices.Contains(origins, origin)
			if allowed {
				w.Header().Set("Access-Control-Allow-Origin", origin)
				w.Header().Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After, RateLimit, RateLimit-Policy, Idempotent-Replayed")
			}
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				if !allowed {
					w.WriteHeader(http.StatusForbidden)
					return
				}
				w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
				w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id, Idempotency-Key")
				w.Header().Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// graphqlRequest checks what gqlgen would otherwise answer vaguely: the
// method, the content type, the body's size and that it is JSON at all.
// The body is read here (bounded) so an oversized one gets 413: a batch
// is bounded as a whole. A JSON array (a batch) passes only when batchMax
// is positive; batches splits it.
func graphqlRequest(limit int64, batchMax int) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Method {
			case http.MethodGet:
				if isUpgrade(r) {
					next.ServeHTTP(w, r)
					return
				}
				if q := r.URL.Query(); q.Get("query") == "" && q.Get("extensions") == "" && q.Get("documentId") == "" {
					writeError(w, r, http.StatusBadRequest, graph.CodeBadUserInput, "GET needs a query parameter: /graphql?query={viewer{id}}")
					return
				}
				if int64(len(r.URL.RawQuery)) > limit {
					writeError(w, r, http.StatusRequestURITooLong, graph.CodeBadUserInput, "query string is too long; send the operation with POST")
					return
				}
				next.ServeHTTP(w, r)
				return
			case http.MethodPost:
			default:
				w.Header().Set("Allow", "GET, POST")
				writeError(w, r, http.StatusMethodNotAllowed, graph.CodeBadUserInput, "use POST (or GET for queries)")
				return
			}
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || (mt != "application/json" && mt != "application/graphql-response+json") {
				writeError(w, r, http.StatusUnsupportedMediaType, graph.CodeBadUserInput, "send the request as Content-Type: application/json")
				return
			}
			if r.ContentLength > limit {
				writeError(w, r, http.StatusRequestEntityTooLarge, graph.CodeBadUserInput, fmt.Sprintf("request body is larger than %d bytes", limit))
				return
			}
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeError(w, r, http.StatusRequestEntityTooLarge, graph.CodeBadUserInput, fmt.Sprintf("request body is larger than %d bytes", limit))
				return
			}
			if err != nil {
				writeError(w, r, http.StatusBadRequest, graph.CodeBadUserInput, "could not read the request body")
				return
			}
			trimmed := bytes.TrimSpace(body)
			if !json.Valid(trimmed) {
				writeError(w, r, http.StatusBadRequest, graph.CodeBadUserInput, "request body is not valid JSON")
				return
			}
			if len(trimmed) > 0 && trimmed[0] != '{' && (trimmed[0] != '[' || batchMax == 0) {
				msg := "request body must be one JSON object {\"query\": ...}; batched requests are not accepted"
				if batchMax > 0 {
					msg = fmt.Sprintf("request body must be one JSON object {\"query\": ...} or an array of at most %d of them", batchMax)
				}
				writeError(w, r, http.StatusBadRequest, graph.CodeBadUserInput, msg)
				return
			}
			r.Body = newReadBody(body)
			next.ServeHTTP(w, r)
		})
	}
}

// readBody is a POST body graphqlRequest read (bounded, known to be JSON).
// What comes after it (batches, idempotency, the transport) takes the
// bytes with bodyOf rather than reading and re-wrapping the body again.
type readBody struct {
	*bytes.Reader
	b []byte
}

func newReadBody(b []byte) *readBody { return &readBody{Reader: bytes.NewReader(b), b: b} }

func (*readBody) Close() error { return nil }

// bodyOf returns r's body: the bytes graphqlRequest read, or, for a
// request that did not pass through it, what is left to read.
func bodyOf(r *http.Request) ([]byte, error) {
	if b, ok := r.Body.(*readBody); ok {
		return b.b, nil
	}
	return io.ReadAll(r.Body)
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// deadline bounds every request except long-lived subscriptions.
func deadline(d time.Duration) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isUpgrade(r) || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
				next.ServeHTTP(w, r)
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// tokenVerifier checks an access token and returns its user id, or an API
// key and returns its service account.
type tokenVerifier interface {
	Access(token string) (userID int64, session string, err error)
	VerifyAPIKey(ctx context.Context, secret string) (*viewer.APIKey, error)
}

// authenticate puts the viewer of a request into its context. No
// Authorization header means anonymous; a header that is present but not a
// valid bearer token is refused with 401, so a client with an expired
// token learns it must refresh instead of silently seeing less.
//
// A token of a user that no longer exists is refused the same way, within
// a second of the account's deletion (accounts).
func authenticate(tokens tokenVerifier, users *accounts) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := r.Header.Get("Authorization")
			if h == "" {
				next.ServeHTTP(w, r.WithContext(viewer.NewContext(r.Context(), viewer.Viewer{})))
				return
			}
			scheme, token, ok := strings.Cut(h, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || len(token) > 4096 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="issuegraph"`)
				writeError(w, r, http.StatusUnauthorized, graph.CodeUnauthenticated, "Authorization must be `Bearer <access token>`")
				return
			}
			token = strings.TrimSpace(token)
			if auth.IsAPIKey(token) {
				key, err := tokens.VerifyAPIKey(r.Context(), token)
				if errors.Is(err, auth.ErrInvalidToken) {
					w.Header().Set("WWW-Authenticate", `Bearer realm="issuegraph", error="invalid_token"`)
					writeError(w, r, http.StatusUnauthorized, graph.CodeUnauthenticated, "API key is invalid, revoked or expired")
					return
				}
				if err != nil {
					w.Header().Set("Retry-After", "1")
					writeError(w, r, http.StatusServiceUnavailable, graph.CodeUnavailable, "could not check the API key; try again")
					return
				}
				infoFrom(r.Context()).apiKeyID = key.ID
				next.ServeHTTP(w, r.WithContext(viewer.NewContext(r.Context(), viewer.Viewer{APIKey: key})))
				return
			}
			userID, session, err := tokens.Access(token)
			if err == nil {
				var exists bool
				if exists, err = users.exists(r.Context(), userID); err != nil {
					w.Header().Set("Retry-After", "1")
					writeError(w, r, http.StatusServiceUnavailable, graph.CodeUnavailable, "could not check the access token; try again")
					return
				}
				if !exists {
					err = auth.ErrInvalidToken
				}
			}
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="issuegraph", error="invalid_token"`)
				writeError(w, r, http.StatusUnauthorized, graph.CodeUnauthenticated, "access token is invalid, expired or revoked; refresh it or sign in again")
				return
			}
			infoFrom(r.Context()).viewerID = userID
			next.ServeHTTP(w, r.WithContext(viewer.NewContext(r.Context(), viewer.Viewer{UserID: userID, Session: session})))
		})
	}
}

// clientAddress returns the address the request in ctx came from ("" when
// unknown).
func clientAddress(ctx context.Context) string { return infoFrom(ctx).clientAddr }

// withClientAddress records where each request comes from: the
// connection's address, or behind hops trusted reverse proxies the
// X-Forwarded-For entry the outermost of them added. Entries further left
// are written by the client and cannot be trusted.
func withClientAddress(hops int) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			addr, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				addr = r.RemoteAddr
			}
			if hops > 0 {
				var entries []string
				for _, h := range r.Header.Values("X-Forwarded-For") {
					for _, e := range strings.Split(h, ",") {
						entries = append(entries, strings.TrimSpace(e))
					}
				}
				if len(entries) >= hops {
					if ip := net.ParseIP(entries[len(entries)-hops]); ip != nil {
						addr = ip.String()
					}
				}
			}
			// Set before the request is shared with another goroutine.
			infoFrom(r.Context()).clientAddr = addr
			next.ServeHTTP(w, r)
		})
	}
}
