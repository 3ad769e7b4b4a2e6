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
