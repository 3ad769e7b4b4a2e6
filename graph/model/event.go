package model

import (
	"time"

	"github.com/issuegraph/issuegraph/ent"
)

// Event is one event delivered to a subscription. Its objects are loaded
// when the event is delivered, with the subscriber's viewer, so a deleted or
// hidden object reads as null.
type Event struct {
	Cursor     string
	Type       string
	Actor      *ent.User
	OccurredAt time.Time
	Subject    Node
	Issue      *ent.Issue
}
