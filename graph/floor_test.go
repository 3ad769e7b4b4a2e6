package graph_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/seed"
	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/graph/model"
)

// deepQuery is make bench's deep shape: 10 projects, 20 issues each with
// its assignee, 5 comments each with its author.
const deepQuery = `{ organization(slug: "scale") { projects(first: 10) { edges { node { key issues(first: 20) { edges { node { key title assignee { name } comments(first: 5) { edges { node { body author { name } } } } } } } } } } } }`

// memo records what the resolvers of the deep shape's edges return, then
// serves it from memory: the same answer as the database gives, with no
// database and no loaders, so the executor is all that is left to pay for.
type memo struct {
	graph.ResolverRoot
	mu       sync.Mutex
	recorded bool // after the first run: read-only, no lock
	values   map[any]any
}

type memoKey struct {
	field string
	id    int64
}

// get returns the value recorded for key, or records what real returns.
func get[T any](m *memo, key memoKey, real func() (T, error)) (T, error) {
	if m.recorded {
		return m.values[key].(T), nil
	}
	v, err := real()
	m.mu.Lock()
	m.values[key] = v
	m.mu.Unlock()
	return v, err
}

func (m *memo) Query() graph.QueryResolver { return memoQuery{m.ResolverRoot.Query(), m} }
func (m *memo) Organization() graph.OrganizationResolver {
	return memoOrg{m.ResolverRoot.Organization(), m}
}
func (m *memo) Project() graph.ProjectResolver { return memoProject{m.ResolverRoot.Project(), m} }
func (m *memo) Issue() graph.IssueResolver     { return memoIssue{m.ResolverRoot.Issue(), m} }
func (m *memo) Comment() graph.CommentResolver { return memoComment{m.ResolverRoot.Comment(), m} }

type (
	memoQuery struct {
		graph.QueryResolver
		m *memo
	}
	memoOrg struct {
		graph.OrganizationResolver
		m *memo
	}
	memoProject struct {
		graph.ProjectResolver
		m *memo
	}
	memoIssue struct {
		graph.IssueResolver
		m *memo
	}
	memoComment struct {
		graph.CommentResolver
		m *memo
	}
)

func (r memoQuery) Organization(ctx context.Context, slug string) (*ent.Organization, error) {
	return get(r.m, memoKey{"Query.organization", 0}, func() (*ent.Organization, error) { return r.QueryResolver.Organization(ctx, slug) })
}

func (r memoOrg) Projects(ctx context.Context, obj *ent.Organization, first *int, after *string, last *int, before *string, includeArchived *bool) (*model.Connection[*ent.Project], error) {
	return get(r.m, memoKey{"Organization.projects", obj.ID}, func() (*model.Connection[*ent.Project], error) {
		return r.OrganizationResolver.Projects(ctx, obj, first, after, last, before, includeArchived)
	})
}

func (r memoProject) Issues(ctx context.Context, obj *ent.Project, first *int, after *string, last *int, before *string, filter *model.IssueFilter, orderBy *model.IssueOrder) (*model.Connection[*ent.Issue], error) {
	return get(r.m, memoKey{"Project.issues", obj.ID}, func() (*model.Connection[*ent.Issue], error) {
		return r.ProjectResolver.Issues(ctx, obj, first, after, last, before, filter, orderBy)
	})
}

func (r memoIssue) Key(ctx context.Context, obj *ent.Issue) (string, error) {
	return get(r.m, memoKey{"Issue.key", obj.ID}, func() (string, error) { return r.IssueResolver.Key(ctx, obj) })
}

func (r memoIssue) Assignee(ctx context.Context, obj *ent.Issue) (*ent.User, error) {
	return get(r.m, memoKey{"Issue.assignee", obj.ID}, func() (*ent.User, error) { return r.IssueResolver.Assignee(ctx, obj) })
}

func (r memoIssue) Comments(ctx context.Context, obj *ent.Issue, first *int, after *string, last *int, before *string) (*model.Connection[*ent.Comment], error) {
	return get(r.m, memoKey{"Issue.comments", obj.ID}, func() (*model.Connection[*ent.Comment], error) {
		return r.IssueResolver.Comments(ctx, obj, first, after, last, before)
	})
}

func (r memoComment) Author(ctx context.Context, obj *ent.Comment) (*ent.User, error) {
	return get(r.m, memoKey{"Comment.author", obj.ID}, func() (*ent.User, error) { return r.CommentResolver.Author(ctx, obj) })
}

// cpuTime is the CPU the process has used, user and system.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	require.NoError(tb, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDeepShape measures the executor's floor and how far the real
// resolvers are from it, on the deep shape of make bench (the same data
// generator, 10 projects x 20 issues x 5 comments):
//
//   - floor: the patched executor (graph/execpatch) answering from memory,
//     no database and no loaders;
//   - floor-stock: gqlgen's own executor, the same way;
//   - served: the patched executor with the real resolvers, loaders and
//     PostgreSQL (the server's own CPU; PostgreSQL's is another process).
//
// Each goes through handler.New with the POST transport and a query cache,
// one request at a time, and reports the process CPU per request (cpu-ms/op,
// garbage collection included) beside time and allocations:
//
//	go test ./graph/ -run '^$' -bench DeepShape -benchmem -count 3
func BenchmarkDeepShape(b *testing.B) {
	db, member := generated(b, seed.Sizes{Users: 300, Projects: 12, Labels: 8, Issues: 1200, Comments: 6000})

	real := graph.NewResolver(db.Client, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	memory := &memo{ResolverRoot: real, values: map[any]any{}}
	served, _ := executors(db, real)
	floor, floorStock := executors(db, memory)

	want := ask(b, served, member, deepQuery)
	require.Empty(b, want.Errors)
	require.Equal(b, want, ask(b, floor, member, deepQuery), "recording run")
	memory.recorded = true
	require.Equal(b, want, ask(b, floor, member, deepQuery), "from memory")
	require.Equal(b, want, ask(b, floorStock, member, deepQuery), "from memory, stock executor")

	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"floor", floor}, {"floor-stock", floorStock}, {"served", served}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			start := cpuTime(b)
			for b.Loop() {
				ask(b, c.h, member, deepQuery)
			}
			b.ReportMetric(float64(cpuTime(b)-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
	}
}
