package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Label is an organization-wide tag that issues of any of its projects can
// carry.
type Label struct{ ent.Schema }

// Mixin of the Label.
func (Label) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, VersionMixin{}} }

// Fields of the Label.
func (Label) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		field.Int64("organization_id").Immutable(),
		field.String("name").MaxLen(50).NotEmpty(),
		field.String("color").MaxLen(7).Default("#888888"),
		field.String("description").MaxLen(500).Default(""),
	}
}

// Edges of the Label.
func (Label) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).Ref("labels").Field("organization_id").Unique().Required().Immutable(),
		edge.From("issues", Issue.Type).Ref("labels"),
	}
}

// Indexes of the Label.
func (Label) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "name").Unique(),
	}
}
