package server

import (
	"context"
	"encoding/json"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/graph"
)

// signInHintMessage tells an anonymous client why it sees nothing.
const signInHintMessage = "you are not signed in: everything that needs an account reads as null; " +
	"sign in with the logIn mutation and send the header Authorization: Bearer followed by its accessToken"

// signInHint adds extensions.signIn to the response of an anonymous query
// that read a null at its root (viewer, or an object only members may see,
// which reads as null whether or not it exists): authorization answers a
// private object with null and no error, so the hint says why. It is an
// extension, not an error, so the data and its status stay as they are.
//
//	"extensions": {"signIn": {"code": "UNAUTHENTICATED", "message": "..."}}
func signInHint(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || len(resp.Data) == 0 || !graphql.HasOperationContext(ctx) {
		return resp
	}
	op := graphql.GetOperationContext(ctx).Operation
	if op == nil || op.Operation != ast.Query {
		return resp
	}
	if v := viewer.FromContext(ctx); v.Actor() || v.System {
		return resp
	}
	if !nullAtRoot(resp.Data) {
		return resp
	}
	if resp.Extensions == nil {
		resp.Extensions = map[string]any{}
	}
	resp.Extensions["signIn"] = map[string]any{"code": string(graph.CodeUnauthenticated), "message": signInHintMessage}
	return resp
}

// nullAtRoot reports whether a root field of data is null, or a list
// holding a null (nodes).
func nullAtRoot(data json.RawMessage) bool {
	var root map[string]json.RawMessage
	if json.Unmarshal(data, &root) != nil {
		return false
	}
	for _, v := range root {
		if string(v) == "null" {
			return true
		}
		if len(v) > 0 && v[0] == '[' {
			var items []json.RawMessage
			if json.Unmarshal(v, &items) == nil {
				for _, it := range items {
					if string(it) == "null" {
						return true
					}
				}
			}
		}
	}
	return false
}
