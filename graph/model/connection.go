// Package model holds the GraphQL types that are not ent entities: pages
// of connections, payloads and inputs (generated into models_gen.go), and
// the few hand-written ones here.
package model

import (
	"context"

	"github.com/issuegraph/issuegraph/ent"
)

// Node is any object reachable through `node(id:)`. The implementations are
// the ent entities themselves.
type Node interface{}

// Connection is one page of a list of T, in the Relay connection shape.
type Connection[T any] struct {
	Edges    []*Edge[T]
	PageInfo *PageInfo
	// Count returns the size of the whole list. It runs only when a client
	// asks for totalCount.
	Count func(ctx context.Context) (int, error)
}

// TotalCount is the size of the whole list the page was cut from.
func (c *Connection[T]) TotalCount(ctx context.Context) (int, error) {
	if c.Count == nil {
		return len(c.Edges), nil
	}
	return c.Count(ctx)
}

// Edge is one item of a page and its cursor.
type Edge[T any] struct {
	Cursor string
	Node   T
}

// The concrete connections bound in gqlgen.yml.
type (
	IssueConnection      = Connection[*ent.Issue]
	IssueEdge            = Edge[*ent.Issue]
	CommentConnection    = Connection[*ent.Comment]
	CommentEdge          = Edge[*ent.Comment]
	LabelConnection      = Connection[*ent.Label]
	LabelEdge            = Edge[*ent.Label]
	ProjectConnection    = Connection[*ent.Project]
	ProjectEdge          = Edge[*ent.Project]
	MembershipConnection = Connection[*ent.Membership]
	MembershipEdge       = Edge[*ent.Membership]
	APIKeyConnection     = Connection[*ent.APIKey]
	APIKeyEdge           = Edge[*ent.APIKey]
)
