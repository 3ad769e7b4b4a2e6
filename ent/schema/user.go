package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// User is a person who signs in. Email is stored lower-cased so uniqueness
// does not depend on how a client capitalises it.
type User struct{ ent.Schema }

// Mixin of the User.
func (User) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		field.String("email").MaxLen(254).NotEmpty().Unique(),
		field.String("name").MaxLen(100).NotEmpty(),
		field.String("password_hash").Sensitive(),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("memberships", Membership.Type),
		edge.To("authored_issues", Issue.Type),
		edge.To("assigned_issues", Issue.Type),
		edge.To("comments", Comment.Type),
		edge.To("refresh_tokens", RefreshToken.Type),
		edge.To("api_keys", APIKey.Type),
	}
}
