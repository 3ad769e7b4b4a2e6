package graph

import (
	"context"
	"fmt"

	"github.com/issuegraph/issuegraph/ent"
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
	var (
		n   model.Node
		err error
	)
	switch typ {
	case typeUser:
		n, err = found(r.client.User.Get(ctx, id))
	case typeOrganization:
		n, err = found(r.client.Organization.Get(ctx, id))
	case typeMembership:
		n, err = found(r.client.Membership.Get(ctx, id))
	case typeProject:
		n, err = found(r.client.Project.Get(ctx, id))
	case typeIssue:
		n, err = found(r.client.Issue.Get(ctx, id))
	case typeComment:
		n, err = found(r.client.Comment.Get(ctx, id))
	case typeLabel:
		n, err = found(r.client.Label.Get(ctx, id))
	case typeAPIKey:
		n, err = found(r.client.APIKey.Get(ctx, id))
	}
	if err != nil {
		return nil, fmt.Errorf("loading %s %d: %w", typ, id, err)
	}
	return n, nil
}

// found turns ent's not-found into an untyped nil Node (a typed nil pointer
// inside the interface would not read as null).
func found[T any](v *T, err error) (model.Node, error) {
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

// orNil returns nil for ent's not-found, so a missing object reads as null.
func orNil[T any](v *T, err error) (*T, error) {
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return v, err
}
