package loaders

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/graph-gophers/dataloader/v7"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/predicate"
)

// ErrNotFound is the per-key error of a by-id loader for an id that does
// not exist or that the viewer may not see.
var ErrNotFound = errors.New("not found")

// Options tune the loaders of a request.
type Options struct {
	// Wait is how long a loader collects keys, from the first one, before
	// it runs its batch. gqlgen starts sibling field resolvers
	// concurrently; keys that arrive later (a busy machine, thousands of
	// siblings) go to one more batch, which costs one more statement but
	// never a wrong answer. Zero means DefaultWait.
	Wait time.Duration
	// Naive fetches every key with its own statement and caches nothing,
	// as resolvers without loaders would: benchmarks compare the two.
	Naive bool
	// Tracer and BatchSize, when set, give every batch a span and record
	// how many keys it served.
	Tracer    trace.Tracer
	BatchSize metric.Int64Histogram
}

// DefaultWait is the Wait of Options that set none.
const DefaultWait = 2 * time.Millisecond

// Loaders are one request's dataloaders.
type Loaders struct {
	User         *dataloader.Loader[int64, *ent.User]
	Organization *dataloader.Loader[int64, *ent.Organization]
	Project      *dataloader.Loader[int64, *ent.Project]
	Issue        *dataloader.Loader[int64, *ent.Issue]
	Label        *dataloader.Loader[int64, *ent.Label]

	// Peers are the objects loaded (or delivered) together; see Peers.
	Peers Peers

	opts   Options
	client *ent.Client
	mu     sync.Mutex
	lists  map[string]any // shape -> *dataloader.Loader[int64, X]
	// usersOf holds the users loader of each edge (UsersOf).
	usersOf map[string]*dataloader.Loader[int64, *ent.User]
	memos   map[any]any // Memo
	// projectKeys holds the keys of projects the request knows without
	// their rows (KnowProjectKey).
	projectKeys map[int64]string
}

// New returns fresh loaders reading through client.
func New(client *ent.Client, opts Options) *Loaders {
	if opts.Wait <= 0 {
		opts.Wait = DefaultWait
	}
	l := &Loaders{client: client, opts: opts, lists: map[string]any{}}
	l.Peers.off = opts.Naive
	l.User = l.newUserLoader()
	l.Organization = newLoader(opts, "organization", byID("organization", func(ctx context.Context, ids []int64) ([]*ent.Organization, error) {
		return client.Organization.Query().Where(predicate.Organization(idIn(ids))).All(ctx)
	}, func(o *ent.Organization) int64 { return o.ID }))
	// Projects and issues read in one batch are peers: their edges load
	// together too.
	l.Project = newLoader(opts, "project", byID("project", func(ctx context.Context, ids []int64) ([]*ent.Project, error) {
		rows, err := client.Project.Query().Where(predicate.Project(idIn(ids))).All(ctx)
		return peers(l, rows, err)
	}, func(p *ent.Project) int64 { return p.ID }))
	l.Issue = newLoader(opts, "issue", byID("issue", func(ctx context.Context, ids []int64) ([]*ent.Issue, error) {
		rows, err := client.Issue.Query().Where(predicate.Issue(idIn(ids))).All(ctx)
		return peers(l, rows, err)
	}, func(i *ent.Issue) int64 { return i.ID }))
	l.Label = newLoader(opts, "label", byID("label", func(ctx context.Context, ids []int64) ([]*ent.Label, error) {
		return client.Label.Query().Where(predicate.Label(idIn(ids))).All(ctx)
	}, func(l *ent.Label) int64 { return l.ID }))
	return l
}

func newLoader[V any](opts Options, name string, fn dataloader.BatchFunc[int64, V]) *dataloader.Loader[int64, V] {
	options := []dataloader.Option[int64, V]{dataloader.WithWait[int64, V](opts.Wait)}
	if opts.Naive {
		options = []dataloader.Option[int64, V]{dataloader.WithBatchCapacity[int64, V](1),
			dataloader.WithCache[int64, V](&dataloader.NoCache[int64, V]{})}
	}
	if opts.Tracer != nil && opts.BatchSize != nil {
		fn = wrapTraced(batchTracer{name: name, tracer: opts.Tracer, size: opts.BatchSize}, fn)
	}
	return dataloader.NewBatchedLoader(fn, options...)
}

func (l *Loaders) newUserLoader() *dataloader.Loader[int64, *ent.User] {
	return newLoader(l.opts, "user", byID("user", l.users, func(u *ent.User) int64 { return u.ID }))
}

func (l *Loaders) users(ctx context.Context, ids []int64) ([]*ent.User, error) {
	return l.client.User.Query().Where(predicate.User(idIn(ids))).All(ctx)
}

// Users reads the users with ids, the viewer may see, in one statement,
// by id: for a batch of a peer group (GroupEdge).
func (l *Loaders) Users(ctx context.Context, ids []int64) (map[int64]*ent.User, error) {
	rows, err := l.users(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]*ent.User, len(rows))
	for _, u := range rows {
		out[u.ID] = u
	}
	return out, nil
}

// UsersOf returns the loader of the users reached through edge
// ("Issue.assignee"). Each such edge batches on its own: the users of two
// edges at different depths (an issue's assignee, its comments' authors)
// would otherwise share a statement only when the deeper edge's keys
// happened to arrive before the shallower one's batch left, and what a
// query costs would depend on timing. A user read through two edges is
// read twice, in statements that run anyway. graph names a loader for an
// edge and the columns its selection needs, so users read with fewer
// columns are only found where those columns are all that is needed.
func (l *Loaders) UsersOf(edge string) *dataloader.Loader[int64, *ent.User] {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ld, ok := l.usersOf[edge]; ok {
		return ld
	}
	ld := l.newUserLoader()
	if l.usersOf == nil {
		l.usersOf = map[string]*dataloader.Loader[int64, *ent.User]{}
	}
	l.usersOf[edge] = ld
	return ld
}

// Prime caches rows (read through ent with this request's viewer, so
// visible to it) in the by-id loaders of their types: an issue's project,
// read with the page that lists the issue, is not read again by id for the
// issue's key. Types without a by-id loader are ignored; naive loaders
// cache nothing.
func Prime[T any](ctx context.Context, l *Loaders, rows ...T) {
	for _, r := range rows {
		switch r := any(r).(type) {
		case *ent.Project:
			l.Project.Prime(ctx, r.ID, r)
		case *ent.Issue:
			l.Issue.Prime(ctx, r.ID, r)
		case *ent.Label:
			l.Label.Prime(ctx, r.ID, r)
		case *ent.Organization:
			l.Organization.Prime(ctx, r.ID, r)
		}
	}
}

// KnowProjectKey records that project id has key: an issue found by its
// key (ENG-42) names its project's key, so resolving the issue's key needs
// no project row.
func (l *Loaders) KnowProjectKey(id int64, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.projectKeys == nil {
		l.projectKeys = map[int64]string{}
	}
	l.projectKeys[id] = key
}

// ProjectKey returns the key KnowProjectKey recorded for project id.
func (l *Loaders) ProjectKey(id int64) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k, ok := l.projectKeys[id]
	return k, ok
}

// peers records rows, read in one batch, as peers in l.
func peers[T any](l *Loaders, rows []T, err error) ([]T, error) {
	if err == nil {
		AddPeers(&l.Peers, rows)
	}
	return rows, err
}

// byID builds a batch function over fetch that answers in key order; an id
// fetch does not return gets ErrNotFound, the other keys are unaffected.
func byID[T any](what string, fetch func(context.Context, []int64) ([]T, error), idOf func(T) int64) dataloader.BatchFunc[int64, T] {
	return func(ctx context.Context, ids []int64) []*dataloader.Result[T] {
		rows, err := fetch(ctx, ids)
		out := make([]*dataloader.Result[T], len(ids))
		if err != nil {
			err = fmt.Errorf("loading %s: %w", what, err)
			for i := range out {
				out[i] = &dataloader.Result[T]{Error: err}
			}
			return out
		}
		byKey := make(map[int64]T, len(rows))
		for _, r := range rows {
			byKey[idOf(r)] = r
		}
		for i, id := range ids {
			if r, ok := byKey[id]; ok {
				out[i] = &dataloader.Result[T]{Data: r}
			} else {
				out[i] = &dataloader.Result[T]{Error: fmt.Errorf("%s %d: %w", what, id, ErrNotFound)}
			}
		}
		return out
	}
}

// PerParent returns this request's loader of one list shape: shape names
// the list and every argument that changes its rows (page, order, filter),
// so sibling fields asking the same thing share one batch. fetch reads the
// lists of many parents at once and returns them by parent id; a parent it
// leaves out has an empty list. The first caller's fetch serves the shape
// for the rest of the request.
func PerParent[V any](l *Loaders, shape string, fetch func(ctx context.Context, parents []int64) (map[int64]V, error)) *dataloader.Loader[int64, V] {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ld, ok := l.lists[shape].(*dataloader.Loader[int64, V]); ok {
		return ld
	}
	ld := newLoader(l.opts, listName(shape), func(ctx context.Context, parents []int64) []*dataloader.Result[V] {
		out := make([]*dataloader.Result[V], len(parents))
		got, err := fetch(ctx, parents)
		for i, p := range parents {
			if err != nil {
				out[i] = &dataloader.Result[V]{Error: fmt.Errorf("loading %s: %w", shape, err)}
				continue
			}
			out[i] = &dataloader.Result[V]{Data: got[p]}
		}
		return out
	})
	l.lists[shape] = ld
	return ld
}

// Memo returns the value kept in l under key, made by build the first
// time: what the resolvers of one field work out once for all of its
// parents (its page arguments, its loaders). Two first callers at once may
// both build; the first to finish is kept, so build must not depend on
// being the only one.
func Memo[V any](l *Loaders, key any, build func() V) V {
	l.mu.Lock()
	v, ok := l.memos[key].(V)
	l.mu.Unlock()
	if ok {
		return v
	}
	v = build()
	l.mu.Lock()
	defer l.mu.Unlock()
	if kept, ok := l.memos[key].(V); ok {
		return kept
	}
	if l.memos == nil {
		l.memos = map[any]any{}
	}
	l.memos[key] = v
	return v
}

// Kept returns the value Memo keeps in l under key, if a first caller has
// built it, without building it.
func Kept[V any](l *Loaders, key any) (V, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.memos[key].(V)
	return v, ok
}

type (
	ctxKey    struct{}
	sourceKey struct{}
)

// NewContext returns ctx carrying l.
func NewContext(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the loaders in ctx (or, in a subscription, those of
// the burst of events being delivered), or nil.
func FromContext(ctx context.Context) *Loaders {
	if l, ok := ctx.Value(ctxKey{}).(*Loaders); ok {
		return l
	}
	if src, ok := ctx.Value(sourceKey{}).(Source); ok {
		return src.Loaders()
	}
	return nil
}

// Source gives the loaders of a long-lived operation, asked each time a
// resolver needs them. A subscription is one such operation: loaders living
// as long as it would cache the first event's rows for every later event,
// so its hand-off (subscriptions/delivery) gives each burst of events
// fresh ones.
type Source interface {
	// Loaders returns the current loaders, or nil.
	Loaders() *Loaders
}

// WithSource returns ctx whose loaders come from src (see FromContext).
func WithSource(ctx context.Context, src Source) context.Context {
	return context.WithValue(ctx, sourceKey{}, src)
}
