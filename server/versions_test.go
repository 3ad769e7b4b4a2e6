package server_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/servertest"
)

const readIssue = `query($id:ID!){ node(id:$id){ ... on Issue { body version } } }`

const updateIssueVersioned = `mutation($in:UpdateIssueInput!){ updateIssue(input:$in){
	issue{ body version } userErrors{ field code currentVersion } } }`

// TestVersionConflict: an update sent with a stale expectedVersion
// changes nothing and answers CONFLICT with the current version; one with
// the current version applies and moves the version on.
func TestVersionConflict(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	c, project := idemProject(t, env)
	created := mutate(t, c, "createIssue", "CreateIssueInput", map[string]any{"projectId": project, "title": "Versioned"}, "issue{ id version }")
	id := str(created, "issue", "id")
	assert.EqualValues(t, 1, dig(created, "issue", "version"))

	ok := do(t, c, updateIssueVersioned, map[string]any{"in": map[string]any{"id": id, "body": "first", "expectedVersion": 1}})
	assert.EqualValues(t, 2, dig(ok, "updateIssue", "issue", "version"))

	var stale map[string]any // answers a CONFLICT userError
	c.Do(t, updateIssueVersioned, map[string]any{"in": map[string]any{"id": id, "body": "stale", "expectedVersion": 1}}).MustNoErrors(t).Decode(t, &stale)
	assert.Nil(t, dig(stale, "updateIssue", "issue"))
	errs, _ := dig(stale, "updateIssue", "userErrors").([]any)
	require.Len(t, errs, 1)
	assert.Equal(t, "CONFLICT", str(errs[0], "code"))
	assert.EqualValues(t, 2, dig(errs[0], "currentVersion"))
	now := do(t, c, readIssue, map[string]any{"id": id})
	assert.Equal(t, "first", str(now, "node", "body"), "nothing changed")
	assert.EqualValues(t, 2, dig(now, "node", "version"))

	// Without expectedVersion the update applies, as before.
	do(t, c, updateIssueVersioned, map[string]any{"in": map[string]any{"id": id, "body": "blind"}})

	// Objects whose row is not locked first check by a conditional update.
	var p map[string]any // answers a CONFLICT userError
	c.Do(t, `mutation($in:UpdateProjectInput!){ updateProject(input:$in){ project{ version } userErrors{ code currentVersion } } }`,
		map[string]any{"in": map[string]any{"id": project, "name": "Renamed", "expectedVersion": 7}}).MustNoErrors(t).Decode(t, &p)
	perrs, _ := dig(p, "updateProject", "userErrors").([]any)
	require.Len(t, perrs, 1)
	assert.Equal(t, "CONFLICT", str(perrs[0], "code"))
	assert.EqualValues(t, 1, dig(perrs[0], "currentVersion"))
}

// TestVersionNoLostUpdate: 50 clients at once each read an issue, append
// their mark to its body and write it back with expectedVersion, reading
// again after a CONFLICT. Every mark ends up in the body and the version
// counts every write: no update is lost.
func TestVersionNoLostUpdate(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	c, project := idemProject(t, env)
	id := str(mutate(t, c, "createIssue", "CreateIssueInput", map[string]any{"projectId": project, "title": "Contended"}, "issue{ id }"), "issue", "id")

	const clients = 50
	var wg sync.WaitGroup
	conflicts := make([]int, clients)
	for n := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var read struct {
					Node struct {
						Body    string
						Version int
					}
				}
				c.Do(t, readIssue, map[string]any{"id": id}).MustOK(t).Decode(t, &read)
				var out struct {
					UpdateIssue struct {
						UserErrors []struct{ Code string }
					}
				}
				c.Do(t, updateIssueVersioned, map[string]any{"in": map[string]any{
					"id": id, "body": read.Node.Body + fmt.Sprintf("[%d]", n), "expectedVersion": read.Node.Version,
				}}).MustNoErrors(t).Decode(t, &out)
				if len(out.UpdateIssue.UserErrors) == 0 {
					return
				}
				if out.UpdateIssue.UserErrors[0].Code != "CONFLICT" {
					t.Errorf("client %d: %v", n, out.UpdateIssue.UserErrors)
					return
				}
				conflicts[n]++
			}
		}()
	}
	wg.Wait()
	final := do(t, c, readIssue, map[string]any{"id": id})
	body := str(final, "node", "body")
	for n := range clients {
		assert.Equal(t, 1, strings.Count(body, fmt.Sprintf("[%d]", n)), "client %d's update is there once", n)
	}
	assert.EqualValues(t, clients+1, dig(final, "node", "version"))
	total := 0
	for _, k := range conflicts {
		total += k
	}
	t.Logf("%d conflicts retried", total)
}
