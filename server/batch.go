package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/server/limits"
)

// batches answers a JSON array of operations (when ISSUEGRAPH_BATCH_MAX is
// positive) by running each element, one after another and in order, as a
// request of its own through the rest of the chain, and writing their
// responses as one array. Running them as requests, rather than teaching
// gqlgen about arrays, puts every operation through exactly what a single
// one meets: its own loaders, persisted lookup, structural and cost
// limits, and its own charge and refund to the viewer's bucket. The batch
// shares the request's body limit, deadline and viewer.
//
// An operation that fails answers with its own error inside the array;
// the batch is 200 unless it is refused as a whole (empty, too long, or
// asked for as an event stream).
func batches(maxOps int) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if maxOps == 0 || r.Method != http.MethodPost {
				next.ServeHTTP(w, r)
				return
			}
			body, err := bodyOf(r)
			if err != nil {
				writeError(w, r, http.StatusBadRequest, graph.CodeBadUserInput, "could not read the request body")
				return
			}
			trimmed := bytes.TrimSpace(body)
			if len(trimmed) == 0 || trimmed[0] != '[' {
				next.ServeHTTP(w, r)
				return
			}
			var items []json.RawMessage
			if err := json.Unmarshal(trimmed, &items); err != nil {
				writeError(w, r, http.StatusBadRequest, graph.CodeBadUserInput, "request body is not a JSON array of operations")
				return
			}
			if len(items) == 0 || len(items) > maxOps {
				writeError(w, r, http.StatusBadRequest, graph.CodeBadUserInput,
					fmt.Sprintf("a batch holds 1 to %d operations, not %d", maxOps, len(items)))
				return
			}
			if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
				writeError(w, r, http.StatusBadRequest, graph.CodeBadUserInput,
					"a batch is answered as one JSON array, not an event stream; subscribe with one operation per request")
				return
			}
			out := bytes.NewBufferString("[")
			for i, item := range items {
				if i > 0 {
					out.WriteByte(',')
				}
				out.Write(batchItem(next, r, item))
			}
			out.WriteByte(']')
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(out.Bytes())
		})
	}
}

// batchItem runs one operation of a batch as a request of its own and
// returns its response body. The item's status is dropped: the batch is
// 200, and each response says in its errors what went wrong.
func batchItem(next http.Handler, r *http.Request, item json.RawMessage) []byte {
	rec := &itemRecorder{header: http.Header{}}
	if len(item) == 0 || item[0] != '{' {
		writeError(rec, r, http.StatusBadRequest, graph.CodeBadUserInput, "each operation of a batch must be a JSON object {\"query\": ...}")
		return rec.body.Bytes()
	}
	// Its own meter, on the same bucket: the operation is charged and
	// refunded alone, and its status (429, 413...) stays its own.
	ctx, metered := limits.ForItem(r.Context())
	defer metered()
	// Its own statement count, for the development extension of its
	// response; the request's (the access log's) still adds them all up.
	ctx, statements := database.WithStatementCounter(ctx)
	if total := database.StatementCounterFrom(r.Context()); total != nil {
		defer func() { total.Add(statements.Count()) }()
	}
	sub := r.Clone(ctx)
	sub.Body = newReadBody(item)
	sub.ContentLength = int64(len(item))
	next.ServeHTTP(rec, sub)
	if !json.Valid(rec.body.Bytes()) {
		// Every handler below writes a JSON object; keep the array valid
		// if one ever does not.
		rec = &itemRecorder{header: http.Header{}}
		writeError(rec, r, http.StatusInternalServerError, graph.CodeInternal, "internal server error (request id "+RequestID(ctx)+")")
	}
	return rec.body.Bytes()
}

// itemRecorder holds a response in memory: one operation of a batch, or
// a keyed request until its answer is stored (server/idempotency.go).
type itemRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *itemRecorder) Header() http.Header { return w.header }

func (w *itemRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *itemRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}
