package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Invitation asks whoever has (or signs up with) an email to join an
// organization with a role. Nobody joins without accepting; an invitation
// to an email without an account waits for an account with that email
// until it expires.
type Invitation struct{ ent.Schema }

// Fields of the Invitation.
func (Invitation) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		field.Int64("organization_id").Immutable(),
		// email is stored lowercased, as users' emails are.
		field.String("email").MaxLen(254).NotEmpty().Immutable(),
		field.Enum("role").Values("OWNER", "ADMIN", "MEMBER", "VIEWER"),
		field.Int64("invited_by_id").Optional().Nillable(),
		field.Time("expires_at"),
		field.Time("accepted_at").Optional().Nillable(),
		field.Time("declined_at").Optional().Nillable(),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

// Edges of the Invitation.
func (Invitation) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).Ref("invitations").Field("organization_id").Unique().Required().Immutable(),
	}
}

// Indexes of the Invitation: one per (organization, email), renewed when
// sent again; email serves the invitee's list.
func (Invitation) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "email").Unique(),
		index.Fields("email"),
	}
}

// Policy of the Invitation: only the system reads or writes invitations.
// The resolvers (graph/invitations.go) decide who may: an ADMIN or OWNER
// of the organization invites, only the invitee sees, accepts or declines.
func (Invitation) Policy() ent.Policy { return policy(nil, nil) }
