package server_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/servertest"
	"github.com/issuegraph/issuegraph/subscriptions"
)

// nestedEventsQuery selects an edge of every kind below each event's
// objects: by id (assignee, author, comment author), lists with counts
// (labels) and the project behind an issue's key.
const nestedEventsQuery = `subscription($p:ID!,$a:String){ projectEvents(projectId:$p, after:$a){
	cursor type actor{ name }
	issue{ key title assignee{ name } author{ name } labels(first:5){ totalCount edges{ node{ name } } } }
	subject{ id ... on Comment{ body author{ name } issue{ title } } } } }`

// nestedEvent is one response of nestedEventsQuery and the statements its
// connection has run so far.
type nestedEvent struct {
	Type  string
	Issue *struct {
		Key, Title string
		Assignee   *struct{ Name string }
		Labels     struct{ TotalCount int }
	}
	Subject *struct {
		Author *struct{ Name string }
	}
	statements int
}

func nextNested(t *testing.T, ws *servertest.WS, id string) nestedEvent {
	t.Helper()
	m := ws.Next(t, waitLong)
	require.Equal(t, "next", m.Type, "payload %s", m.Payload)
	require.Equal(t, id, m.ID)
	var p struct {
		Data       struct{ ProjectEvents nestedEvent }
		Errors     []servertest.Error
		Extensions struct{ DBStatements int }
	}
	require.NoError(t, json.Unmarshal(m.Payload, &p))
	require.Empty(t, p.Errors, "payload %s", m.Payload)
	ev := p.Data.ProjectEvents
	ev.statements = p.Extensions.DBStatements
	return ev
}

// TestReplayedEventsCostStatementsIndependentOfCount replays a burst of 3
// and a burst of 30 events with nested fields, each on a connection of its
// own: their nested fields load through one set of loaders per burst, so
// both cost the same number of statements.
func TestReplayedEventsCostStatementsIndependentOfCount(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, patientLoaders)
	f := newFixture(t, env, "burst", "BST")
	var label struct {
		CreateLabel struct{ Label struct{ ID string } }
	}
	f.owner.Do(t, `mutation($o:ID!){ createLabel(input:{organizationId:$o, name:"bug"}){ label{ id } } }`,
		map[string]any{"o": f.orgID}).MustOK(t).Decode(t, &label)
	for i := range 25 {
		created := f.createIssue(t, map[string]any{"title": fmt.Sprintf("issue %d", i), "assigneeId": f.ownerID,
			"labelIds": []string{label.CreateLabel.Label.ID}})
		if i%5 == 4 { // the last three events include a comment, like the rest
			f.owner.Do(t, `mutation($i:ID!){ addComment(input:{issueId:$i, body:"seen"}){ userErrors{message} } }`,
				map[string]any{"i": created["id"]}).MustOK(t)
		}
	}
	settled(t, env, f.projectID)
	all := positions(t, env, f.projectID, 0)
	require.Greater(t, len(all), 30)

	replay := func(after int64) (events []nestedEvent) {
		ws := env.DialWS(t, servertest.TransportWS)
		ws.Init(t, f.owner.Token)
		ws.Subscribe(t, "1", nestedEventsQuery, map[string]any{"p": f.projectID, "a": subscriptions.Cursor(after)})
		for range positions(t, env, f.projectID, after) {
			events = append(events, nextNested(t, ws, "1"))
		}
		return events
	}
	few := replay(all[len(all)-4])
	many := replay(all[0])
	require.Len(t, few, 3)
	require.Len(t, many, len(all)-1)
	for _, ev := range many {
		if ev.Issue != nil {
			require.NotNil(t, ev.Issue.Assignee, "%s of %s", ev.Type, ev.Issue.Key)
			assert.Equal(t, "Owner of burst", ev.Issue.Assignee.Name)
			assert.Equal(t, 1, ev.Issue.Labels.TotalCount)
		}
		if ev.Type == "comment.added" {
			require.NotNil(t, ev.Subject.Author)
			assert.Equal(t, "Owner of burst", ev.Subject.Author.Name)
		}
	}
	last := func(evs []nestedEvent) int { return evs[len(evs)-1].statements }
	assert.Positive(t, last(few))
	assert.Equal(t, last(few), last(many), "statements for %d events and for %d", len(few), len(many))
}

// TestEventsShowRowsAsTheyAreWhenDelivered changes a row that an earlier
// event showed: the next event shows the new value, not a cached one.
func TestEventsShowRowsAsTheyAreWhenDelivered(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "fresh", "FRS")
	settled(t, env, f.projectID)
	before := env.Server.ActiveSubscriptions()
	ws := env.DialWS(t, servertest.TransportWS)
	ws.Init(t, f.owner.Token)
	ws.Subscribe(t, "1", nestedEventsQuery, map[string]any{"p": f.projectID})
	waitSubscribed(t, env, before+1)

	created := f.createIssue(t, map[string]any{"title": "first", "assigneeId": f.ownerID})
	ev := nextNested(t, ws, "1")
	require.NotNil(t, ev.Issue.Assignee)
	assert.Equal(t, "Owner of fresh", ev.Issue.Assignee.Name)

	_, err := env.DB.SQL.Exec(`UPDATE users SET name = 'Renamed owner' WHERE id = $1`, dbID(t, f.ownerID, "User"))
	require.NoError(t, err)
	f.owner.Do(t, `mutation($i:ID!){ updateIssue(input:{id:$i, title:"second"}){ userErrors{message} } }`,
		map[string]any{"i": created["id"]}).MustOK(t)
	ev = nextNested(t, ws, "1")
	assert.Equal(t, "second", ev.Issue.Title)
	require.NotNil(t, ev.Issue.Assignee)
	assert.Equal(t, "Renamed owner", ev.Issue.Assignee.Name, "the assignee as it is when the event is delivered")
}

// TestEventObjectsLoadOncePerOrganization subscribes two members of one
// organization on one instance: an event's issue is loaded once for both
// (what members see of it does not depend on who they are), and each
// still gets it.
func TestEventObjectsLoadOncePerOrganization(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "sharedload", "SHL")
	member := env.As(env.SignUp(t, "sharedload-member@example.com", "Member of sharedload"))
	addMembership(t, env, f.orgID, "sharedload-member@example.com", "")
	settled(t, env, f.projectID)
	before := env.Server.ActiveSubscriptions()
	const query = `subscription($p:ID!){ projectEvents(projectId:$p){ cursor type issue{ title } } }`
	var conns []*servertest.WS
	for _, token := range []string{f.owner.Token, member.Token} {
		ws := env.DialWS(t, servertest.TransportWS)
		ws.Init(t, token)
		ws.Subscribe(t, "1", query, map[string]any{"p": f.projectID})
		conns = append(conns, ws)
	}
	waitSubscribed(t, env, before+2)

	statements := make([]int, len(conns))
	for i, title := range []string{"first", "second", "third"} {
		f.createIssue(t, map[string]any{"title": title})
		loads := 0
		for j, ws := range conns {
			ev := nextNested(t, ws, "1")
			require.NotNil(t, ev.Issue, "viewer %d, event %d", j, i)
			assert.Equal(t, title, ev.Issue.Title)
			loads += ev.statements - statements[j]
			statements[j] = ev.statements
		}
		if i > 0 { // the first counts the subscriptions' start too
			assert.Equal(t, 1, loads, "statements for event %d over both viewers", i)
		}
	}
}

// TestProjectAndIssueReplaysBetweenTheSamePositionsStayApart replays, for
// one viewer at once, a project's events and one issue's between the same
// first and last positions (the issue's are a subset): each subscription
// gets its own stream's events, none loaded for the other.
func TestProjectAndIssueReplaysBetweenTheSamePositionsStayApart(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "apart", "APT")
	a := f.createIssue(t, map[string]any{"title": "A"})
	settled(t, env, f.projectID)
	start := positions(t, env, f.projectID, 0)
	after := start[len(start)-1] // issue A's creation: a cursor of both streams
	updateA := func(title string) {
		f.owner.Do(t, `mutation($i:ID!,$t:String!){ updateIssue(input:{id:$i, title:$t}){ userErrors{message} } }`,
			map[string]any{"i": a["id"], "t": title}).MustOK(t)
	}
	updateA("A1")
	f.createIssue(t, map[string]any{"title": "B"})
	updateA("A2")
	settled(t, env, f.projectID)
	require.Len(t, positions(t, env, f.projectID, after), 3)

	ws := env.DialWS(t, servertest.TransportWS)
	ws.Init(t, f.owner.Token)
	ws.Subscribe(t, "p", `subscription($p:ID!,$a:String){ projectEvents(projectId:$p, after:$a){ cursor type issue{ title } } }`,
		map[string]any{"p": f.projectID, "a": subscriptions.Cursor(after)})
	ws.Subscribe(t, "i", `subscription($i:ID!,$a:String){ issueEvents(issueId:$i, after:$a){ cursor type issue{ title } } }`,
		map[string]any{"i": a["id"], "a": subscriptions.Cursor(after)})
	updateA("A3") // live, after both replays: the end of both sequences

	titles := map[string][]string{}
	for len(titles["p"]) < 4 || len(titles["i"]) < 3 {
		m := ws.Next(t, waitLong)
		require.Equal(t, "next", m.Type, "payload %s", m.Payload)
		var p struct {
			Data struct {
				ProjectEvents, IssueEvents *struct{ Issue struct{ Title string } }
			}
			Errors []servertest.Error
		}
		require.NoError(t, json.Unmarshal(m.Payload, &p))
		require.Empty(t, p.Errors, "payload %s", m.Payload)
		ev := p.Data.ProjectEvents
		if m.ID == "i" {
			ev = p.Data.IssueEvents
		}
		require.NotNil(t, ev, "payload %s", m.Payload)
		// Which issue: its title as it is when delivered (A2 or A3).
		titles[m.ID] = append(titles[m.ID], ev.Issue.Title[:1])
	}
	assert.Equal(t, []string{"A", "B", "A", "A"}, titles["p"], "the project's events")
	assert.Equal(t, []string{"A", "A", "A"}, titles["i"], "issue A's events")
}
