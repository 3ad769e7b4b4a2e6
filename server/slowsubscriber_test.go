package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// TestSlowSubscriberEndedWithItsCursor subscribes over a WebSocket whose
// client stops reading, with a tiny receive buffer, and lets a burst of
// events fill the connection: the server ends the subscription with
// UNAVAILABLE and the cursor of the last event it delivered, and a new
// subscription after that cursor gets every remaining event, none twice.
func TestSlowSubscriberEndedWithItsCursor(t *testing.T) {
	t.Parallel()
	// The send timeout also bounds how long the end event waits for the
	// transport once the subscription has ended (Active drops just
	// before): the client below resumes reading within that window.
	env := servertest.Start(t, func(c *config.Config) {
		c.SubscriptionSendTimeout = 10 * time.Second
	})
	f := newFixture(t, env, "slow", "SLOW")
	issue := f.createIssue(t, map[string]any{"title": "Busy"})
	settled(t, env, f.projectID)

	// A client that reads only when told to, on a socket that buffers
	// little, so the server's writes block soon.
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		_ = c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024) })
		return err
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(env.URL, "http")+"/graphql", &websocket.DialOptions{
		Subprotocols: []string{servertest.TransportWS},
		HTTPClient:   &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}},
	})
	require.NoError(t, err)
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	send := func(v any) {
		t.Helper()
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		require.NoError(t, conn.Write(ctx, websocket.MessageText, raw))
	}
	type message struct {
		ID, Type string
		Payload  json.RawMessage
	}
	next := func() (message, error) {
		t.Helper()
		_, raw, err := conn.Read(ctx)
		if err != nil {
			return message{}, err
		}
		var m message
		require.NoError(t, json.Unmarshal(raw, &m))
		return m, nil
	}
	read := func() message {
		t.Helper()
		m, err := next()
		require.NoError(t, err)
		return m
	}
	send(map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer " + f.owner.Token}})
	require.Equal(t, "connection_ack", read().Type)
	send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": projectEventsQuery, "variables": map[string]any{"p": f.projectID}}})
	waitSubscribed(t, env, 1)

	// The burst, written as the mutations' outbox rows would be.
	const burst = 20000
	issueID, projectID := dbID(t, issue["id"].(string), "Issue"), dbID(t, f.projectID, "Project")
	orgID, ownerID := dbID(t, f.orgID, "Organization"), dbID(t, f.ownerID, "User")
	_, err = env.DB.SQL.Exec(`INSERT INTO events (type, organization_id, project_id, issue_id, actor_id, subject_id, created_at, published)
		SELECT 'issue.updated', $1, $2, $3, $4, $3, now(), false FROM generate_series(1, $5)`, orgID, projectID, issueID, ownerID, burst)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return env.Server.ActiveSubscriptions() == 0 }, 2*time.Minute, pollEvery,
		"the subscriber that stopped reading is ended")

	// Reading again: the events that were on their way, then the end.
	var got []gotEvent
	var end []servertest.Error
	var closed error
	for end == nil && closed == nil {
		m, err := next()
		if err != nil {
			// The WebSocket transport ends a subscription the client should
			// retry by closing the connection (1013; or, when the client
			// read nothing during the close handshake, by dropping it),
			// never with complete: the client resumes from its last event.
			closed = err
			break
		}
		switch m.Type {
		case "next":
			var p struct {
				Data   map[string]*gotEvent
				Errors []servertest.Error
			}
			require.NoError(t, json.Unmarshal(m.Payload, &p))
			if len(p.Errors) > 0 {
				end = p.Errors
				continue
			}
			got = append(got, *p.Data["projectEvents"])
		case "complete":
			t.Fatalf("completed without an error after %d events", len(got))
		}
	}
	require.NotEmpty(t, got, "some events were delivered before the end")
	require.Less(t, len(got), burst, "the subscriber was ended before the burst was through")
	last := got[len(got)-1].Cursor
	if closed != nil {
		status := websocket.CloseStatus(closed)
		assert.True(t, status == 1013 || errors.Is(closed, io.ErrUnexpectedEOF) || errors.Is(closed, io.EOF) || strings.Contains(closed.Error(), "EOF"),
			"the connection ends with 1013 or is dropped, not %v", closed)
	} else {
		require.Len(t, end, 1, "%+v", end)
		assert.Equal(t, "UNAVAILABLE", end[0].Code())
		assert.Equal(t, last, end[0].Extensions["cursor"], "the end carries the last delivered cursor")
		assert.Contains(t, end[0].Message, last)
	}

	// Resuming after that cursor delivers exactly the rest: on a second
	// instance of the deployment whose send timeout leaves room for the
	// whole catch-up on a loaded machine (batches of the log share one).
	patient := servertest.Start(t, servertest.WithDatabase(env.Config.DatabaseURL), func(c *config.Config) {
		c.SubscriptionSendTimeout = 5 * time.Minute
	})
	ws := subscribeProject(t, patient, f.owner.Token, f.projectID, &last)
	rest := collect(t, ws, "1", burst-len(got))
	seen := map[string]bool{}
	for _, e := range append(got, rest...) {
		assert.False(t, seen[e.Cursor], "event %s twice", e.Cursor)
		seen[e.Cursor] = true
	}
	assert.Len(t, seen, burst)
}
