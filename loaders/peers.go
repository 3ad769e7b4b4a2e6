package loaders

import (
	"sync"

	"github.com/issuegraph/issuegraph/ent"
)

// Peers records which objects were loaded together, so that the first
// resolver of an edge of one of them asks the loaders for the same edge of
// all of them at once.
//
// Loaders batch the keys that arrive within their wait. The resolvers of
// a thousand comments do not all start within it on a busy server, and a
// subscription resolves the events of a burst one at a time; either way
// the keys of siblings would be split over several statements. A group —
// the rows one batch returned, or the objects of one burst of events —
// knows its members, so the first resolver of comment.author in a group
// loads the authors of the whole group, and the others find their rows
// loading or cached: the statements a query costs depend on its shape,
// not on timing.
type Peers struct {
	mu     sync.RWMutex // Of, once per resolver, far outnumbers Add
	groups map[peerKey]*PeerGroup
	off    bool // naive loaders: every parent reads its own rows
}

type peerKey struct {
	typ string // "Issue", "Comment" or "Project"
	id  int64
}

// PeerGroup is one set of objects loaded together.
type PeerGroup struct {
	Issues   []*ent.Issue
	Comments []*ent.Comment
	Projects []*ent.Project

	mu      sync.Mutex
	fetched map[string]bool // edges already asked for the whole group
}

// Add records objs, issues, comments and projects (others are ignored), as
// one group. An object added again belongs to its latest group.
func (p *Peers) Add(objs ...any) {
	if p.off { // set before the loaders are shared
		return
	}
	g := &PeerGroup{}
	for _, o := range objs {
		switch o := o.(type) {
		case *ent.Issue:
			g.Issues = append(g.Issues, o)
		case *ent.Comment:
			g.Comments = append(g.Comments, o)
		case *ent.Project:
			g.Projects = append(g.Projects, o)
		}
	}
	if len(g.Issues)+len(g.Comments)+len(g.Projects) < 2 {
		return // a lone object has nobody to share a batch with
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.groups == nil {
		p.groups = map[peerKey]*PeerGroup{}
	}
	for _, o := range g.Issues {
		p.groups[peerKey{"Issue", o.ID}] = g
	}
	for _, o := range g.Comments {
		p.groups[peerKey{"Comment", o.ID}] = g
	}
	for _, o := range g.Projects {
		p.groups[peerKey{"Project", o.ID}] = g
	}
}

// AddPeers records rows, read together, as one group of p.
func AddPeers[T any](p *Peers, rows []T) {
	objs := make([]any, len(rows))
	for i, r := range rows {
		objs[i] = r
	}
	p.Add(objs...)
}

// Of returns the group of the object of type typ ("Issue", "Comment",
// "Project") and id, or nil.
func (p *Peers) Of(typ string, id int64) *PeerGroup {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.groups[peerKey{typ, id}]
}

// First reports whether edge (a field with its type, "Comment.author", or
// a list's loader shape) is asked of the group for the first time; a group
// may hold issues and comments, so "author" alone would be ambiguous: the caller then asks the loaders for
// it for every member. False for a nil group.
func (g *PeerGroup) First(edge string) bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fetched[edge] {
		return false
	}
	if g.fetched == nil {
		g.fetched = map[string]bool{}
	}
	g.fetched[edge] = true
	return true
}

// IDs returns the ids of the group's members of type typ.
func (g *PeerGroup) IDs(typ string) []int64 {
	var ids []int64
	switch typ {
	case "Issue":
		for _, o := range g.Issues {
			ids = append(ids, o.ID)
		}
	case "Comment":
		for _, o := range g.Comments {
			ids = append(ids, o.ID)
		}
	case "Project":
		for _, o := range g.Projects {
			ids = append(ids, o.ID)
		}
	}
	return ids
}
