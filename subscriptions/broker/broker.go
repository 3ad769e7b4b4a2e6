package broker

import (
	"context"
	"errors"
	"log/slog"
)

// DefaultBufferSize is the number of messages buffered per subscriber when
// Options.BufferSize is zero.
const DefaultBufferSize = 64

// ErrSlowConsumer ends a subscription whose buffer was full when a message
// arrived; the subscriber missed that message and everything after it.
var ErrSlowConsumer = errors.New("broker: slow consumer: subscription buffer overflowed")

// ErrBrokerClosed ends subscriptions when the broker closes, and is returned by
// calls made after Close.
var ErrBrokerClosed = errors.New("broker: closed")

// Message is one event delivered on a stream. Every local subscriber of
// the stream gets the same *Message: its Payload must not be modified.
type Message struct {
	Stream  string
	Payload []byte
}

// Broker publishes messages to streams and subscribes to them.
type Broker interface {
	// Publish sends payload to every subscriber of stream, on every instance
	// sharing the broker's backend.
	Publish(ctx context.Context, stream string, payload []byte) error
	// Subscribe starts receiving the messages published to stream from now on.
	// The subscription ends when ctx is done, when it is closed, or when the
	// broker closes.
	Subscribe(ctx context.Context, stream string) (*Subscription, error)
	// Close ends every subscription with ErrBrokerClosed and releases the
	// broker's resources.
	Close() error
}

// Options configures a broker; the zero value is usable.
type Options struct {
	// BufferSize is the number of messages buffered per subscriber before it is
	// ended with ErrSlowConsumer; zero means DefaultBufferSize.
	BufferSize int
	// Prefix is prepended to stream names to form Redis channel names, so that
	// several deployments (or test runs) can share one Redis. Memory ignores it.
	Prefix string
	// Logger receives connection and slow-consumer reports; nil means
	// slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Subscription is one local subscriber of a stream.
type Subscription struct {
	hub    *hub
	stream string
	ch     chan *Message // pointers: a slot costs 8 bytes, not a Message

	// Guarded by hub.mu.
	done bool
	err  error
	stop func() bool // unregisters the context.AfterFunc that ends the subscription
}

// C returns the channel on which messages arrive in publish order. It is
// closed when the subscription ends; Err then tells why.
func (s *Subscription) C() <-chan *Message { return s.ch }

// Err returns why the subscription ended: nil when it was closed or its
// context was done (or it is still running), ErrSlowConsumer or
// ErrBrokerClosed otherwise.
func (s *Subscription) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}

// Close ends the subscription; it is safe to call more than once and
// concurrently with message delivery.
func (s *Subscription) Close() { s.hub.end(s, nil) }
