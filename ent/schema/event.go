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
		// position is the event's place in the one total order real-time
		// delivery uses. Mutations leave it empty; the relay (one at a time
		// cluster-wide) assigns 1, 2, 3, ... to committed events in the order
		// it sees them commit, because ids come from a sequence and commit
		// out of id order under concurrency.
		field.Int64("position").Optional().Nillable().Unique(),
		// published is set by the relay once the event has been sent to the
		// broker, so a relay that takes over knows where to resume.
		field.Bool("published").Default(false),
		// traceparent and tracestate are the W3C trace context of the
		// mutation that recorded the event (empty when it had none), so the
		// span of each delivery can link back to the trace of the change.
		field.String("traceparent").Optional().Immutable(),
		field.String("tracestate").Optional().Immutable(),
	}
}

// Indexes of the Event: the streams real-time clients read.
func (Event) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("project_id", "id"),
		index.Fields("issue_id", "id"),
		index.Fields("organization_id", "id"),
		// The streams in delivery order, for replay after a cursor.
		index.Fields("project_id", "position"),
		index.Fields("issue_id", "position"),
		// The relay's queue of positioned events not yet published. (Its
		// other queue, position IS NULL, is served by position's unique
		// index, which holds NULLs too.)
		index.Fields("published", "position"),
	}
}
