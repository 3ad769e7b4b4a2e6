package server

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/issuegraph/issuegraph/graph"
)

// GraphQL over HTTP, as the spec (graphql.github.io/graphql-over-http)
// words it; gqlgen's own transports differ in the places below, so these
// replace them while keeping gqlgen's executor and every extension.
//
//   - The response is application/graphql-response+json when the client
//     accepts it, else application/json (also with no Accept header).
//   - A body that is not a well-formed GraphQL-over-HTTP request (no query,
//     a query that is not a string, variables that are not an object) is
//     400 with either media type.
//   - A request error (parse, validation, variables, a limit) is 200 with
//     application/json, for clients that read the errors from the body, and
//     400 with application/graphql-response+json, which also leaves out the
//     data entry (execution never started). Statuses the limits set (413,
//     429, 503, 400 for the persisted list) replace either (meteredWriter).
//   - A mutation sent with GET is 405 with Allow: POST.

const (
	mediaJSON         = "application/json"
	mediaGraphQLReply = "application/graphql-response+json"
)

// responseMediaType picks the response's media type from the Accept header:
// application/graphql-response+json when the client accepts it at least as
// much as application/json, else application/json.
func responseMediaType(r *http.Request) string {
	var jsonQ, gqlQ float64 = -1, -1
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(s, 64); err == nil {
				q = v
			}
		}
		switch mt {
		case mediaGraphQLReply:
			gqlQ = max(gqlQ, q)
		case mediaJSON, "application/*", "*/*":
			jsonQ = max(jsonQ, q)
		}
	}
	if gqlQ > 0 && gqlQ >= jsonQ {
		return mediaGraphQLReply
	}
	return mediaJSON
}

// postTransport runs one operation sent as a JSON object with POST.
type postTransport struct{}

var _ graphql.Transport = postTransport{}

func (postTransport) Supports(r *http.Request) bool {
	if r.Method != http.MethodPost || r.Header.Get("Upgrade") != "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && (mt == mediaJSON || mt == mediaGraphQLReply)
}

func (postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	media := responseMediaType(r)
	w.Header().Set("Content-Type", media)
	start := graphql.Now()
	body, err := bodyOf(r)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, graph.CodeBadUserInput, "could not read the request body")
		return
	}
	params, msg, badID := decodePostParams(body)
	if badID {
		writeError(w, r, http.StatusBadRequest, graph.CodeBadUserInput, msg)
		return
	}
	if msg != "" {
		writeBadRequest(w, r, media, msg)
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	run(w, r, exec, media, params, false)
}

// getTransport runs a query sent in the URL with GET.
type getTransport struct{}

var _ graphql.Transport = getTransport{}

func (getTransport) Supports(r *http.Request) bool {
	return r.Method == http.MethodGet && r.Header.Get("Upgrade") == ""
}

func (getTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	media := responseMediaType(r)
	w.Header().Set("Content-Type", media)
	start := graphql.Now()
	q := r.URL.Query()
	if id := q.Get("documentId"); id != "" && q.Get("extensions") == "" {
		hash, ok := documentHash(id)
		if !ok {
			writeError(w, r, http.StatusBadRequest, graph.CodeBadUserInput, badDocumentID)
			return
		}
		q.Set("extensions", `{"persistedQuery":{"version":1,"sha256Hash":`+strconv.Quote(hash)+`}}`)
	}
	params := &graphql.RawParams{Query: q.Get("query"), OperationName: q.Get("operationName"), Headers: r.Header}
	for name, into := range map[string]*map[string]any{"variables": &params.Variables, "extensions": &params.Extensions} {
		if s := q.Get(name); s != "" {
			if err := decodeJSON([]byte(s), into); err != nil || *into == nil {
				writeBadRequest(w, r, media, name+" must be a JSON object")
				return
			}
		}
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	run(w, r, exec, media, params, true)
}

// run executes params and writes the response.
func run(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, media string, params *graphql.RawParams, get bool) {
	ctx := r.Context()
	rc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		status := http.StatusOK
		if media == mediaGraphQLReply {
			status = http.StatusBadRequest
		}
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		writeResponse(w, status, resp, false)
		return
	}
	if get && rc.Operation != nil && rc.Operation.Operation != ast.Query {
		w.Header().Set("Allow", "POST")
		writeErrorAs(w, r, media, http.StatusMethodNotAllowed, graph.CodeBadUserInput,
			"GET runs queries only: send a "+string(rc.Operation.Operation)+" with POST")
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	writeResponse(w, http.StatusOK, responses(ctx), true)
}

// decodePostParams reads a POST body's parameters, or says why the body is
// not a well-formed GraphQL-over-HTTP request. A body with no query is
// well-formed only when it names a persisted operation: by
// extensions.persistedQuery, or by the GraphQL-over-HTTP persisted
// documents' top-level "documentId": "sha256:<hex>", which becomes
// extensions.persistedQuery (badID: that documentId is malformed).
func decodePostParams(body []byte) (_ *graphql.RawParams, msg string, badID bool) {
	var raw map[string]json.RawMessage
	if err := decodeJSON(body, &raw); err != nil || raw == nil {
		return nil, "the request body must be a JSON object", false
	}
	var hash string
	var id string
	if v, ok := raw["documentId"]; ok && json.Unmarshal(v, &id) == nil {
		if hash, ok = documentHash(id); !ok {
			return nil, badDocumentID, true
		}
	}
	p := &graphql.RawParams{}
	fields := []struct {
		name string
		into any
		want string
	}{
		{"query", &p.Query, "a string"},
		{"operationName", &p.OperationName, "a string"},
		{"variables", &p.Variables, "an object"},
		{"extensions", &p.Extensions, "an object"},
	}
	for _, f := range fields {
		v, ok := raw[f.name]
		if !ok || string(v) == "null" {
			continue
		}
		if err := decodeJSON(v, f.into); err != nil || (f.want == "an object" && v[0] != '{') {
			return nil, f.name + " must be " + f.want, false
		}
	}
	if hash != "" {
		if p.Extensions == nil {
			p.Extensions = map[string]any{}
		}
		p.Extensions["persistedQuery"] = map[string]any{"version": json.Number("1"), "sha256Hash": hash}
	}
	if p.Query == "" && p.Extensions["persistedQuery"] == nil {
		return nil, `the request has no "query": send {"query": "{ viewer { id } }"}`, false
	}
	return p, "", false
}

const badDocumentID = `documentId must be "sha256:<hex>"`

// documentHash reads a persisted document's id, "sha256:<hex>".
func documentHash(id string) (string, bool) {
	return strings.CutPrefix(id, "sha256:")
}

func decodeJSON(b []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(into)
}

// writeBadRequest answers a body that is not a GraphQL-over-HTTP request.
func writeBadRequest(w http.ResponseWriter, r *http.Request, media, msg string) {
	writeErrorAs(w, r, media, http.StatusBadRequest, graph.CodeBadUserInput, msg)
}

// writeResponse writes resp; withData false leaves out the data entry, for
// a request that failed before execution started.
func writeResponse(w http.ResponseWriter, status int, resp *graphql.Response, withData bool) {
	var b []byte
	var err error
	if withData {
		b, err = encodeResponse(resp)
	} else {
		b, err = json.Marshal(struct {
			Errors     gqlerror.List  `json:"errors,omitempty"`
			Extensions map[string]any `json:"extensions,omitempty"`
		}{resp.Errors, resp.Extensions})
	}
	if err != nil {
		b = []byte(`{"errors":[{"message":"internal server error: the response could not be encoded","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}`)
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// encodeResponse encodes resp as json.Marshal does. A response of data and
// extensions (most of them: every operation reports its cost) is written
// around its data, which the executor produced as JSON already: json.Marshal
// would scan all of it again to validate and compact it, a few percent of
// a large answer's CPU. Data holding a character json.Marshal escapes (<,
// >, &, U+2028, U+2029) goes through json.Marshal too, so the bytes are the
// same either way.
func encodeResponse(resp *graphql.Response) ([]byte, error) {
	if len(resp.Errors) > 0 || resp.Label != "" || resp.Path != nil || resp.HasNext != nil ||
		len(resp.Data) == 0 || escapedByMarshal(resp.Data) {
		return json.Marshal(resp)
	}
	var ext []byte
	if len(resp.Extensions) > 0 {
		var err error
		if ext, err = json.Marshal(resp.Extensions); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, len(`{"data":,"extensions":}`)+len(resp.Data)+len(ext))
	b = append(b, `{"data":`...)
	b = append(b, resp.Data...)
	if ext != nil {
		b = append(b, `,"extensions":`...)
		b = append(b, ext...)
	}
	return append(b, '}'), nil
}

// escapedByMarshal reports whether json.Marshal would rewrite a character
// of raw JSON b: it escapes <, > and & for HTML, and the line and paragraph
// separators for JavaScript.
func escapedByMarshal(b []byte) bool {
	return bytes.IndexAny(b, "<>&") >= 0 || bytes.Contains(b, []byte("\u2028")) || bytes.Contains(b, []byte("\u2029"))
}
