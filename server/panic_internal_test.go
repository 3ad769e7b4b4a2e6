package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockedBuffer is a log destination safe for the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestHandlerPanicAnswers500WithRequestID panics in a handler under the
// server's request middleware, over HTTP: the client gets a 500 with a
// GraphQL-shaped INTERNAL_SERVER_ERROR naming the request id (also in
// X-Request-Id), no panic text, and the log has the panic under that id.
// No route of the real server panics on purpose, so the handler below
// stands in for a bug.
func TestHandlerPanicAnswers500WithRequestID(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	h := chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret detail of a bug")
	}), requestContext(log, time.Minute), securityHeaders)
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/graphql", "application/json", bytes.NewReader([]byte(`{"query":"{viewer{id}}"}`)))
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	id := resp.Header.Get("X-Request-Id")
	require.NotEmpty(t, id)
	var body struct {
		Errors []struct {
			Message    string
			Extensions map[string]any
		}
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Len(t, body.Errors, 1)
	assert.Equal(t, "INTERNAL_SERVER_ERROR", body.Errors[0].Extensions["code"])
	assert.Equal(t, id, body.Errors[0].Extensions["requestId"])
	assert.Contains(t, body.Errors[0].Message, id)
	assert.NotContains(t, body.Errors[0].Message, "secret detail")

	var logged bool
	for _, line := range bytes.Split([]byte(logs.String()), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && m["msg"] == "panic in handler" {
			logged = assert.Equal(t, id, m["request_id"]) && assert.Equal(t, "secret detail of a bug", m["panic"])
		}
	}
	assert.True(t, logged, "the panic is logged with the request id:\n%s", logs.String())
}
