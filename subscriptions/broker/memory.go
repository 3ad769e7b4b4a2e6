package broker

import (
	"bytes"
	"context"
	"fmt"
)

// Memory is an in-process Broker for a single instance running without Redis.
type Memory struct {
	hub *hub
}

var _ Broker = (*Memory)(nil)

// NewMemory returns an in-process broker.
func NewMemory(opts Options) *Memory {
	return &Memory{hub: newHub(opts.withDefaults(), nil)}
}

// Publish delivers payload to the current subscribers of stream before it
// returns. The payload is copied once, so the caller may reuse it.
func (m *Memory) Publish(ctx context.Context, stream string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("broker: publish %q: %w", stream, err)
	}
	if m.hub.isClosed() {
		return ErrBrokerClosed
	}
	m.hub.publish(&Message{Stream: stream, Payload: bytes.Clone(payload)})
	return nil
}

// Subscribe starts receiving the messages published to stream from now on.
func (m *Memory) Subscribe(ctx context.Context, stream string) (*Subscription, error) {
	return m.hub.subscribe(ctx, stream)
}

// Close ends every subscription with ErrBrokerClosed. Calling it again does
// nothing.
func (m *Memory) Close() error {
	m.hub.close()
	return nil
}
