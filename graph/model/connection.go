package model

import (
	"context"

	"github.com/issuegraph/issuegraph/ent/ent"
)

// Node is any object reachable through `node(id:)`. The implementations are
// the ent entities themselves.
type Node interface{}

// Connection is one page of a list of T, in the Relay connection shape.
type Connection[T any] struct {
	Edges []*Edge[T]
	// HasNext and HasPrevious become the page info's hasNextPage and
	// hasPreviousPage.
	HasNext, HasPrevious bool
	// Count returns the size of the whole list. It runs only when a client
	// asks for totalCount.
	Count func(ctx context.Context) (int, error)
}

// PageInfo says where the page sits in the whole list. It is built when a
// client asks for it, so pages nobody asks it of encode no cursors.
func (c *Connection[T]) PageInfo() *PageInfo {
	info := &PageInfo{HasNextPage: c.HasNext, HasPreviousPage: c.HasPrevious}
	if n := len(c.Edges); n > 0 {
		start, end := c.Edges[0].Cursor(), c.Edges[n-1].Cursor()
		info.StartCursor, info.EndCursor = &start, &end
	}
	return info
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
	Node T
	// CursorOf encodes an item's cursor. It is shared by the page's edges
	// and runs only for the cursors a client selects: a deep query has
	// thousands of edges and asks for none of their cursors.
	CursorOf func(T) string
}

// Cursor is the edge's opaque position in its list.
func (e *Edge[T]) Cursor() string { return e.CursorOf(e.Node) }

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
