package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"regexp"
	"sync"
)

// requestInfo is filled in while a request is served and read by the
// access log when it is done.
type requestInfo struct {
	mu            sync.Mutex // errorCodes may be appended from concurrent resolvers
	id            string
	operationName string
	operationType string
	errorCodes    []string // distinct, in order of first appearance
	errors        int      // errors in the response, all codes
	stopLogged    bool     // the request's deadline or cancellation was logged
	viewerID      int64
	apiKeyID      int64
	clientAddr    string // where the request came from (withClientAddress)

	// A WebSocket's handler returns once the connection is hijacked
	// (statusRecorder.Hijack); its access line waits for the connection
	// to close.
	detached bool   // the connection outlives the handler
	finished bool   // the connection closed
	pending  func() // the access line, written by finish
}

// setViewer records the user a WebSocket authenticated as in its
// connection_init (realtime.Options.Authenticated) for the access line.
func setViewer(ctx context.Context, userID int64) { infoFrom(ctx).viewerID = userID }

// detach tells the access log the request goes on after its handler
// returns: end keeps the line until finish.
func (ri *requestInfo) detach() {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	ri.detached = true
}

// end writes the access line now, or keeps it for finish when the request
// was detached and has not finished yet.
func (ri *requestInfo) end(line func()) {
	ri.mu.Lock()
	if ri.detached && !ri.finished {
		ri.pending = line
		ri.mu.Unlock()
		return
	}
	ri.mu.Unlock()
	line()
}

// finish marks a detached request done and writes its access line if its
// handler has returned; once only.
func (ri *requestInfo) finish() {
	ri.mu.Lock()
	ri.finished = true
	line := ri.pending
	ri.pending = nil
	ri.mu.Unlock()
	if line != nil {
		line()
	}
}

// statusRecorder remembers the status and size of a response for the
// access log.
type statusRecorder struct {
	http.ResponseWriter
	ri     *requestInfo
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// Flush sends buffered data to the client; the SSE transport needs it.
func (s *statusRecorder) Flush() { _ = http.NewResponseController(s.ResponseWriter).Flush() }

// Unwrap lets http.ResponseController reach the underlying writer
// (flushing needs it).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Hijack takes the connection over for a WebSocket. The handler returns
// at once (server/realtime serves the connection on a goroutine of its
// own), so the access line waits for the connection to close: it then
// covers the whole connection and what it did.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	s.ri.detach()
	return &lineOnClose{Conn: conn, ri: s.ri}, brw, nil
}

// lineOnClose is a hijacked connection that writes its request's access
// line when it closes.
type lineOnClose struct {
	net.Conn
	ri *requestInfo
}

func (c *lineOnClose) Close() error {
	err := c.Conn.Close()
	c.ri.finish()
	return err
}

type requestInfoKey struct{}

func withRequestInfo(ctx context.Context, ri *requestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

// infoFrom returns the request's info; a throwaway one outside a request
// (tests calling the schema directly) so callers need no nil checks.
func infoFrom(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// RequestID returns the id of the request ctx belongs to ("" outside one).
func RequestID(ctx context.Context) string { return infoFrom(ctx).id }

// clientRequestID accepts a caller's X-Request-Id only when it is short and
// plain, so it cannot inject anything into logs.
var clientRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return hex.EncodeToString(b)
}
