package wstransport

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// TestKeepAliveSkipsBusyConnectionsWithoutDroppingThem: a connection
// busy writing when the keep-alive comes by gets no ping, so it is not
// dropped at the next round for a pong it could not send; a connection
// that leaves a ping unanswered is.
func TestKeepAliveSkipsBusyConnectionsWithoutDroppingThem(t *testing.T) {
	t.Parallel()
	tr := New(Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tr.Do(w, r, nil) }))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{Subprotocols: []string{TransportWS}})
	require.NoError(t, err)
	defer client.CloseNow()
	require.NoError(t, client.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_init"}`)))
	_, ack, err := client.Read(ctx)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"connection_ack"}`, string(ack))
	conns := tr.snapshot()
	require.Len(t, conns, 1)
	c := conns[0]

	c.wmu.Lock() // a write in progress
	c.keepAlive(time.Second)
	c.wmu.Unlock()

	c.keepAlive(time.Second)
	_, ping, err := client.Read(ctx)
	require.NoError(t, err, "a connection skipped while busy is pinged, not dropped")
	require.JSONEq(t, `{"type":"ping"}`, string(ping))
	require.NoError(t, client.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`)))
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.pinged
	}, 5*time.Second, time.Millisecond, "the pong is taken")

	c.keepAlive(time.Second)
	_, ping, err = client.Read(ctx)
	require.NoError(t, err, "a connection that answered is pinged again")
	require.JSONEq(t, `{"type":"ping"}`, string(ping))

	c.keepAlive(time.Second) // the last ping is unanswered
	_, _, err = client.Read(ctx)
	require.Error(t, err, "a connection that did not answer is dropped")
}
