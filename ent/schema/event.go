package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Event is the durable activity log. Every mutation writes its events in the
// same transaction as the change it describes, so the log never disagrees
// with the data (it is also the outbox that real-time delivery reads).
type Event struct{ ent.Schema }

// Fields of the Event.
func (Event) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		field.String("type").MaxLen(64).NotEmpty().Immutable(),
		// organization_id is empty only for account events (sign-up).
		field.Int64("organization_id").Optional().Nillable().Immutable(),
		field.Int64("project_id").Optional().Nillable().Immutable(),
		field.Int64("issue_id").Optional().Nillable().Immutable(),
		field.Int64("actor_id").Optional().Nillable().Immutable(),
		// subject_id is the changed object (issue, comment, label, ...).
		field.Int64("subject_id").Immutable(),
		field.JSON("payload", map[string]any{}).Optional().Immutable(),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

// Indexes of the Event: the streams real-time clients read.
func (Event) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("project_id", "id"),
		index.Fields("issue_id", "id"),
		index.Fields("organization_id", "id"),
	}
}
