package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/graph"
)

// ReplayedHeader marks a response answered from the stored answer of an
// earlier request with the same Idempotency-Key.
const ReplayedHeader = "Idempotent-Replayed"

// idempotency honours the Idempotency-Key header (IETF
// httpapi-idempotency-key-header draft) on POST requests of a signed-in
// viewer. The whole request, a batch included, runs in one database
// transaction (database.Pinned) that also stores the key, the viewer, a
// fingerprint of the body and the response: a retry finds both the
// effects and the answer, or neither. So a client that lost the answer,
// even to a crash of the instance, retries with the same key and gets the
// first answer byte for byte, with exactly one effect.
//
// Anonymous requests are not tracked: their mutations (signUp, logIn,
// refreshToken) answer with secrets that must not be stored, and repeating
// them does no harm.
type idempotency struct {
	db        *database.DB
	log       *slog.Logger
	retention time.Duration
	throttle  *logThrottle
}

// transientCodes are failures a retry may not meet: a response carrying
// one is not stored, and what the request did is rolled back.
var transientCodes = map[string]int{
	string(graph.CodeInternal):    http.StatusInternalServerError,
	string(graph.CodeUnavailable): http.StatusServiceUnavailable,
	string(graph.CodeRateLimited): http.StatusTooManyRequests,
}

func (m *idempotency) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values := r.Header.Values("Idempotency-Key")
		if len(values) == 0 || r.Method != http.MethodPost || isUpgrade(r) || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			next.ServeHTTP(w, r)
			return
		}
		scope := viewerScope(viewer.FromContext(r.Context()))
		if scope == "" {
			next.ServeHTTP(w, r)
			return
		}
		key, ok := parseIdempotencyKey(values)
		if !ok {
			writeError(w, r, http.StatusBadRequest, graph.CodeBadUserInput, "Idempotency-Key must be one string of 1 to 255 printable characters")
			return
		}
		body, err := bodyOf(r)
		if err != nil {
			writeError(w, r, http.StatusBadRequest, graph.CodeBadUserInput, "could not read the request body")
			return
		}
		m.serve(w, r, next, scope, key, fingerprint(r, body))
	})
}

// serve runs a keyed request inside its transaction.
func (m *idempotency) serve(w http.ResponseWriter, r *http.Request, next http.Handler, scope, key, print string) {
	ctx, tx, err := m.db.Pin(r.Context())
	if err != nil {
		m.unavailable(w, r, err)
		return
	}
	// The lock below is the transaction's: it goes with the commit or the
	// rollback, even when this instance dies. Every answer but a committed
	// one is written after the rollback (a second one does nothing), so a
	// client that retries at once, as a failure answer tells it to, finds
	// the key free rather than still in progress.
	rollback := func() {
		if err := tx.Rollback(); err != nil {
			if ok, n := m.throttle.allow("rolling back idempotent request"); ok {
				m.log.WarnContext(ctx, "rolling back idempotent request", "request_id", RequestID(ctx), "error", err, "occurrences", n)
			}
		}
	}
	defer rollback()
	var locked bool
	if err := tx.QueryRow(ctx, []any{&locked}, `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))`, scope+"\n"+key); err != nil { // a key is printable: no newline
		rollback()
		m.unavailable(w, r, err)
		return
	}
	if !locked {
		w.Header().Set("Retry-After", "1")
		writeError(w, r, http.StatusConflict, graph.CodeConflict, "a request with this Idempotency-Key is still in progress; retry once it has been answered")
		return
	}
	var stored struct {
		fingerprint, contentType string
		status                   int
		body                     []byte
	}
	err = tx.QueryRow(ctx, []any{&stored.fingerprint, &stored.status, &stored.contentType, &stored.body},
		`SELECT fingerprint, status, content_type, body FROM idempotency_keys
		WHERE viewer = $1 AND key = $2 AND created_at > now() - make_interval(secs => $3)`,
		scope, key, m.retention.Seconds())
	if !errors.Is(err, sql.ErrNoRows) {
		// Answered without running (below): nothing to hold the key for.
		rollback()
	}
	switch {
	case err == nil && stored.fingerprint != print:
		writeError(w, r, http.StatusUnprocessableEntity, graph.CodeBadUserInput, "this Idempotency-Key was used for a different request; use a new key for a new request")
		return
	case err == nil:
		w.Header().Set("Content-Type", stored.contentType)
		w.Header().Set(ReplayedHeader, "true")
		w.WriteHeader(stored.status)
		_, _ = w.Write(stored.body)
		return
	case !errors.Is(err, sql.ErrNoRows):
		m.unavailable(w, r, err)
		return
	}
	// Past retention: the old answer gives way to this request.
	if _, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE viewer = $1 AND key = $2`, scope, key); err != nil {
		rollback()
		m.unavailable(w, r, err)
		return
	}
	// The answer is held until it is stored and committed: the client must
	// not see an answer the database may still lose. Headers go straight
	// to the real writer.
	rec := &itemRecorder{header: w.Header()}
	next.ServeHTTP(rec, r.WithContext(ctx))
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if code, status := transientFailure(rec); code != "" {
		// Rolled back by the deferred call: the answer must say nothing
		// happened, even where the failed response shows a part that
		// had succeeded (another operation of a batch).
		msg := "the request failed and nothing was applied; retry it with the same Idempotency-Key"
		if code == string(graph.CodeInternal) {
			msg = fmt.Sprintf("internal server error (request id %s); nothing was applied, retry with the same Idempotency-Key", RequestID(ctx))
		}
		if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "1")
		}
		rollback()
		writeError(w, r, status, graph.Code(code), msg)
		return
	}
	contentType := w.Header().Get("Content-Type")
	if _, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (viewer, key, fingerprint, status, content_type, body, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, now())`, scope, key, print, rec.status, contentType, rec.body.Bytes()); err != nil {
		rollback()
		m.unavailable(w, r, err)
		return
	}
	if err := tx.Commit(); err != nil {
		m.unavailable(w, r, err)
		return
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

// unavailable answers a keyed request whose transaction failed: nothing
// was applied (or, for a commit lost in transit, everything was and the
// retry finds the stored answer), so the client retries with the key.
func (m *idempotency) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	if ok, n := m.throttle.allow("idempotent request not applied"); ok {
		m.log.WarnContext(r.Context(), "idempotent request not applied", "request_id", RequestID(r.Context()), "error", err, "occurrences", n)
	}
	w.Header().Set("Retry-After", "1")
	writeError(w, r, http.StatusServiceUnavailable, graph.CodeUnavailable, "the database is unavailable; retry with the same Idempotency-Key")
}

// sweep deletes stored answers past retention, every interval, until ctx
// ends. The lookup ignores them anyway; this keeps the table small.
func (m *idempotency) sweep(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := m.db.SQL.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)`, m.retention.Seconds()); err != nil && ctx.Err() == nil {
			m.log.Warn("sweeping idempotency keys", "error", err)
		}
	}
}

// viewerScope names who a key belongs to; "" for an anonymous viewer.
func viewerScope(v viewer.Viewer) string {
	switch {
	case v.APIKey != nil:
		return "apikey:" + strconv.FormatInt(v.APIKey.ID, 10)
	case v.Authenticated():
		return "user:" + strconv.FormatInt(v.UserID, 10)
	}
	return ""
}

// parseIdempotencyKey reads the header: one value, a structured-field
// string (quoted) as the draft has it, or the bare token many clients
// send.
func parseIdempotencyKey(values []string) (string, bool) {
	if len(values) != 1 {
		return "", false
	}
	k := strings.TrimSpace(values[0])
	if len(k) >= 2 && k[0] == '"' && k[len(k)-1] == '"' {
		k = k[1 : len(k)-1]
	}
	if k == "" || len(k) > 255 {
		return "", false
	}
	for _, c := range []byte(k) {
		if c < 0x20 || c > 0x7e {
			return "", false
		}
	}
	return k, true
}

// fingerprint identifies a request: its path, what it accepts (which
// changes the answer's form) and its body.
func fingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", r.URL.Path, r.Header.Get("Accept"))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// transientFailure returns the code and status of the first transient
// failure in a response, a batch's included; "" when there is none.
func transientFailure(rec *itemRecorder) (string, int) {
	if rec.status >= 500 || rec.status == http.StatusTooManyRequests {
		code := string(graph.CodeUnavailable)
		if rec.status == http.StatusTooManyRequests {
			code = string(graph.CodeRateLimited)
		} else if rec.status == http.StatusInternalServerError {
			code = string(graph.CodeInternal)
		}
		return code, transientCodes[code]
	}
	type response struct {
		Errors []struct {
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	var responses []response
	b := bytes.TrimSpace(rec.body.Bytes())
	if len(b) > 0 && b[0] == '[' {
		if err := json.Unmarshal(b, &responses); err != nil {
			return string(graph.CodeInternal), http.StatusInternalServerError
		}
	} else {
		var one response
		if err := json.Unmarshal(b, &one); err != nil {
			return string(graph.CodeInternal), http.StatusInternalServerError
		}
		responses = append(responses, one)
	}
	for _, resp := range responses {
		for _, e := range resp.Errors {
			if status, ok := transientCodes[e.Extensions.Code]; ok {
				return e.Extensions.Code, status
			}
		}
	}
	return "", 0
}
