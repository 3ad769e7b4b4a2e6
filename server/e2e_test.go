package server_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/servertest"
)

// page is the shape of an issue connection in responses.
type page struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	Edges []struct {
		Cursor string
		Node   struct {
			ID, Key, Title, Status string
			Number                 int
		}
	}
}

func (p page) numbers() []int {
	out := make([]int, len(p.Edges))
	for i, e := range p.Edges {
		out[i] = e.Node.Number
	}
	return out
}

// fixture is an organization with a project, built through the API.
type fixture struct {
	env              *servertest.Env
	owner            *servertest.Client
	orgID, projectID string
	ownerID          string
}

func newFixture(t testing.TB, env *servertest.Env, slug, key string) fixture {
	t.Helper()
	owner := env.As(env.SignUp(t, slug+"-owner@example.com", "Owner of "+slug))
	var org struct {
		CreateOrganization struct{ Organization struct{ ID string } }
	}
	owner.Do(t, `mutation($s:String!){ createOrganization(input:{slug:$s,name:"Org"}){ organization{id} userErrors{message} } }`,
		map[string]any{"s": slug}).MustOK(t).Decode(t, &org)
	var proj struct {
		CreateProject struct{ Project struct{ ID string } }
	}
	owner.Do(t, `mutation($o:ID!,$k:String!){ createProject(input:{organizationId:$o,key:$k,name:"Project"}){ project{id} userErrors{message} } }`,
		map[string]any{"o": org.CreateOrganization.Organization.ID, "k": key}).MustOK(t).Decode(t, &proj)
	var me struct{ Viewer struct{ ID string } }
	owner.Do(t, `{ viewer { id } }`, nil).MustOK(t).Decode(t, &me)
	return fixture{env: env, owner: owner, orgID: org.CreateOrganization.Organization.ID, projectID: proj.CreateProject.Project.ID, ownerID: me.Viewer.ID}
}

func (f fixture) createIssue(t testing.TB, input map[string]any) map[string]any {
	t.Helper()
	input["projectId"] = f.projectID
	var out struct {
		CreateIssue struct {
			Issue      map[string]any
			UserErrors []map[string]any
		}
	}
	f.owner.Do(t, `mutation($in:CreateIssueInput!){ createIssue(input:$in){ issue{ id key number title status } userErrors{ field message code } } }`,
		map[string]any{"in": input}).MustOK(t).Decode(t, &out)
	require.Empty(t, out.CreateIssue.UserErrors)
	return out.CreateIssue.Issue
}

func TestEndToEndIssueTracking(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "acme", "ENG")

	// Labels.
	labelIDs := map[string]string{}
	for _, name := range []string{"bug", "ui"} {
		var out struct {
			CreateLabel struct {
				Label struct{ ID, Name, Color string }
			}
		}
		f.owner.Do(t, `mutation($o:ID!,$n:String!){ createLabel(input:{organizationId:$o,name:$n,color:"#ff0000"}){ label{id name color} userErrors{message} } }`,
			map[string]any{"o": f.orgID, "n": name}).MustOK(t).Decode(t, &out)
		require.Equal(t, "#ff0000", out.CreateLabel.Label.Color)
		labelIDs[name] = out.CreateLabel.Label.ID
	}

	// 25 issues; every third labelled bug and assigned to the owner.
	var firstIssueID string
	for i := 1; i <= 25; i++ {
		in := map[string]any{"title": fmt.Sprintf("Issue number %d", i), "priority": "HIGH"}
		if i%3 == 0 {
			in["labelIds"] = []string{labelIDs["bug"]}
			in["assigneeId"] = f.ownerID
		}
		is := f.createIssue(t, in)
		assert.Equal(t, fmt.Sprintf("ENG-%d", i), is["key"])
		if i == 1 {
			firstIssueID = is["id"].(string)
		}
	}

	// A comment, which also touches the issue.
	var c struct {
		AddComment struct {
			Comment struct {
				Body   string
				Author struct{ Name string }
				Issue  struct{ Key string }
			}
		}
	}
	f.owner.Do(t, `mutation($i:ID!){ addComment(input:{issueId:$i,body:"  Looks good  "}){ comment{ body author{name} issue{key} } userErrors{message} } }`,
		map[string]any{"i": firstIssueID}).MustOK(t).Decode(t, &c)
	assert.Equal(t, "Looks good", c.AddComment.Comment.Body)
	assert.Equal(t, "ENG-1", c.AddComment.Comment.Issue.Key)

	// Paginate forward by number in pages of 10, then backward.
	const listQ = `query($first:Int,$after:String,$last:Int,$before:String,$filter:IssueFilter){
		project(organization:"acme", key:"ENG"){ issues(first:$first,after:$after,last:$last,before:$before,filter:$filter,orderBy:{field:NUMBER,direction:ASC}){
			totalCount pageInfo{hasNextPage hasPreviousPage startCursor endCursor} edges{cursor node{id key number title status}} } } }`
	list := func(vars map[string]any) page {
		var out struct{ Project struct{ Issues page } }
		f.owner.Do(t, listQ, vars).MustOK(t).Decode(t, &out)
		return out.Project.Issues
	}
	var seen []int
	var after any
	for pageNo := 0; ; pageNo++ {
		p := list(map[string]any{"first": 10, "after": after})
		assert.Equal(t, 25, p.TotalCount)
		seen = append(seen, p.numbers()...)
		assert.Equal(t, pageNo > 0, p.PageInfo.HasPreviousPage)
		if !p.PageInfo.HasNextPage {
			break
		}
		after = *p.PageInfo.EndCursor
	}
	want := make([]int, 25)
	for i := range want {
		want[i] = i + 1
	}
	assert.Equal(t, want, seen, "forward pagination returns every issue once, in order")

	var back []int
	var before any
	for {
		p := list(map[string]any{"last": 10, "before": before})
		back = append(p.numbers(), back...)
		if !p.PageInfo.HasPreviousPage {
			break
		}
		before = *p.PageInfo.StartCursor
	}
	assert.Equal(t, want, back, "backward pagination returns every issue once, in order")

	// Two aliases asking for the same backward page share one load; each
	// still gets its page in order.
	var twice struct{ Project struct{ A, B page } }
	f.owner.Do(t, `{ project(organization:"acme", key:"ENG"){
		a: issues(last:3, orderBy:{field:NUMBER,direction:ASC}){ edges{ node{ number } } }
		b: issues(last:3, orderBy:{field:NUMBER,direction:ASC}){ edges{ node{ number } } } } }`, nil).MustOK(t).Decode(t, &twice)
	assert.Equal(t, []int{23, 24, 25}, twice.Project.A.numbers())
	assert.Equal(t, []int{23, 24, 25}, twice.Project.B.numbers())

	// Between two cursors.
	p := list(map[string]any{"first": 100})
	mid := list(map[string]any{"first": 100, "after": p.Edges[4].Cursor, "before": p.Edges[9].Cursor})
	assert.Equal(t, []int{6, 7, 8, 9}, mid.numbers())

	// Filters: label, assignee, status, title text; combined.
	byLabel := list(map[string]any{"first": 100, "filter": map[string]any{"labelIds": []string{labelIDs["bug"]}}})
	assert.Equal(t, []int{3, 6, 9, 12, 15, 18, 21, 24}, byLabel.numbers())
	assert.Equal(t, 8, byLabel.TotalCount)
	byAssignee := list(map[string]any{"first": 100, "filter": map[string]any{"assigneeId": f.ownerID}})
	assert.Equal(t, byLabel.numbers(), byAssignee.numbers())
	unassigned := list(map[string]any{"first": 1, "filter": map[string]any{"unassigned": true}})
	assert.Equal(t, 17, unassigned.TotalCount)
	byTitle := list(map[string]any{"first": 100, "filter": map[string]any{"titleContains": "NUMBER 2"}})
	assert.Equal(t, []int{2, 20, 21, 22, 23, 24, 25}, byTitle.numbers())
	combined := list(map[string]any{"first": 100, "filter": map[string]any{"titleContains": "number 2", "labelIds": []string{labelIDs["bug"]}}})
	assert.Equal(t, []int{21, 24}, combined.numbers())

	// Close one; filter by status.
	var closed struct {
		CloseIssue struct {
			Issue struct {
				Status   string
				ClosedAt *string
			}
		}
	}
	f.owner.Do(t, `mutation($i:ID!){ closeIssue(input:{issueId:$i, reason:NOT_PLANNED}){ issue{status closedAt} userErrors{message} } }`,
		map[string]any{"i": firstIssueID}).MustOK(t).Decode(t, &closed)
	assert.Equal(t, "CANCELED", closed.CloseIssue.Issue.Status)
	assert.NotNil(t, closed.CloseIssue.Issue.ClosedAt)
	assert.Equal(t, []int{1}, list(map[string]any{"first": 100, "filter": map[string]any{"status": []string{"CANCELED", "DONE"}}}).numbers())

	// Reopen, assign to the owner and away again, label changes.
	var reopened struct {
		ReopenIssue struct {
			Issue struct {
				Status   string
				ClosedAt *string
			}
		}
	}
	f.owner.Do(t, `mutation($i:ID!){ reopenIssue(input:{issueId:$i}){ issue{status closedAt} userErrors{message} } }`,
		map[string]any{"i": firstIssueID}).MustOK(t).Decode(t, &reopened)
	assert.Equal(t, "TODO", reopened.ReopenIssue.Issue.Status)
	assert.Nil(t, reopened.ReopenIssue.Issue.ClosedAt, "a reopened issue is not closed")
	assert.Equal(t, []int{}, list(map[string]any{"first": 100, "filter": map[string]any{"status": []string{"CANCELED", "DONE"}}}).numbers())

	assign := func(assignee any) *string {
		t.Helper()
		var out struct {
			AssignIssue struct {
				Issue struct{ Assignee *struct{ ID string } }
			}
		}
		f.owner.Do(t, `mutation($i:ID!,$a:ID){ assignIssue(input:{issueId:$i,assigneeId:$a}){ issue{ assignee{ id } } userErrors{message} } }`,
			map[string]any{"i": firstIssueID, "a": assignee}).MustOK(t).Decode(t, &out)
		if out.AssignIssue.Issue.Assignee == nil {
			return nil
		}
		return &out.AssignIssue.Issue.Assignee.ID
	}
	if got := assign(f.ownerID); assert.NotNil(t, got) {
		assert.Equal(t, f.ownerID, *got)
	}
	assert.Contains(t, list(map[string]any{"first": 100, "filter": map[string]any{"assigneeId": f.ownerID}}).numbers(), 1)
	assert.Nil(t, assign(nil), "assigned away again")
	assert.NotContains(t, list(map[string]any{"first": 100, "filter": map[string]any{"assigneeId": f.ownerID}}).numbers(), 1)
	var labelled struct {
		AddLabelsToIssue struct {
			Issue struct {
				Labels struct {
					TotalCount int
					Edges      []struct{ Node struct{ Name string } }
				}
			}
		}
	}
	f.owner.Do(t, `mutation($i:ID!,$l:[ID!]!){ addLabelsToIssue(input:{issueId:$i,labelIds:$l}){ issue{ labels{ totalCount edges{node{name}} } } userErrors{message} } }`,
		map[string]any{"i": firstIssueID, "l": []string{labelIDs["ui"], labelIDs["bug"], labelIDs["bug"]}}).MustOK(t).Decode(t, &labelled)
	assert.Equal(t, 2, labelled.AddLabelsToIssue.Issue.Labels.TotalCount)
	assert.Equal(t, "bug", labelled.AddLabelsToIssue.Issue.Labels.Edges[0].Node.Name)

	// node(id) round trip for each type, and issue(key).
	var viaNode struct {
		Node struct {
			Typename string `json:"__typename"`
			ID, Key  string
			Comments struct{ TotalCount int }
		}
		Issue struct{ ID string }
	}
	f.owner.Do(t, `query($id:ID!){ node(id:$id){ __typename id ... on Issue { key comments { totalCount } } } issue(key:"ENG-1"){ id } }`,
		map[string]any{"id": firstIssueID}).MustOK(t).Decode(t, &viaNode)
	assert.Equal(t, "Issue", viaNode.Node.Typename)
	assert.Equal(t, firstIssueID, viaNode.Node.ID)
	assert.Equal(t, "ENG-1", viaNode.Node.Key)
	assert.Equal(t, 1, viaNode.Node.Comments.TotalCount)
	assert.Equal(t, firstIssueID, viaNode.Issue.ID)

	var many struct{ Nodes []map[string]any }
	f.owner.Do(t, `query($ids:[ID!]!){ nodes(ids:$ids){ __typename id } }`,
		map[string]any{"ids": []string{f.orgID, f.projectID, labelIDs["bug"], f.ownerID}}).MustOK(t).Decode(t, &many)
	require.Len(t, many.Nodes, 4)
	for i, typ := range []string{"Organization", "Project", "Label", "User"} {
		assert.Equal(t, typ, many.Nodes[i]["__typename"])
	}

	// Every mutation wrote its event in the same transaction.
	var events int
	require.NoError(t, env.DB.SQL.QueryRow(`SELECT count(*) FROM events`).Scan(&events))
	// sign-up, org, project, 2 labels, 25 issues, comment, close, reopen,
	// assign, unassign, label
	assert.Equal(t, 1+1+1+2+25+1+1+1+2+1, events)
}
