package schema

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
)

// TimeMixin adds created_at and updated_at to a schema. updated_at is
// refreshed by ent on every update so list ordering by "recently updated"
// works without each mutation remembering to set it.
type TimeMixin struct{ mixin.Schema }

// Fields of the TimeMixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now),
	}
}

// VersionMixin adds version, the object's optimistic-concurrency counter:
// every update that changes what the object says adds one, so a client
// that read version n can ask its update to apply only while the object
// is still at n (expectedVersion) and learn of a concurrent change instead
// of overwriting it.
type VersionMixin struct{ mixin.Schema }

// Fields of the VersionMixin.
func (VersionMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Int("version").Default(1).NonNegative(),
	}
}

// versionless are bookkeeping columns that change without the object
// changing: a comment touches its issue's updated_at, a new issue counts
// in its project's issue_count.
var versionless = map[string]bool{"updated_at": true, "issue_count": true, "version": true}

// Hooks of the VersionMixin.
func (VersionMixin) Hooks() []ent.Hook {
	return []ent.Hook{func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			if !m.Op().Is(ent.OpUpdate|ent.OpUpdateOne) || !changesContent(m) {
				return next.Mutate(ctx, m)
			}
			if err := m.AddField("version", 1); err != nil {
				return nil, fmt.Errorf("bumping version: %w", err)
			}
			return next.Mutate(ctx, m)
		})
	}}
}

func changesContent(m ent.Mutation) bool {
	for _, f := range append(m.Fields(), m.AddedFields()...) {
		if !versionless[f] {
			return true
		}
	}
	return len(m.ClearedFields()) > 0 || len(m.AddedEdges()) > 0 || len(m.RemovedEdges()) > 0 || len(m.ClearedEdges()) > 0
}
