package graph

import (
	"context"
	"strconv"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/issue"
	"github.com/issuegraph/issuegraph/ent/ent/organization"
	"github.com/issuegraph/issuegraph/ent/ent/project"
	"github.com/issuegraph/issuegraph/loaders"
)

// projectByKey finds a project by its organization's slug and its key.
func (r *Resolver) projectByKey(ctx context.Context, slug, key string) (*ent.Project, error) {
	p, err := orNil(r.client.Project.Query().
		Where(project.Key(key), project.HasOrganizationWith(organization.Slug(slug))).
		Only(ctx))
	if p != nil {
		// Its issues' keys need it: from memory, not one more statement.
		loaders.Prime(ctx, r.loadersFor(ctx), p)
	}
	return p, err
}

// issueByKey finds an issue by its key (ENG-42). Project keys are unique
// only within an organization, so slug narrows the search when a viewer
// sees the same key in several organizations.
func (r *Resolver) issueByKey(ctx context.Context, key string, slug *string) (*ent.Issue, error) {
	m := issueKeyPattern.FindStringSubmatch(key)
	if m == nil {
		return nil, Errorf(CodeBadUserInput, "%q is not an issue key such as ENG-42", truncate(key, 40))
	}
	number, err := strconv.Atoi(m[2])
	if err != nil {
		return nil, Errorf(CodeBadUserInput, "%q is not an issue key such as ENG-42", truncate(key, 40))
	}
	inProject := project.Key(m[1])
	if slug != nil {
		inProject = project.And(inProject, project.HasOrganizationWith(organization.Slug(*slug)))
	}
	lds := r.loadersFor(ctx)
	join, handOver := joinSelected(ctx, lds, issueUsers, r.issueNests(), func(i *ent.Issue) int64 { return i.ID })
	q := r.client.Issue.Query().
		Where(issue.Number(number), issue.HasProjectWith(inProject)).
		Limit(2)
	q.Modify(join)
	issues, err := q.All(ctx)
	if err != nil {
		return nil, err
	}
	switch len(issues) {
	case 0:
		return nil, nil
	case 1:
		if err := handOver(issues); err != nil {
			return nil, err
		}
		// The issue's key is the one asked for: its project is read only
		// if the query selects more of it than its key.
		lds.KnowProjectKey(issues[0].ProjectID, m[1])
		return issues[0], nil
	}
	return nil, Errorf(CodeBadUserInput, "%s exists in more than one of your organizations; pass organization to choose", key)
}
