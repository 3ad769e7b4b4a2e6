package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// IdempotencyKey is the stored answer to an HTTP request sent with an
// Idempotency-Key header (server/idempotency.go). It is written in the
// same transaction as the request's effects, so a retry finds either both
// or neither, and is answered byte for byte from here.
type IdempotencyKey struct{ ent.Schema }

// Fields of the IdempotencyKey.
func (IdempotencyKey) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		// viewer scopes a key to who sent it ("user:12", "apikey:3"), so
		// one client's key never answers another's request.
		field.String("viewer").MaxLen(64).NotEmpty().Immutable(),
		field.String("key").MaxLen(255).NotEmpty().Immutable(),
		// fingerprint is the hex SHA-256 of the request: the same key
		// with another request is refused with 422.
		field.String("fingerprint").MaxLen(64).NotEmpty().Immutable(),
		field.Int("status").Immutable(),
		field.String("content_type").MaxLen(100).Immutable(),
		field.Bytes("body").Immutable(),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

// Indexes of the IdempotencyKey.
func (IdempotencyKey) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("viewer", "key").Unique(),
		// The retention sweep deletes by age.
		index.Fields("created_at"),
	}
}

// Policy of the IdempotencyKey: only the server (as the system) reads or
// writes stored answers.
func (IdempotencyKey) Policy() ent.Policy { return policy(nil, nil) }
