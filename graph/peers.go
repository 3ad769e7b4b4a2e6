package graph

import (
	"context"
	"fmt"

	"github.com/graph-gophers/dataloader/v7"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/loaders"
)

// Objects loaded together (the rows of one page batch, the issues or
// projects of one id batch, the objects of one burst of subscription
// events) are peers (loaders.Peers). The first resolver of an edge of one
// of them asks the loaders for the same edge of every peer, without
// waiting, so all their keys join one batch however far apart the
// resolvers run; the rest find their rows loading or cached.

// prefetch asks ld for keys without waiting for them: they join the batch
// of the key asked for next.
func prefetch[V any](ctx context.Context, ld *dataloader.Loader[int64, V], keys ...int64) {
	for _, k := range keys {
		ld.Load(ctx, k)
	}
}

// issuePeers returns obj's peers the first time edge is asked of them.
func issuePeers(l *loaders.Loaders, obj *ent.Issue, edge string) []*ent.Issue {
	if g := l.Peers.Of(typeIssue, obj.ID); g.First(edge) {
		return g.Issues
	}
	return nil
}

// commentPeers returns obj's peers the first time edge is asked of them.
func commentPeers(l *loaders.Loaders, obj *ent.Comment, edge string) []*ent.Comment {
	if g := l.Peers.Of(typeComment, obj.ID); g.First(edge) {
		return g.Comments
	}
	return nil
}

// projectPeers returns obj's peers the first time edge is asked of them.
func projectPeers(l *loaders.Loaders, obj *ent.Project, edge string) []*ent.Project {
	if g := l.Peers.Of(typeProject, obj.ID); g.First(edge) {
		return g.Projects
	}
	return nil
}

// groupList makes sure the list of shape is loaded for every peer of
// parent (an object of type typ) at once, with one statement of its own
// (loaders.GroupBatch), and primed into ld, so parent's Load finds it. A
// parent with no group is left to ld.
func groupList[V any](ctx context.Context, lds *loaders.Loaders, typ, shape string, parent int64, ld *dataloader.Loader[int64, V],
	fetch func(context.Context, []int64) (map[int64]V, error),
) error {
	g := lds.Peers.Of(typ, parent)
	if g == nil {
		return nil
	}
	_, err := loaders.GroupBatch(ctx, g, shape, func() (any, error) {
		ids := g.IDs(typ)
		got, err := fetch(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("loading %s: %w", shape, err)
		}
		for _, id := range ids {
			ld.Prime(ctx, id, got[id])
		}
		return nil, nil
	})
	return err
}

// groupUser resolves a to-one user edge (an issue's assignee, a comment's
// author) of an object of group g: the first member to ask reads the edge
// for all members in one statement (loaders.GroupEdge), the others read it
// from the group. ids lists the members' targets; id is this object's.
// users is the edge's loader, for a member that joined after the batch.
// edge is the batch of the resolver's selection of the edge (userBatch).
func groupUser(ctx context.Context, lds *loaders.Loaders, g *loaders.PeerGroup, edge string, users *dataloader.Loader[int64, *ent.User], ids func() []int64, id int64) (*ent.User, error) {
	byID, err := loaders.GroupEdge(ctx, g, edge, ids, lds.Users)
	if err != nil {
		return nil, err
	}
	if r, ok := byID[id]; ok {
		return r.Data, r.Error
	}
	return users.Load(ctx, id)()
}

// targets collects the distinct non-zero ids of rows.
func targets[T any](rows []T, id func(T) int64) []int64 {
	seen := make(map[int64]bool, len(rows))
	out := make([]int64, 0, len(rows))
	for _, r := range rows {
		if k := id(r); k != 0 && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
