package schema

import (
	"context"
	"fmt"

	"entgo.io/ent"

	gen "github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/hook"
	"github.com/issuegraph/issuegraph/ent/ent/issue"
	"github.com/issuegraph/issuegraph/ent/ent/project"
	"github.com/issuegraph/issuegraph/ent/viewer"
)

// Issues and comments carry their organization's id, so that the privacy
// filter of a list of thousands of them is a test of each row's own column
// (organization_id IN the viewer's organizations) rather than a join
// through issue and project per row. The copy is taken from the parent when
// the row is created, whatever the caller set, and neither the parent nor
// the copy can change afterwards (both fields are immutable), so the copy
// cannot drift from the parent's organization.

// Hooks of the Issue.
func (Issue) Hooks() []ent.Hook {
	return []ent.Hook{hook.On(func(next ent.Mutator) ent.Mutator {
		return hook.IssueFunc(func(ctx context.Context, m *gen.IssueMutation) (ent.Value, error) {
			if id, ok := m.ProjectID(); ok {
				org, err := m.Client().Project.Query().Where(project.ID(id)).
					Select(project.FieldOrganizationID).Int(viewer.SystemContext(ctx))
				if err != nil && !gen.IsNotFound(err) {
					return nil, fmt.Errorf("reading the project's organization: %w", err)
				}
				// A missing project leaves the field unset: the create
				// fails on its required organization_id.
				if err == nil {
					m.SetOrganizationID(int64(org))
				}
			}
			return next.Mutate(ctx, m)
		})
	}, ent.OpCreate)}
}

// Hooks of the Comment.
func (Comment) Hooks() []ent.Hook {
	return []ent.Hook{hook.On(func(next ent.Mutator) ent.Mutator {
		return hook.CommentFunc(func(ctx context.Context, m *gen.CommentMutation) (ent.Value, error) {
			if id, ok := m.IssueID(); ok {
				org, err := m.Client().Issue.Query().Where(issue.ID(id)).
					Select(issue.FieldOrganizationID).Int(viewer.SystemContext(ctx))
				if err != nil && !gen.IsNotFound(err) {
					return nil, fmt.Errorf("reading the issue's organization: %w", err)
				}
				if err == nil {
					m.SetOrganizationID(int64(org))
				}
			}
			return next.Mutate(ctx, m)
		})
	}, ent.OpCreate)}
}
