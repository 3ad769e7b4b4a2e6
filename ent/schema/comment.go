package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Comment is a message on an issue.
type Comment struct{ ent.Schema }

// Mixin of the Comment.
func (Comment) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, VersionMixin{}} }

// Fields of the Comment.
func (Comment) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		field.Int64("issue_id").Immutable(),
		// organization_id is the issue's organization, copied onto the
		// comment when it is created (see organizationOf): privacy filters a
		// comment by its own column instead of joining its issue and project.
		field.Int64("organization_id").Immutable(),
		field.Int64("author_id").Immutable(),
		field.Text("body").MaxLen(65536).NotEmpty(),
	}
}

// Edges of the Comment.
func (Comment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("issue", Issue.Type).Ref("comments").Field("issue_id").Unique().Required().Immutable(),
		edge.From("author", User.Type).Ref("comments").Field("author_id").Unique().Required().Immutable(),
	}
}

// Indexes of the Comment: an issue's comments in creation order.
func (Comment) Indexes() []ent.Index {
	return []ent.Index{
		// organization_id rides along so that counting an issue's comments
		// (privacy filters them by it) stays an index-only scan.
		index.Fields("issue_id", "created_at", "id").Annotations(entsql.IncludeColumns("organization_id")),
		index.Fields("author_id"),
	}
}
