package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

	// A WebSocket's handler returns once the connection is taken over
	// (server/realtime); its access line waits for the connection to end.
	detached bool   // the connection outlives the handler
	finished bool   // the connection ended
	pending  func() // the access line, written by finish
}

// holdRequest is how the real-time side (realtime.Options.Hold) keeps a
// WebSocket's access line until the connection ends.
func holdRequest(ctx context.Context) (release func()) {
	ri := infoFrom(ctx)
	ri.detach()
	return ri.finish
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
// handler has returned.
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
