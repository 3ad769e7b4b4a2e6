package loaders

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/graph-gophers/dataloader/v7"

	"github.com/issuegraph/issuegraph/ent/ent"
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
	fetched map[string]bool      // edges already asked for the whole group
	targets map[string]*edgeLoad // batches run for the whole group (GroupBatch)
}

// edgeLoad is one to-one edge of a group's members, loaded once.
type edgeLoad struct {
	done    chan struct{}
	results any // set with err before done closes
	err     error
}

// Add records objs, issues, comments and projects (others are ignored), as
// one group. An object added again belongs to its latest group.
func (p *Peers) Add(objs ...any) *PeerGroup {
	if p.off { // set before the loaders are shared
		return nil
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
		return nil // a lone object has nobody to share a batch with
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
	return g
}

// AddPeers records rows, read together, as one group of p, and returns
// the group (nil for fewer than two rows, or with peers off).
func AddPeers[T any](p *Peers, rows []T) *PeerGroup {
	objs := make([]any, len(rows))
	for i, r := range rows {
		objs[i] = r
	}
	return p.Add(objs...)
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

// GroupBatch runs batch once for group g under name (an edge, or a list's
// loader shape): the first member to ask runs it, for every member at
// once, with a statement of its own rather than through a loader, so
// thousands of keys never arrive at a loader one by one and a busy server
// never splits them over several statements. The others wait for it and
// get its result. ctx ending stops the wait, not the batch.
func GroupBatch(ctx context.Context, g *PeerGroup, name string, batch func() (any, error)) (any, error) {
	g.mu.Lock()
	if g.targets == nil {
		g.targets = map[string]*edgeLoad{}
	}
	e, started := g.targets[name]
	if !started {
		e = &edgeLoad{done: make(chan struct{})}
		g.targets[name] = e
	}
	g.mu.Unlock()
	if !started {
		func() {
			defer close(e.done) // also when the batch panics: nobody waits forever
			e.err = errors.New("batch did not finish")
			e.results, e.err = batch()
		}()
	}
	select {
	case <-e.done:
		return e.results, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Preload gives g the result of its batch name (what GroupBatch would
// run), read already: the targets of a to-one edge that came with the
// page the group's members were read with. A batch already started keeps
// its own result.
func (g *PeerGroup) Preload(name string, results any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.targets == nil {
		g.targets = map[string]*edgeLoad{}
	}
	if _, started := g.targets[name]; started {
		return
	}
	e := &edgeLoad{done: make(chan struct{}), results: results}
	close(e.done)
	g.targets[name] = e
}

// Loaded reports whether the group's batch name (GroupBatch, Preload) has
// finished, so that asking for it returns without waiting. False for a nil
// group.
func (g *PeerGroup) Loaded(name string) bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	e := g.targets[name]
	g.mu.Unlock()
	if e == nil {
		return false
	}
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// GroupEdge returns what the to-one edge named edge ("Comment.author") of
// the group's members points at, by target id (ids lists the members'
// targets), read for the whole group with one statement by fetch
// (GroupBatch). A target fetch did not return is ErrNotFound.
func GroupEdge[V any](ctx context.Context, g *PeerGroup, edge string, ids func() []int64,
	fetch func(context.Context, []int64) (map[int64]V, error),
) (map[int64]*dataloader.Result[V], error) {
	v, err := GroupBatch(ctx, g, edge, func() (any, error) {
		keys := ids()
		got, err := fetch(ctx, keys)
		if err != nil {
			return nil, fmt.Errorf("loading %s: %w", edge, err)
		}
		out := make(map[int64]*dataloader.Result[V], len(keys))
		for _, k := range keys {
			if r, ok := got[k]; ok {
				out[k] = &dataloader.Result[V]{Data: r}
			} else {
				out[k] = &dataloader.Result[V]{Error: fmt.Errorf("%s %d: %w", edge, k, ErrNotFound)}
			}
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(map[int64]*dataloader.Result[V]), nil
}
