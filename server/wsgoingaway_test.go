package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/redistest"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// TestEventErrorHasNullDataAndAPathThatExists: an error that ends a
// subscription (here the subscriber left the organization) arrives as a
// response whose data is null, as the spec wants when a non-null root
// field fails, with the failed field's path from the subscription's field, over
// both subprotocols.
func TestEventErrorHasNullDataAndAPathThatExists(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "shape", "SHP")
	env.SignUp(t, "shape-member@example.com", "Member")
	memberToken := env.SignUp(t, "shape-member2@example.com", "Member")
	addMembership(t, env, f.orgID, "shape-member2@example.com", "")
	current := subscribeProject(t, env, memberToken, f.projectID, nil)
	before := env.Server.ActiveSubscriptions()
	legacy := env.DialWS(t, servertest.LegacyWS)
	legacy.Init(t, memberToken)
	legacy.Subscribe(t, "1", projectEventsQuery, map[string]any{"p": f.projectID})
	waitSubscribed(t, env, before+1)

	_, err := env.DB.SQL.Exec(`DELETE FROM memberships WHERE user_id = (SELECT id FROM users WHERE email = 'shape-member2@example.com')`)
	require.NoError(t, err)
	f.createIssue(t, map[string]any{"title": "hidden"})
	for _, ws := range []*servertest.WS{current, legacy} {
		m := ws.Next(t, waitLong)
		require.Contains(t, []string{"next", "data"}, m.Type, "payload %s", m.Payload)
		var p struct {
			Data   json.RawMessage
			Errors []servertest.Error
		}
		require.NoError(t, json.Unmarshal(m.Payload, &p))
		assert.Equal(t, "null", string(p.Data), "%s: data of a failed non-null root field", ws.Protocol)
		require.Len(t, p.Errors, 1)
		// The field that failed, under the subscription's field: what
		// graphql-js reports for a non-null field of a non-null root.
		assert.Equal(t, []any{"projectEvents", "cursor"}, p.Errors[0].Path, ws.Protocol)
		assert.Equal(t, "FORBIDDEN", p.Errors[0].Code())
		assert.Equal(t, "complete", ws.Next(t, waitLong).Type, "FORBIDDEN is final: the subscription completes")
	}
}

// TestShutdownNeverCompletesASubscription: on shutdown a subscriber gets
// close 1001 and nothing before it about its subscription: no complete,
// no error, over both subprotocols.
func TestShutdownNeverCompletesASubscription(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "away", "AWAY")
	var subs []*servertest.WS
	for _, proto := range []string{servertest.TransportWS, servertest.LegacyWS, servertest.TransportWS} {
		settled(t, env, f.projectID)
		before := env.Server.ActiveSubscriptions()
		ws := env.DialWS(t, proto)
		ws.Init(t, f.owner.Token)
		ws.Subscribe(t, "1", projectEventsQuery, map[string]any{"p": f.projectID})
		ws.Subscribe(t, "2", `subscription($p:ID!){ projectEvents(projectId:$p){ cursor } }`, map[string]any{"p": f.projectID})
		waitSubscribed(t, env, before+2)
		subs = append(subs, ws)
	}
	f.createIssue(t, map[string]any{"title": "last before going away"})
	require.NoError(t, env.Stop())
	for _, ws := range subs {
		for {
			m, err := ws.TryNext(waitLong)
			if err != nil {
				break
			}
			assert.Contains(t, []string{"next", "data"}, m.Type, "%s: only events before the close: %s %s", ws.Protocol, m.Type, m.Payload)
		}
		assert.Equal(t, 1001, ws.CloseStatus(t, waitLong), ws.Protocol)
	}
}

// TestUnavailableSubscriptionClosesWith1013: a subscription the server
// cannot serve now (its Redis is down when the stream's first subscriber
// comes) is not completed: the connection closes with 1013 (try again
// later), which graphql-ws and subscriptions-transport-ws clients reconnect
// after, resubscribing with their cursors.
func TestUnavailableSubscriptionClosesWith1013(t *testing.T) {
	t.Parallel()
	rs := redistest.StartServer(t)
	env := servertest.Start(t, servertest.WithRedis(rs.URL()), servertest.WithRedisPrefix("unavailable:"))
	f := newFixture(t, env, "later", "LATER")
	held := subscribeProject(t, env, f.owner.Token, f.projectID, nil) // the broker is connected
	other := f.owner.Do(t, `mutation($o:ID!){ createProject(input:{organizationId:$o,key:"OTHER",name:"Other"}){ project{id} } }`,
		map[string]any{"o": f.orgID}).MustOK(t)
	var proj struct {
		CreateProject struct{ Project struct{ ID string } }
	}
	other.Decode(t, &proj)
	rs.Stop()

	ws := env.DialWS(t, servertest.TransportWS)
	ws.Init(t, f.owner.Token)
	ws.Subscribe(t, "1", projectEventsQuery, map[string]any{"p": proj.CreateProject.Project.ID})
	for {
		m, err := ws.TryNext(waitLong)
		if err != nil {
			break
		}
		t.Errorf("nothing but the close, got %s %s", m.Type, m.Payload)
	}
	assert.Equal(t, 1013, ws.CloseStatus(t, waitLong))
	_ = held
}

// TestShutdownEndsSSEWithoutComplete: on shutdown an SSE subscription's
// stream just ends, with neither an error event nor `event: complete`, so
// the client reconnects and resumes rather than taking the subscription
// as over.
func TestShutdownEndsSSEWithoutComplete(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "ssebye", "SSEBYE")
	body, _ := json.Marshal(map[string]any{"query": projectEventsQuery, "variables": map[string]any{"p": f.projectID}})
	req, err := http.NewRequest(http.MethodPost, env.URL+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+f.owner.Token)
	settled(t, env, f.projectID)
	before := env.Server.ActiveSubscriptions()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	waitSubscribed(t, env, before+1)
	f.createIssue(t, map[string]any{"title": "seen"})
	r := bufio.NewReader(resp.Body)
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err, "the stream ended before the event")
		if strings.Contains(line, `"title":"seen"`) {
			break
		}
	}
	done := env.StopAsync()
	rest, _ := io.ReadAll(r) // ends when the server ends the stream
	require.NoError(t, <-done)
	stream := string(rest)
	assert.NotContains(t, stream, "event: complete")
	assert.NotContains(t, stream, `"errors"`)
}
