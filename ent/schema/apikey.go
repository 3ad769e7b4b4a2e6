package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// APIKey is a service account: an organization-scoped credential with a
// role, for programs rather than people. Only a SHA-256 hash of the secret
// is stored; the secret is shown once, when the key is created.
type APIKey struct{ ent.Schema }

// Fields of the APIKey.
func (APIKey) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		field.Int64("organization_id").Immutable(),
		field.String("name").MaxLen(100).NotEmpty(),
		// prefix is the start of the secret, kept so people can tell their
		// keys apart without the secret.
		field.String("prefix").MaxLen(16).Immutable(),
		field.String("key_hash").Unique().Immutable().Sensitive(),
		// A key acts with at most ADMIN: managing admins and the
		// organization stays with people.
		field.Enum("role").Values("ADMIN", "MEMBER", "VIEWER"),
		field.Int64("created_by_id").Optional().Nillable().Immutable(),
		field.Time("expires_at").Optional().Nillable().Immutable(),
		field.Time("revoked_at").Optional().Nillable(),
		field.Time("last_used_at").Optional().Nillable(),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

// Edges of the APIKey.
func (APIKey) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).Ref("api_keys").Field("organization_id").Unique().Required().Immutable(),
		edge.From("created_by", User.Type).Ref("api_keys").Field("created_by_id").Unique().Immutable(),
	}
}

// Indexes of the APIKey.
func (APIKey) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "created_at"),
		// Every instance reads the keys revoked lately once a second
		// (server/auth/revocations.go).
		index.Fields("revoked_at"),
	}
}
