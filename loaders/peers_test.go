package loaders_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/loaders"
)

// TestPeers: objects added together form a group each of them finds; an
// edge is asked of a group once however many resolvers ask at once.
func TestPeers(t *testing.T) {
	t.Parallel()
	var p loaders.Peers
	issues := []*ent.Issue{{ID: 1}, {ID: 2}, {ID: 3}}
	loaders.AddPeers(&p, issues)
	p.Add(&ent.Comment{ID: 1}, &ent.Comment{ID: 2}, &ent.Label{ID: 9})
	p.Add(&ent.Project{ID: 5}) // alone: no group

	g := p.Of("Issue", 2)
	if assert.NotNil(t, g) {
		assert.Equal(t, issues, g.Issues)
		assert.Equal(t, []int64{1, 2, 3}, g.IDs("Issue"))
		assert.Same(t, g, p.Of("Issue", 3))
	}
	assert.Nil(t, p.Of("Issue", 4))
	assert.Nil(t, p.Of("Comment", 3), "issue 3's id is not a comment's")
	assert.Equal(t, []int64{1, 2}, p.Of("Comment", 1).IDs("Comment"))
	assert.Nil(t, p.Of("Project", 5))
	assert.False(t, p.Of("Project", 5).First("organization"), "no group: nothing to prefetch")

	// Many resolvers of one group ask for the same edge at once: exactly
	// one of them is told to prefetch it, per edge.
	for _, edge := range []string{"assignee", "author"} {
		var firsts atomic.Int32
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				if p.Of("Issue", int64(i%3+1)).First(edge) {
					firsts.Add(1)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int32(1), firsts.Load(), fmt.Sprintf("edge %s", edge))
	}

	// An object added again belongs to its latest group.
	loaders.AddPeers(&p, []*ent.Issue{{ID: 3}, {ID: 7}})
	assert.Equal(t, []int64{3, 7}, p.Of("Issue", 3).IDs("Issue"))
	assert.True(t, p.Of("Issue", 3).First("assignee"), "a new group has fetched nothing yet")
}

// TestNaiveLoadersHaveNoPeers: the benchmark baseline reads each parent's
// rows on its own; prefetching for peers would read them twice, as it
// caches nothing.
func TestNaiveLoadersHaveNoPeers(t *testing.T) {
	t.Parallel()
	l := loaders.New(nil, loaders.Options{Naive: true})
	loaders.AddPeers(&l.Peers, []*ent.Issue{{ID: 1}, {ID: 2}})
	assert.Nil(t, l.Peers.Of("Issue", 1))
}
