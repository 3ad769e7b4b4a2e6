package graph

import (
	"context"
	"strings"

	"github.com/graph-gophers/dataloader/v7"

	"github.com/issuegraph/issuegraph/ent"
	"github.com/issuegraph/issuegraph/loaders"
)

// A subscription's burst of events is resolved one event at a time, so the
// objects of different events are never siblings in one loader batch. The
// edge resolvers below first ask the loaders for the same edge of every
// object delivered with theirs (loaders.Peers), without waiting, so all of
// them join one batch and the later events of the burst find their rows
// cached. Outside a subscription there are no peers and nothing changes.

// prefetch asks ld for keys without waiting for them: they join the batch
// of the key asked for next.
func prefetch[V any](ctx context.Context, ld *dataloader.Loader[int64, V], keys ...int64) {
	for _, k := range keys {
		ld.Load(ctx, k)
	}
}

// issuePeers returns the issues delivered with obj, when obj is one of
// them.
func issuePeers(l *loaders.Loaders, obj *ent.Issue) []*ent.Issue {
	for _, p := range l.Peers.Issues {
		if p.ID == obj.ID {
			return l.Peers.Issues
		}
	}
	return nil
}

// commentPeers returns the comments delivered with obj, when obj is one of
// them.
func commentPeers(l *loaders.Loaders, obj *ent.Comment) []*ent.Comment {
	for _, p := range l.Peers.Comments {
		if p.ID == obj.ID {
			return l.Peers.Comments
		}
	}
	return nil
}

// projectPeers returns the projects delivered with obj, when obj is one of
// them.
func projectPeers(l *loaders.Loaders, obj *ent.Project) []*ent.Project {
	for _, p := range l.Peers.Projects {
		if p.ID == obj.ID {
			return l.Peers.Projects
		}
	}
	return nil
}

// parentPeers returns the ids of the objects delivered with parent, when
// parent is one of them; list names the list ("Issue.labels"), whose
// prefix is the parent's type.
func parentPeers(l *loaders.Loaders, list string, parent int64) []int64 {
	var ids []int64
	switch typ, _, _ := strings.Cut(list, "."); typ {
	case typeIssue:
		for _, p := range l.Peers.Issues {
			ids = append(ids, p.ID)
		}
	case typeComment:
		for _, p := range l.Peers.Comments {
			ids = append(ids, p.ID)
		}
	case typeProject:
		for _, p := range l.Peers.Projects {
			ids = append(ids, p.ID)
		}
	}
	for _, id := range ids {
		if id == parent {
			return ids
		}
	}
	return nil
}
