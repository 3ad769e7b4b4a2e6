package graph

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/issue"
	"github.com/issuegraph/issuegraph/ent/ent/organization"
	"github.com/issuegraph/issuegraph/ent/ent/predicate"
	"github.com/issuegraph/issuegraph/ent/ent/project"
	"github.com/issuegraph/issuegraph/ent/rule"
	"github.com/issuegraph/issuegraph/loaders"
)

// keyed is the project with key in the organization with slug.
func keyed(slug, key string) []predicate.Project {
	return []predicate.Project{project.Key(key), project.HasOrganizationWith(organization.Slug(slug))}
}

// projectByKey finds a project by its organization's slug and its key.
func (r *Resolver) projectByKey(ctx context.Context, slug, key string) (*ent.Project, error) {
	if p, ok, err := r.projectWithIssues(ctx, slug, key); ok {
		return p, err
	}
	p, err := orNil(r.client.Project.Query().Where(keyed(slug, key)...).Only(ctx))
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

// lookupParents are parents looked up by the statement that reads their
// pages (loaders.With.Lookup): from selects them, found reads them from
// the statement's rows (every row carries its parent's) and returns their
// ids.
type lookupParents struct {
	from  *sql.Selector
	found func(rows []loaders.Row) ([]int64, error)
}

// projectWithIssues looks a project up by its organization's slug and its
// key in the statement that reads the first page of its issues the query
// selects (a board): one statement instead of two. ok is false when the
// query selects no such page, or one the lookup cannot read (a filter, an
// order, more than one issues field, only totalCount): the project is then
// looked up on its own.
func (r *Resolver) projectWithIssues(ctx context.Context, slug, key string) (p *ent.Project, ok bool, err error) {
	// Without a filter the list cannot be refused; should it be, the
	// issues field's own resolver reports why.
	l, err := r.issueList("Project.issues", issue.FieldProjectID, nil, nil)
	if err != nil {
		return nil, false, nil
	}
	// The lookup projectByKey's ent query makes, with the projects
	// policy's own predicate (ent's policy does not run on a subquery).
	from := lookupOf(project.Table)
	for _, p := range keyed(slug, key) {
		p(from)
	}
	rule.VisibleProjects(ctx)(from)
	// Found, it is primed: its issues' keys need it, from memory.
	return lookupWithPage(ctx, r.loadersFor(ctx), "issues", l, nil, from, "project "+key+" of "+slug,
		func(p *ent.Project) int64 { return p.ID })
}

// organizationWithProjects looks an organization up by its slug in the
// statement that reads the first page of its projects the query selects
// (a deep overview), as projectWithIssues does for a project and its
// issues: ok is false when the query selects no such page (or one that
// includes archived projects), and the organization is then looked up on
// its own.
func (r *Resolver) organizationWithProjects(ctx context.Context, slug string) (o *ent.Organization, ok bool, err error) {
	// The lookup the organization resolver's ent query makes, with the
	// organizations policy's own predicate.
	from := lookupOf(organization.Table)
	organization.Slug(slug)(from)
	rule.VisibleOrganizations(ctx)(from)
	unarchived := map[string]any{"includeArchived": false}
	return lookupWithPage(ctx, r.loadersFor(ctx), "projects", r.projectsOfOrganizations(false), unarchived, from, "organization "+slug,
		func(o *ent.Organization) int64 { return o.ID })
}

// lookupOf selects the rows of table a lookup finds (add its conditions):
// each one's id and its row as JSON (loaders.LookupColumn), at most two,
// which is enough to tell one from several.
func lookupOf(table string) *sql.Selector {
	t := sql.Table(table)
	return sql.Dialect(dialect.Postgres).
		Select(t.C("id")).
		AppendSelectExprAs(sql.Expr(`row_to_json("`+table+`")`), loaders.LookupColumn).
		From(t).
		Limit(2)
}

// lookupWithPage reads the rows from selects (a lookup, lookupOf, with its
// table's privacy predicate: ent's policy does not run on a subquery) in
// the statement that reads the first page of their list l, the field
// named field of the object being resolved, when the query selects one
// such field with page arguments only. ok is false when it does not: the
// object is then looked up on its own. The page, its counts, its users and
// its nested lists are handed to the field's loaders as its own batch would
// hand them. also are the values of the field's other arguments l is for
// (see pageArgsWith); idOf returns a found row's id. It returns the row
// found (nil for none: not found or hidden), primed in the by-id loaders;
// what names it in the error for more than one.
func lookupWithPage[Q childQuery[Q, T, P, S], T row, P ~func(*sql.Selector), S scanner, E any](
	ctx context.Context, lds *loaders.Loaders, field string, l childList[Q, T, P, S], also map[string]any, from *sql.Selector,
	what string, idOf func(*E) int64,
) (one *E, ok bool, err error) {
	sel := selectionOf(ctx)
	if !sel.known() {
		return nil, false, nil
	}
	fields := sel.children(field)
	if len(fields) != 1 {
		return nil, false, nil
	}
	args, ok := fields[0].pageArgsWith(also)
	if !ok {
		return nil, false, nil
	}
	f := loaders.Memo(lds, fieldKey{l.name, fields[0].field}, func() *listLoad[T] {
		return newListLoad(ctx, lds, l, args, fields[0])
	})
	if f.err != nil || !f.wantsRows {
		return nil, false, nil
	}
	var found []*E
	lookup := &lookupParents{from: from, found: func(rows []loaders.Row) ([]int64, error) {
		var ids []int64
		var last []byte
		for _, row := range rows {
			raw, err := loaders.Joined(row, loaders.LookupColumn)
			if err != nil {
				return nil, err
			}
			// Every row of a page carries its parent: read each once
			// (rows come grouped by parent).
			if bytes.Equal(raw, last) {
				continue
			}
			last = raw
			e := new(E)
			if err := decodeFlat(raw, e); err != nil {
				return nil, err
			}
			if id := idOf(e); !slices.Contains(ids, id) {
				ids = append(ids, id)
				found = append(found, e)
			}
		}
		return ids, nil
	}}
	if _, err := f.readPages(ctx, nil, lookup); err != nil {
		return nil, true, err
	}
	switch len(found) {
	case 0:
		return nil, true, nil
	case 1:
		loaders.Prime(ctx, lds, found[0])
		return found[0], true, nil
	}
	return nil, true, fmt.Errorf("%s: %d found", what, len(found))
}
