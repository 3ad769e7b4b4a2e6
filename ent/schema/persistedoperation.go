package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// PersistedOperation is a trusted document: an operation a client registered
// ahead of time (imported from its manifest with `issuegraph persisted
// import`). It lives in PostgreSQL so every instance trusts the same list; in
// enforce mode only these documents run.
type PersistedOperation struct{ ent.Schema }

// Fields of the PersistedOperation.
func (PersistedOperation) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		// hash is the lowercase hex SHA-256 of document, what clients send.
		field.String("hash").MaxLen(64).NotEmpty().Immutable(),
		field.Text("document").NotEmpty().Immutable(),
		// client_name is the app that registered it (e.g. "ios"), so a
		// client's operations can be listed or retired together.
		field.String("client_name").MaxLen(100).NotEmpty().Immutable(),
		field.String("operation_name").Optional().Immutable(),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

// Indexes of the PersistedOperation.
func (PersistedOperation) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("hash", "client_name").Unique(),
		index.Fields("hash"),
	}
}
