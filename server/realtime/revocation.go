package realtime

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/server/auth"
	"github.com/issuegraph/issuegraph/server/realtime/wstransport"
)

// Session revocation (docs/reliability.md) ends what is already open when
// a credential is revoked: a WebSocket of a revoked credential is closed
// with 4403, an SSE stream gets one UNAUTHENTICATED error and ends. (HTTP
// requests are refused by the token check in server.)

// revocationReason is the close reason of a WebSocket whose credential
// was revoked.
const revocationReason = "Forbidden: session revoked"

// CloseRevoked ends the open WebSockets and SSE streams of the revoked
// keys.
func (rt *Realtime) CloseRevoked(keys []string) {
	revoked := make(map[string]bool, len(keys))
	for _, k := range keys {
		revoked[k] = true
	}
	if rt.ws != nil {
		rt.ws.CloseIf(func(ctx context.Context) bool {
			return revoked[auth.ViewerKey(viewer.FromContext(ctx))]
		}, wstransport.CloseForbidden, revocationReason)
	}
	rt.streams.revoke(revoked)
}

// streamWatch holds the cancel functions of the open SSE streams by the
// key of their credential.
type streamWatch struct {
	mu      sync.Mutex
	next    int
	streams map[string]map[int]func()
}

// watch calls revoked when key is revoked, until stop is called.
func (w *streamWatch) watch(key string, revoked func()) (stop func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.streams == nil {
		w.streams = map[string]map[int]func(){}
	}
	id := w.next
	w.next++
	if w.streams[key] == nil {
		w.streams[key] = map[int]func(){}
	}
	w.streams[key][id] = revoked
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.streams[key], id)
		if len(w.streams[key]) == 0 {
			delete(w.streams, key)
		}
	}
}

func (w *streamWatch) revoke(keys map[string]bool) {
	var fns []func()
	w.mu.Lock()
	for k := range keys {
		for _, fn := range w.streams[k] {
			fns = append(fns, fn)
		}
	}
	w.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// revokedResponse is the last event of an SSE stream whose credential was
// revoked.
func revokedResponse() *graphql.Response {
	return &graphql.Response{Errors: gqlerror.List{{
		Message:    "the session was revoked; sign in again",
		Extensions: map[string]any{"code": string(graph.CodeUnauthenticated)},
	}}}
}
