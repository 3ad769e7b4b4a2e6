package wstransport

import (
	"encoding/json"
	"sync"

	"github.com/99designs/gqlgen/graphql"
)

// messages are the buffers responses are encoded into: one message per
// buffer, given back once written. A subscription's events are written one
// after another to thousands of connections, and encoding each in a
// buffer of its own was a third of the transport's allocations.
type messages struct{ pool sync.Pool }

// maxKeptMessage bounds the buffers kept for reuse: an occasional large
// response must not stay pinned in the pool.
const maxKeptMessage = 64 << 10

func (m *messages) get() *[]byte {
	if b, ok := m.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 1024)
	return &b
}

func (m *messages) put(b *[]byte) {
	if cap(*b) > maxKeptMessage {
		return
	}
	*b = (*b)[:0]
	m.pool.Put(b)
}

// appendResponse appends the message {"type":typ,"id":id,"payload":resp}
// to b; id is the operation's id already encoded as JSON. It writes the
// response's parts as they are, in the order json.Marshal gives them,
// instead of marshalling the whole response: its data is gqlgen's output,
// valid JSON already, which json.Marshal would scan again to compact and
// copy. A response with incremental-delivery fields (@defer) is
// marshalled whole.
func appendResponse(b []byte, idJSON []byte, typ string, resp *graphql.Response) ([]byte, error) {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","id":`...)
	b = append(b, idJSON...)
	b = append(b, `,"payload":`...)
	if resp.Label != "" || resp.Path != nil || resp.HasNext != nil {
		p, err := json.Marshal(resp)
		if err != nil {
			return b, err
		}
		b = append(b, p...)
		return append(b, '}'), nil
	}
	b = append(b, '{')
	if len(resp.Errors) > 0 {
		p, err := json.Marshal(resp.Errors)
		if err != nil {
			return b, err
		}
		b = append(b, `"errors":`...)
		b = append(b, p...)
		b = append(b, ',')
	}
	b = append(b, `"data":`...)
	if len(resp.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, resp.Data...)
	}
	if len(resp.Extensions) > 0 {
		p, err := json.Marshal(resp.Extensions)
		if err != nil {
			return b, err
		}
		b = append(b, `,"extensions":`...)
		b = append(b, p...)
	}
	return append(b, "}}"...), nil
}
