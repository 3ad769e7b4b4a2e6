package graph

import (
	"context"
	"fmt"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/apikey"
	"github.com/issuegraph/issuegraph/ent/ent/comment"
	"github.com/issuegraph/issuegraph/ent/ent/issue"
	"github.com/issuegraph/issuegraph/ent/ent/label"
	"github.com/issuegraph/issuegraph/ent/ent/membership"
	"github.com/issuegraph/issuegraph/ent/ent/organization"
	"github.com/issuegraph/issuegraph/ent/ent/project"
	"github.com/issuegraph/issuegraph/ent/ent/user"
	"github.com/issuegraph/issuegraph/graph/model"
)

// MaxNodes bounds `nodes(ids:)`.
const MaxNodes = 100

// node loads the object behind a global ID. A well-formed ID of an object
// that does not exist (or that the viewer may not see) is null, not an
// error, so IDs cannot be probed.
func (r *Resolver) node(ctx context.Context, gid string) (model.Node, error) {
	typ, id, ok := parseGlobalID(gid)
	if !ok {
		return nil, Errorf(CodeBadUserInput, "%q is not a valid ID", truncate(gid, 40))
	}
	objects, err := r.nodesOfType(ctx, typ, []int64{id})
	if err != nil {
		return nil, fmt.Errorf("loading %s %d: %w", typ, id, err)
	}
	return objects[id], nil // absent: nil, read as null
}

// nodes loads the objects behind many global IDs, in order, with one
// statement per type rather than one per ID; IDs of objects that do not
// exist or that the viewer may not see are null.
func (r *Resolver) nodes(ctx context.Context, gids []string) ([]model.Node, error) {
	type ref struct {
		typ string
		id  int64
	}
	refs := make([]ref, len(gids))
	byType := map[string][]int64{}
	for i, gid := range gids {
		typ, id, ok := parseGlobalID(gid)
		if !ok {
			return nil, Errorf(CodeBadUserInput, "%q is not a valid ID", truncate(gid, 40))
		}
		refs[i] = ref{typ, id}
		byType[typ] = append(byType[typ], id)
	}
	found := map[ref]model.Node{}
	for typ, ids := range byType {
		objects, err := r.nodesOfType(ctx, typ, ids)
		if err != nil {
			return nil, fmt.Errorf("loading %s nodes: %w", typ, err)
		}
		for id, n := range objects {
			found[ref{typ, id}] = n
		}
	}
	out := make([]model.Node, len(refs))
	for i, ref := range refs {
		out[i] = found[ref] // absent: nil, read as null
	}
	return out, nil
}

// nodesOfType reads the objects of one type among ids, in one statement.
func (r *Resolver) nodesOfType(ctx context.Context, typ string, ids []int64) (map[int64]model.Node, error) {
	out := make(map[int64]model.Node, len(ids))
	var err error
	switch typ {
	case typeUser:
		err = collect(ctx, out, r.client.User.Query().Where(user.IDIn(ids...)).All, func(v *ent.User) int64 { return v.ID })
	case typeOrganization:
		err = collect(ctx, out, r.client.Organization.Query().Where(organization.IDIn(ids...)).All, func(v *ent.Organization) int64 { return v.ID })
	case typeMembership:
		err = collect(ctx, out, r.client.Membership.Query().Where(membership.IDIn(ids...)).All, func(v *ent.Membership) int64 { return v.ID })
	case typeProject:
		err = collect(ctx, out, r.client.Project.Query().Where(project.IDIn(ids...)).All, func(v *ent.Project) int64 { return v.ID })
	case typeIssue:
		err = collect(ctx, out, r.client.Issue.Query().Where(issue.IDIn(ids...)).All, func(v *ent.Issue) int64 { return v.ID })
	case typeComment:
		err = collect(ctx, out, r.client.Comment.Query().Where(comment.IDIn(ids...)).All, func(v *ent.Comment) int64 { return v.ID })
	case typeLabel:
		err = collect(ctx, out, r.client.Label.Query().Where(label.IDIn(ids...)).All, func(v *ent.Label) int64 { return v.ID })
	case typeAPIKey:
		err = collect(ctx, out, r.client.APIKey.Query().Where(apikey.IDIn(ids...)).All, func(v *ent.APIKey) int64 { return v.ID })
	}
	return out, err
}

// collect runs all and files its rows by id.
func collect[T model.Node](ctx context.Context, out map[int64]model.Node, all func(context.Context) ([]T, error), idOf func(T) int64) error {
	rows, err := all(ctx)
	if err != nil {
		return err
	}
	for _, v := range rows {
		out[idOf(v)] = v
	}
	return nil
}

// orNil returns nil for ent's not-found, so a missing object reads as null.
func orNil[T any](v *T, err error) (*T, error) {
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return v, err
}
