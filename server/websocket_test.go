package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// errorsOf decodes the GraphQL errors of an error, next or data message.
func errorsOf(t *testing.T, m servertest.WSMessage) []servertest.Error {
	t.Helper()
	var list []servertest.Error
	if json.Unmarshal(m.Payload, &list) == nil {
		return list
	}
	var resp struct{ Errors []servertest.Error }
	require.NoError(t, json.Unmarshal(m.Payload, &resp), "payload %s", m.Payload)
	return resp.Errors
}

func codesOf(errs []servertest.Error) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Code()
	}
	return out
}

// TestGraphQLTransportWSConformance walks graphql-transport-ws: init, ack,
// ping/pong, subscribe, next, error, complete.
func TestGraphQLTransportWSConformance(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "proto", "PROTO")
	ws := env.DialWS(t, servertest.TransportWS)
	ws.Init(t, f.owner.Token)

	ws.Send(t, map[string]any{"type": "ping", "payload": map[string]any{"n": 1}})
	pong := ws.Next(t, waitLong)
	assert.Equal(t, "pong", pong.Type)

	// A document that does not validate: error, and the id is free again.
	ws.Subscribe(t, "bad", `subscription { projectEvents(projectId: "x") { nope } }`, nil)
	m := ws.Next(t, waitLong)
	assert.Equal(t, "error", m.Type)
	assert.Equal(t, "bad", m.ID)
	assert.Equal(t, []string{"GRAPHQL_VALIDATION_FAILED"}, codesOf(errorsOf(t, m)))

	// A bad argument: next with the error, then complete.
	ws.Subscribe(t, "arg", projectEventsQuery, map[string]any{"p": "not-an-id"})
	m = ws.Next(t, waitLong)
	assert.Equal(t, "next", m.Type)
	assert.Equal(t, []string{"BAD_USER_INPUT"}, codesOf(errorsOf(t, m)))
	assert.Equal(t, "complete", ws.Next(t, waitLong).Type)

	// A cursor this server did not issue.
	ws.Subscribe(t, "cur", projectEventsQuery, map[string]any{"p": f.projectID, "a": "Zm9v"})
	m = ws.Next(t, waitLong)
	assert.Equal(t, []string{"BAD_USER_INPUT"}, codesOf(errorsOf(t, m)))
	assert.Equal(t, "complete", ws.Next(t, waitLong).Type)

	// subscribe, next, then the client completes: nothing more arrives.
	settled(t, env, f.projectID)
	before := env.Server.ActiveSubscriptions()
	ws.Subscribe(t, "live", projectEventsQuery, map[string]any{"p": f.projectID})
	waitSubscribed(t, env, before+1)
	f.createIssue(t, map[string]any{"title": "one"})
	assert.Equal(t, "issue.created", nextEvent(t, ws, "live").Type)
	ws.Complete(t, "live")
	require.Eventually(t, func() bool { return env.Server.ActiveSubscriptions() == before }, waitLong, pollEvery)
	f.createIssue(t, map[string]any{"title": "two"})
	for {
		m, err := ws.TryNext(300 * time.Millisecond)
		if err != nil {
			break
		}
		assert.NotEqual(t, "next", m.Type, "event after complete: %s", m.Payload)
	}

	// The same id can be used again once completed.
	ws.Subscribe(t, "live", projectEventsQuery, map[string]any{"p": f.projectID})
	waitSubscribed(t, env, before+1)
	f.createIssue(t, map[string]any{"title": "three"})
	assert.Equal(t, "three", nextEvent(t, ws, "live").Issue.Title)
	ws.Close()
}

// TestGraphQLTransportWSCloseCodes checks every close code the protocol
// defines for a client's bad behaviour.
func TestGraphQLTransportWSCloseCodes(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *config.Config) { c.WSInitTimeout = time.Second })
	token := env.SignUp(t, "codes@example.com", "Codes")
	dup := newFixture(t, env, "dup", "DUP") // built before dialing: the init timeout runs from the upgrade
	sub := map[string]any{"query": projectEventsQuery, "variables": map[string]any{"p": "UHJvamVjdDox"}}
	cases := []struct {
		name string
		run  func(ws *servertest.WS)
		code int
	}{
		{"invalid JSON", func(ws *servertest.WS) { ws.SendRaw(t, `{"type":`) }, 4400},
		{"not an object", func(ws *servertest.WS) { ws.SendRaw(t, `[1,2]`) }, 4400},
		{"unknown type", func(ws *servertest.WS) { ws.SendRaw(t, `{"type":"hello"}`) }, 4400},
		{"init payload not an object", func(ws *servertest.WS) { ws.SendRaw(t, `{"type":"connection_init","payload":"x"}`) }, 4400},
		{"server message from client", func(ws *servertest.WS) { ws.Init(t, token); ws.SendRaw(t, `{"type":"next","id":"1","payload":{}}`) }, 4400},
		{"subscribe without id", func(ws *servertest.WS) {
			ws.Init(t, token)
			ws.Send(t, map[string]any{"type": "subscribe", "payload": sub})
		}, 4400},
		{"legacy message", func(ws *servertest.WS) {
			ws.Init(t, token)
			ws.Send(t, map[string]any{"type": "start", "id": "1", "payload": sub})
		}, 4400},
		{"subscribe before init", func(ws *servertest.WS) { ws.Send(t, map[string]any{"type": "subscribe", "id": "1", "payload": sub}) }, 4401},
		{"bad token", func(ws *servertest.WS) {
			ws.Send(t, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer not-a-token"}})
		}, 4403},
		{"init timeout", func(ws *servertest.WS) {}, 4408},
		{"duplicate id", func(ws *servertest.WS) {
			ws.Init(t, dup.owner.Token)
			ws.Subscribe(t, "same", projectEventsQuery, map[string]any{"p": dup.projectID})
			ws.Subscribe(t, "same", projectEventsQuery, map[string]any{"p": dup.projectID})
		}, 4409},
		{"second init", func(ws *servertest.WS) { ws.Init(t, token); ws.Send(t, map[string]any{"type": "connection_init"}) }, 4429},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ws := env.DialWS(t, servertest.TransportWS)
			tc.run(ws)
			assert.Equal(t, tc.code, ws.CloseStatus(t, waitLong), "reason %q", ws.CloseReason())
		})
	}
}

// TestGraphQLWSLegacyProtocol speaks the legacy subscriptions-transport-ws
// protocol: init, ack, start, data, stop, complete, terminate.
func TestGraphQLWSLegacyProtocol(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "legacy", "LEG")
	ws := env.DialWS(t, servertest.LegacyWS)
	ws.Init(t, f.owner.Token)
	settled(t, env, f.projectID)
	before := env.Server.ActiveSubscriptions()
	ws.Subscribe(t, "1", projectEventsQuery, map[string]any{"p": f.projectID})
	waitSubscribed(t, env, before+1)
	f.createIssue(t, map[string]any{"title": "legacy"})
	assert.Equal(t, "legacy", nextEvent(t, ws, "1").Issue.Title)

	ws.Subscribe(t, "bad", `subscription { nope }`, nil)
	m := ws.Next(t, waitLong)
	assert.Equal(t, "error", m.Type)
	assert.Equal(t, "bad", m.ID)
	m = ws.Next(t, waitLong)
	assert.Equal(t, "complete", m.Type) // graphql-ws completes after an error
	assert.Equal(t, "bad", m.ID)

	ws.Complete(t, "1")
	m = ws.Next(t, waitLong)
	assert.Equal(t, "complete", m.Type)
	assert.Equal(t, "1", m.ID)

	ws.Send(t, map[string]any{"type": "connection_terminate"})
	assert.Equal(t, 1000, ws.CloseStatus(t, waitLong))

	bad := env.DialWS(t, servertest.LegacyWS)
	bad.Send(t, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer nope"}})
	m = bad.Next(t, waitLong)
	assert.Equal(t, "connection_error", m.Type)
	assert.Equal(t, 4403, bad.CloseStatus(t, waitLong))

	garbage := env.DialWS(t, servertest.LegacyWS)
	garbage.SendRaw(t, `not json`)
	assert.Equal(t, 4400, garbage.CloseStatus(t, waitLong))
}

// TestWebSocketLimits: origin check, subscriptions per connection, message
// size, and keep-alive ending a client that does not answer pings.
func TestWebSocketLimits(t *testing.T) {
	t.Parallel()
	// The keep-alive is short only where a silent client is what is
	// tested: a busy test machine can stall a client's answer longer.
	env := servertest.Start(t, func(c *config.Config) {
		c.WSMaxSubscriptions = 2
		c.BodyLimit = 4096
	})
	f := newFixture(t, env, "limits", "LIM")

	t.Run("foreign origin refused", func(t *testing.T) {
		_, resp, err := env.TryDialWS(servertest.TransportWS, servertest.WithHeader("Origin", "https://evil.example"))
		require.Error(t, err)
		require.NotNil(t, resp)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
	t.Run("allowed origin accepted", func(t *testing.T) {
		ws := env.DialWS(t, servertest.TransportWS, servertest.WithHeader("Origin", "http://localhost:3000"))
		ws.Init(t, f.owner.Token)
	})
	t.Run("subscriptions per connection", func(t *testing.T) {
		settled(t, env, f.projectID)
		ws := env.DialWS(t, servertest.TransportWS)
		ws.Init(t, f.owner.Token)
		ws.Subscribe(t, "a", projectEventsQuery, map[string]any{"p": f.projectID})
		ws.Subscribe(t, "b", projectEventsQuery, map[string]any{"p": f.projectID})
		ws.Subscribe(t, "c", projectEventsQuery, map[string]any{"p": f.projectID})
		m := ws.Next(t, waitLong)
		assert.Equal(t, "error", m.Type)
		assert.Equal(t, "c", m.ID)
		assert.Equal(t, []string{"BAD_USER_INPUT"}, codesOf(errorsOf(t, m)))
		waitSubscribed(t, env, 2)
		ws.Complete(t, "a")
		m = ws.Next(t, waitLong)
		assert.Equal(t, "complete", m.Type)
		assert.Equal(t, "a", m.ID)
		require.Eventually(t, func() bool { return env.Server.ActiveSubscriptions() == 1 }, waitLong, pollEvery)
		ws.Subscribe(t, "c", projectEventsQuery, map[string]any{"p": f.projectID})
		waitSubscribed(t, env, 2)
		f.createIssue(t, map[string]any{"title": "limits"})
		got := map[string]bool{}
		for len(got) < 2 {
			m := ws.Next(t, waitLong)
			if m.Type == "next" {
				got[m.ID] = true
			}
		}
		assert.Equal(t, map[string]bool{"b": true, "c": true}, got)
	})
	t.Run("message too big", func(t *testing.T) {
		ws := env.DialWS(t, servertest.TransportWS)
		ws.Init(t, f.owner.Token)
		big := make([]byte, 8192)
		for i := range big {
			big[i] = 'a'
		}
		ws.Send(t, map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{"query": string(big)}})
		assert.Equal(t, 1009, ws.CloseStatus(t, waitLong))
	})
	t.Run("keep-alive ends a silent client", func(t *testing.T) {
		env := servertest.Start(t, func(c *config.Config) { c.WSKeepAlive = 200 * time.Millisecond })
		ws := env.DialWS(t, servertest.TransportWS)
		ws.Init(t, env.SignUp(t, "silent@example.com", "Silent"))
		ws.NoPong()
		ws.CloseStatus(t, waitLong) // any way the server ends it
	})
}

// TestShutdownClosesWebSocketsWithGoingAway: clients learn to reconnect
// elsewhere.
func TestShutdownClosesWebSocketsWithGoingAway(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "bye", "BYE")
	ws := subscribeProject(t, env, f.owner.Token, f.projectID, nil)
	legacy := env.DialWS(t, servertest.LegacyWS)
	legacy.Init(t, f.owner.Token)
	body, _ := json.Marshal(map[string]any{"query": projectEventsQuery, "variables": map[string]any{"p": f.projectID}})
	req, err := http.NewRequest(http.MethodPost, env.URL+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+f.owner.Token)
	before := env.Server.ActiveSubscriptions()
	sse, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer sse.Body.Close()
	waitSubscribed(t, env, before+1)

	require.NoError(t, env.Stop(), "shutdown does not wait for subscriptions") // an SSE stream held open would time it out
	assert.Equal(t, 1001, ws.CloseStatus(t, waitLong))
	assert.Equal(t, 1001, legacy.CloseStatus(t, waitLong))
}

// TestRevokedMemberStopsReceiving removes a subscriber from the
// organization mid-stream: the next event is not delivered and the
// subscription ends with FORBIDDEN.
func TestRevokedMemberStopsReceiving(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "revoke", "REV")
	memberToken := env.SignUp(t, "member@example.com", "Member")
	addMembership(t, env, f.orgID, "member@example.com", "")
	ws := subscribeProject(t, env, memberToken, f.projectID, nil)
	f.createIssue(t, map[string]any{"title": "visible"})
	assert.Equal(t, "visible", nextEvent(t, ws, "1").Issue.Title)

	_, err := env.DB.SQL.Exec(`DELETE FROM memberships WHERE user_id = (SELECT id FROM users WHERE email = 'member@example.com')`)
	require.NoError(t, err)
	f.createIssue(t, map[string]any{"title": "secret"})
	m := ws.Next(t, waitLong)
	assert.Equal(t, "next", m.Type, "payload %s", m.Payload)
	assert.Equal(t, []string{"FORBIDDEN"}, codesOf(errorsOf(t, m)), "one error, once")
	assert.NotContains(t, string(m.Payload), "secret")
	assert.Contains(t, string(m.Payload), `"cursor"`, "the error names the last cursor delivered")
	m = ws.Next(t, waitLong)
	assert.Equal(t, "complete", m.Type)
	assert.Equal(t, "1", m.ID)

	// Subscribing again is refused at once: the project is no longer
	// visible to a non-member, so it is NOT_FOUND (no existence leak).
	ws.Subscribe(t, "2", projectEventsQuery, map[string]any{"p": f.projectID})
	m = ws.Next(t, waitLong)
	assert.Equal(t, []string{"NOT_FOUND"}, codesOf(errorsOf(t, m)))
}

// TestMessageSentWithTheUpgradeRequestIsRead sends connection_init in the
// same write as the upgrade request, so it sits in the server's buffer
// before the WebSocket takes the connection over: it must still be read.
func TestMessageSentWithTheUpgradeRequestIsRead(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	u, err := url.Parse(env.URL)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(waitLong)))

	// A client frame: final text frame, masked (with a zero mask, so the
	// payload goes as is), payload shorter than 126 bytes.
	init := []byte(`{"type":"connection_init"}`)
	frame := append([]byte{0x81, 0x80 | byte(len(init)), 0, 0, 0, 0}, init...)
	upgrade := "GET /graphql HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
	_, err = conn.Write(append([]byte(upgrade), frame...))
	require.NoError(t, err)

	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	header := make([]byte, 2)
	_, err = io.ReadFull(r, header)
	require.NoError(t, err)
	require.Equal(t, byte(0x81), header[0], "a final text frame")
	payload := make([]byte, header[1]&0x7f)
	_, err = io.ReadFull(r, payload)
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"connection_ack"}`, string(payload))
}

// TestWebSocketAccessLineCoversConnection: the middleware chain returns at
// the upgrade (the connection is served on a goroutine of its own), but a
// WebSocket's access line waits until the connection closes and tells what
// it did: its subscription and the viewer of its connection_init.
func TestWebSocketAccessLineCoversConnection(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "wslog", "WSL")
	before := env.Server.ActiveSubscriptions()
	ws := env.DialWS(t, servertest.TransportWS)
	ws.Init(t, f.owner.Token)
	ws.Subscribe(t, "1", projectEventsQuery, map[string]any{"p": f.projectID})
	require.Eventually(t, func() bool { return env.Server.ActiveSubscriptions() > before }, waitLong, pollEvery)

	upgradeLine := func() map[string]any {
		for _, line := range env.Logs.Lines() {
			if line["msg"] == "request" && line["status"] == float64(http.StatusSwitchingProtocols) {
				return line
			}
		}
		return nil
	}
	assert.Nil(t, upgradeLine(), "no access line while the connection is open")
	ws.Close()
	require.Eventually(t, func() bool { return upgradeLine() != nil }, waitLong, pollEvery, "the access line once it closed")
	line := upgradeLine()
	assert.Equal(t, "subscription", line["operation_type"])
	assert.Contains(t, line, "viewer_id", "the viewer connection_init authenticated")
	assert.Equal(t, "/graphql", line["path"])
}
