package server_test

import (
	"encoding/json"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/servertest"
)

// membershipOf returns the ID of the caller's membership of slug.
func membershipOf(t *testing.T, c *servertest.Client, slug string) string {
	t.Helper()
	var out struct {
		Viewer struct {
			Memberships struct {
				Edges []struct {
					Node struct {
						ID           string
						Organization struct{ Slug string }
					}
				}
			}
		}
	}
	c.Do(t, `{ viewer{ memberships{ edges{ node{ id organization{ slug } } } } } }`, nil).MustOK(t).Decode(t, &out)
	for _, e := range out.Viewer.Memberships.Edges {
		if e.Node.Organization.Slug == slug {
			return e.Node.ID
		}
	}
	t.Fatalf("no membership of %s", slug)
	return ""
}

// TestLastOwnerIsKept: an organization never loses its last OWNER, not by
// leaving, demotion or removal, and not when two owners leave at once.
func TestLastOwnerIsKept(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "solo", "SOL")
	own := membershipOf(t, f.owner, "solo")

	for _, m := range []struct{ field, input, id string }{
		{"leaveOrganization", `leaveOrganization(input:{organizationId:$id})`, f.orgID},
		{"changeMemberRole", `changeMemberRole(input:{membershipId:$id, role:ADMIN})`, own},
		{"removeMember", `removeMember(input:{membershipId:$id})`, own},
	} {
		resp := f.owner.Do(t, `mutation($id:ID!){ `+m.input+`{ userErrors{ field code } } }`, map[string]any{"id": m.id}).MustNoErrors(t)
		var data map[string]struct{ UserErrors []struct{ Code string } }
		require.NoError(t, json.Unmarshal(resp.Data, &data))
		require.Len(t, data[m.field].UserErrors, 1, m.field)
		assert.Equal(t, "NOT_ALLOWED", data[m.field].UserErrors[0].Code, m.field)
	}
	assert.JSONEq(t, `{"organization":{"viewerRole":"OWNER","members":{"totalCount":1}}}`,
		string(f.owner.Do(t, `{ organization(slug:"solo"){ viewerRole members{ totalCount } } }`, nil).MustOK(t).Data))

	// Two owners leave at the same time: one may, the other is refused.
	second := env.As(env.SignUp(t, "second@example.com", "Second"))
	addMembership(t, env, f.orgID, "second@example.com", "OWNER")
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes []string
	)
	for _, c := range []*servertest.Client{f.owner, second} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out struct {
				LeaveOrganization struct{ UserErrors []struct{ Code string } }
			}
			c.Do(t, `mutation($o:ID!){ leaveOrganization(input:{organizationId:$o}){ userErrors{ code } } }`, map[string]any{"o": f.orgID}).MustNoErrors(t).Decode(t, &out)
			code := "OK"
			if len(out.LeaveOrganization.UserErrors) > 0 {
				code = out.LeaveOrganization.UserErrors[0].Code
			}
			mu.Lock()
			codes = append(codes, code)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Strings(codes)
	assert.Equal(t, []string{"NOT_ALLOWED", "OK"}, codes)
	var owners int
	require.NoError(t, env.DB.SQL.QueryRow(`SELECT count(*) FROM memberships m JOIN organizations o ON o.id = m.organization_id WHERE o.slug = 'solo' AND m.role = 'OWNER'`).Scan(&owners))
	assert.Equal(t, 1, owners)
}

// TestAnonymousSeesNothing: without a token every read of the matrix
// returns nothing but nulls, and every write is UNAUTHENTICATED.
func TestAnonymousSeesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	anon := actor{role: "anonymous", client: w.env.Client(), userID: w.userID(t, "boss@example.com")}
	for _, rc := range readCases() {
		var vars map[string]any
		if rc.vars != nil {
			vars = rc.vars(w)
		}
		resp := anon.client.Do(t, rc.query, vars).MustOK(t)
		var data any
		require.NoError(t, json.Unmarshal(resp.Data, &data))
		assert.True(t, onlyNulls(data), "%s revealed %s", rc.name, resp.Data)
	}
	for _, wc := range writeCases() {
		in := wc.input(t, w, anon)
		resp := anon.client.Do(t, `mutation($in:`+wc.inputType+`!){ `+wc.field+`(input:$in){ userErrors{ code } } }`, map[string]any{"in": in})
		require.Len(t, resp.Errors, 1, wc.name)
		assert.Equal(t, "UNAUTHENTICATED", resp.Errors[0].Code(), wc.name)
	}
}

// onlyNulls reports whether v holds no value besides nulls (objects and
// lists of nulls included).
func onlyNulls(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		for _, e := range x {
			if !onlyNulls(e) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range x {
			if !onlyNulls(e) {
				return false
			}
		}
		return true
	}
	return false
}
