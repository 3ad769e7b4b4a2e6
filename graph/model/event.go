package model

import (
	"sync"
	"time"

	"github.com/issuegraph/issuegraph/ent/ent"
)

// Event is one event delivered to a subscription. Its objects are loaded
// when the event is delivered, with the subscriber's viewer, so a deleted or
// hidden object reads as null.
//
// An Event made by EndEvent is the last one of a subscription that ends
// with an error: the first of its fields to be resolved returns the error,
// so the client receives it in a normal response, over every transport,
// before the stream completes.
type Event struct {
	cursor     string
	typ        string
	actor      *ent.User
	occurredAt time.Time
	subject    Node
	issue      *ent.Issue

	end     error
	endOnce sync.Once

	// responses are this event resolved for the subscriptions that share
	// it (ShareResponse).
	mu        sync.Mutex
	responses []sharedResponse
}

// sharedResponse is an event resolved for the operations of one key.
type sharedResponse struct {
	key  any
	data []byte
}

// NewEvent returns a delivered event.
func NewEvent(cursor, typ string, actor *ent.User, occurredAt time.Time, subject Node, issue *ent.Issue) *Event {
	return &Event{cursor: cursor, typ: typ, actor: actor, occurredAt: occurredAt, subject: subject, issue: issue}
}

// EndEvent returns the event that reports err and ends a subscription.
func EndEvent(err error) *Event {
	// occurredAt is set because a zero Time marshals as null, an error of
	// its own next to err.
	return &Event{end: err, occurredAt: time.Now()}
}

// ended returns the end error once, so the response carries it once.
func (e *Event) ended() (err error) {
	e.endOnce.Do(func() { err = e.end })
	return err
}

// Cursor is the event's cursor.
func (e *Event) Cursor() (string, error) { return e.cursor, e.ended() }

// Type is what happened.
func (e *Event) Type() (string, error) { return e.typ, e.ended() }

// Actor is who did it.
func (e *Event) Actor() (*ent.User, error) { return e.actor, e.ended() }

// OccurredAt is when it happened.
func (e *Event) OccurredAt() (time.Time, error) { return e.occurredAt, e.ended() }

// Subject is the changed object as it is now.
func (e *Event) Subject() (Node, error) { return e.subject, e.ended() }

// Issue is the issue the event is about, as it is now.
func (e *Event) Issue() (*ent.Issue, error) { return e.issue, e.ended() }

// SharedResponse returns the event as resolved for key (ShareResponse), if
// it was.
//
// One Event object is delivered to every subscription of one viewer that
// selects the same kinds of object (subscriptions/delivery shares a
// viewer's loads), so a viewer's tabs and devices subscribed with the same
// operation resolve each event to the same bytes: the first resolves it,
// the others reuse that. key must name everything the response depends on
// besides the event (the viewer, the operation, its variables).
func (e *Event) SharedResponse(key any) ([]byte, bool) {
	if e.end != nil {
		return nil, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.responses {
		if r.key == key {
			return r.data, true
		}
	}
	return nil, false
}

// ShareResponse keeps data, the event resolved for key, and returns the
// data kept for key: data, or what another subscription kept first. The
// event that ends a subscription is never shared.
func (e *Event) ShareResponse(key any, data []byte) []byte {
	if e.end != nil {
		return data
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.responses {
		if r.key == key {
			return r.data
		}
	}
	e.responses = append(e.responses, sharedResponse{key: key, data: data})
	return data
}
