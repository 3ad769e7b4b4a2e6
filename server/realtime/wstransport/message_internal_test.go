package wstransport

import (
	"encoding/json"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// TestResponsesEncodeAsJSONMarshalDoes: a response written part by part
// reads, as JSON, exactly as the envelope around json.Marshal's encoding
// of it, for every shape a response takes.
func TestResponsesEncodeAsJSONMarshalDoes(t *testing.T) {
	t.Parallel()
	hasNext := true
	for name, resp := range map[string]*graphql.Response{
		"data":            {Data: json.RawMessage(`{"projectEvents":{"cursor":"Mw","title":"<b>&</b>"}}`)},
		"no data":         {},
		"null data":       {Data: json.RawMessage(`null`)},
		"errors":          {Errors: gqlerror.List{{Message: "forbidden", Path: ast.Path{ast.PathName("projectEvents"), ast.PathName("cursor")}, Extensions: map[string]any{"code": "FORBIDDEN"}}}},
		"extensions":      {Data: json.RawMessage(`{"a":1}`), Extensions: map[string]any{"dbStatements": 2, "cost": map[string]any{"requestedQueryCost": 3}}},
		"everything":      {Data: json.RawMessage(`{"a":null}`), Errors: gqlerror.List{{Message: "x"}}, Extensions: map[string]any{"b": "c"}},
		"deferred fields": {Data: json.RawMessage(`{"a":1}`), Label: "l", Path: ast.Path{ast.PathName("a")}, HasNext: &hasNext},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := appendResponse(nil, mustJSON("op-1"), "next", resp)
			require.NoError(t, err)
			payload, err := json.Marshal(resp)
			require.NoError(t, err)
			require.JSONEq(t, string(encode("op-1", "next", payload)), string(got))
		})
	}
}

// TestMessageBuffersComeBackEmptyAndBounded: a buffer given back is
// emptied, and an oversized one is never handed out again.
func TestMessageBuffersComeBackEmptyAndBounded(t *testing.T) {
	var m messages
	b := m.get()
	*b = append(*b, "x"...)
	require.Empty(t, *m.get(), "a fresh buffer is empty")
	m.put(b)
	require.Empty(t, *b, "a buffer given back is emptied")
	big := make([]byte, 0, maxKeptMessage+1)
	m.put(&big)
	for range 10 {
		require.LessOrEqual(t, cap(*m.get()), maxKeptMessage)
	}
}
