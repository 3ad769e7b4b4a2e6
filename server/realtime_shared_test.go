package server_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/servertest"
)

// sharedEventsQuery has a part that depends on the viewer (the actor's
// memberships: each viewer sees those in its own organizations) and a
// part that depends on a variable.
const sharedEventsQuery = `subscription($p:ID!,$k:Boolean!){ projectEvents(projectId:$p){
	cursor actor{ memberships(first:10){ totalCount } } issue{ title key @include(if:$k) } } }`

type sharedEvent struct {
	Actor struct{ Memberships struct{ TotalCount int } }
	Issue struct {
		Title string
		Key   *string
	}
}

// TestEventResponsesAreSharedOnlyByOneViewersSameOperation subscribes a
// viewer three times (twice with the same variables) and another member
// once, with the same document: each subscription gets the event as it
// resolves for its own viewer and variables, whether or not the viewer's
// other subscriptions shared their resolution.
func TestEventResponsesAreSharedOnlyByOneViewersSameOperation(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "sharedresp", "SHR")
	// The owner belongs to a second organization, which the member does
	// not see.
	f.owner.Do(t, `mutation{ createOrganization(input:{slug:"sharedresp-other",name:"Other"}){ userErrors{message} } }`, nil).MustOK(t)
	member := env.As(env.SignUp(t, "sharedresp-member@example.com", "Member of sharedresp"))
	addMembership(t, env, f.orgID, "sharedresp-member@example.com", "")
	settled(t, env, f.projectID)

	subs := []struct {
		name        string
		token       string
		withKey     bool
		memberships int
	}{
		{"owner, first tab", f.owner.Token, true, 2},
		{"owner, second tab", f.owner.Token, true, 2},
		{"owner, other variables", f.owner.Token, false, 2},
		{"member", member.Token, true, 1},
	}
	before := env.Server.ActiveSubscriptions()
	conns := make([]*servertest.WS, len(subs))
	for i, s := range subs {
		conns[i] = env.DialWS(t, servertest.TransportWS)
		conns[i].Init(t, s.token)
		conns[i].Subscribe(t, "1", sharedEventsQuery, map[string]any{"p": f.projectID, "k": s.withKey})
	}
	waitSubscribed(t, env, before+len(subs))

	for _, title := range []string{"first", "second"} {
		f.createIssue(t, map[string]any{"title": title})
		for i, s := range subs {
			m := conns[i].Next(t, waitLong)
			require.Equal(t, "next", m.Type, "%s: %s", s.name, m.Payload)
			var p struct {
				Data   struct{ ProjectEvents sharedEvent }
				Errors []servertest.Error
			}
			require.NoError(t, json.Unmarshal(m.Payload, &p))
			require.Empty(t, p.Errors, "%s: %s", s.name, m.Payload)
			ev := p.Data.ProjectEvents
			assert.Equal(t, title, ev.Issue.Title, s.name)
			assert.Equal(t, s.withKey, ev.Issue.Key != nil, "%s: key selected", s.name)
			assert.Equal(t, s.memberships, ev.Actor.Memberships.TotalCount, "%s: the actor's memberships it sees", s.name)
		}
	}
}
