package server

import (
	"encoding/json"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// encodeResponse writes the bytes json.Marshal writes, on its fast path
// (data alone) and off it.
func TestEncodeResponseWritesWhatMarshalWrites(t *testing.T) {
	yes := true
	data := []string{
		`{"viewer":{"id":"VXNlcjox","name":"Ada"}}`,
		`null`,
		`{"a":[1,2.5,-3e7,true,false,null,"",{}],"b":[]}`,
		`{"s":"quote \" backslash \\ slash / tab \t newline \n \u0001"}`,
		`{"s":"<script>alert(1)</script> & more"}`,
		`{"s":"line` + "\u2028" + `separator, paragraph` + "\u2029" + `separator"}`,
		`{"s":"é 漢字 🙂 \ud83d\ude42"}`,
		`{"s":"almost a separator: ` + "\u2027\u202a" + `"}`,
	}
	var responses []*graphql.Response
	for _, d := range data {
		responses = append(responses, &graphql.Response{Data: json.RawMessage(d)})
	}
	responses = append(responses,
		&graphql.Response{},
		&graphql.Response{Data: json.RawMessage(data[0]), Errors: gqlerror.List{{Message: "not found", Path: ast.Path{ast.PathName("issue")}}}},
		&graphql.Response{Data: json.RawMessage(data[0]), Extensions: map[string]any{"cost": 3}},
		&graphql.Response{Data: json.RawMessage(data[4]), Extensions: map[string]any{"cost": 3}},
		&graphql.Response{Data: json.RawMessage(data[0]), Extensions: map[string]any{
			"cost": map[string]any{"requestedQueryCost": 27, "actualQueryCost": 4, "throttleStatus": map[string]any{"maximumAvailable": 1000}},
			"note": "<b> & \u2028", "a": []any{1, "x", nil}}},
		&graphql.Response{Data: json.RawMessage(data[0]), Label: "later", Path: ast.Path{ast.PathName("issue")}, HasNext: &yes},
	)
	for _, resp := range responses {
		want, err := json.Marshal(resp)
		require.NoError(t, err)
		got, err := encodeResponse(resp)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))
	}
}

func TestEscapedByMarshal(t *testing.T) {
	for s, want := range map[string]bool{
		`"plain"`: false, `"a<b"`: true, `"a>b"`: true, `"a&b"`: true,
		`"` + "\u2028" + `"`: true, `"` + "\u2029" + `"`: true, `"` + "\u2027\u202f" + `"`: false, `"漢字"`: false,
	} {
		assert.Equal(t, want, escapedByMarshal([]byte(s)), s)
	}
}
