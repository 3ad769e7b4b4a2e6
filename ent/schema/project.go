package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Project groups issues under a short key such as ENG; issue keys read
// ENG-42.
type Project struct{ ent.Schema }

// Mixin of the Project.
func (Project) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, VersionMixin{}} }

// Fields of the Project.
func (Project) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		field.Int64("organization_id").Immutable(),
		field.String("key").MaxLen(10).NotEmpty().Immutable(),
		field.String("name").MaxLen(100).NotEmpty(),
		field.String("description").MaxLen(10000).Default(""),
		field.Bool("archived").Default(false),
		// issue_count is the last issue number handed out. Creating an issue
		// increments it with a row lock, so numbers never collide even when
		// many issues are created at once.
		field.Int("issue_count").Default(0).NonNegative(),
		// issue_total is how many issues the project has. PostgreSQL keeps
		// it (triggers on issues, migration 20261128084900), so every
		// writer counts: this build, an older one during a rolling deploy,
		// a bulk COPY. A page of the project's issues reads its totalCount
		// here instead of counting thousands of rows: everyone who sees the
		// project sees all of its issues (they carry its organization,
		// organizationof.go). Nothing here writes it.
		field.Int("issue_total").Default(0).NonNegative().Immutable(),
	}
}

// Edges of the Project.
func (Project) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).Ref("projects").Field("organization_id").Unique().Required().Immutable(),
		edge.To("issues", Issue.Type),
	}
}

// Indexes of the Project.
func (Project) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "key").Unique(),
	}
}
