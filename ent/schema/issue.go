package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Issue is the unit of work. Its number is unique within its project.
type Issue struct{ ent.Schema }

// Mixin of the Issue.
func (Issue) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, VersionMixin{}} }

// Fields of the Issue.
func (Issue) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		field.Int64("project_id").Immutable(),
		// organization_id is the project's organization, copied onto the
		// issue when it is created (see organizationOf): privacy filters an
		// issue by its own column instead of joining its project.
		field.Int64("organization_id").Immutable(),
		field.Int("number").Positive().Immutable(),
		field.String("title").MaxLen(256).NotEmpty(),
		field.Text("body").MaxLen(65536).Default(""),
		field.Enum("status").Values("BACKLOG", "TODO", "IN_PROGRESS", "DONE", "CANCELED").Default("TODO"),
		field.Enum("priority").Values("NONE", "LOW", "MEDIUM", "HIGH", "URGENT").Default("NONE"),
		field.Int64("author_id").Immutable(),
		field.Int64("assignee_id").Optional().Nillable(),
		field.Time("closed_at").Optional().Nillable().GoType(time.Time{}),
	}
}

// Edges of the Issue.
func (Issue) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("project", Project.Type).Ref("issues").Field("project_id").Unique().Required().Immutable(),
		edge.From("author", User.Type).Ref("authored_issues").Field("author_id").Unique().Required().Immutable(),
		edge.From("assignee", User.Type).Ref("assigned_issues").Field("assignee_id").Unique(),
		edge.To("comments", Comment.Type),
		edge.To("labels", Label.Type),
	}
}

// Indexes of the Issue follow how issues are read: by key (project,
// number), boards (project, status, most recently updated), a person's
// assigned issues and authored issues.
func (Issue) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("project_id", "number").Unique(),
		index.Fields("project_id", "status", "updated_at"),
		// organization_id rides along so that counting a project's issues
		// (privacy filters them by it) stays an index-only scan.
		index.Fields("project_id", "updated_at").Annotations(entsql.IncludeColumns("organization_id")),
		index.Fields("assignee_id", "updated_at"),
		index.Fields("author_id"),
	}
}
