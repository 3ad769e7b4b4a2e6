package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// Organization is a tenant: every project, label and membership belongs to
// exactly one.
type Organization struct{ ent.Schema }

// Mixin of the Organization.
func (Organization) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, VersionMixin{}} }

// Fields of the Organization.
func (Organization) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		field.String("slug").MaxLen(40).NotEmpty().Unique(),
		field.String("name").MaxLen(100).NotEmpty(),
	}
}

// Edges of the Organization.
func (Organization) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("memberships", Membership.Type),
		edge.To("projects", Project.Type),
		edge.To("labels", Label.Type),
		edge.To("api_keys", APIKey.Type),
		edge.To("invitations", Invitation.Type),
	}
}
