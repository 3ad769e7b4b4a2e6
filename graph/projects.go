package graph

import (
	"context"

	"github.com/issuegraph/issuegraph/ent"
	"github.com/issuegraph/issuegraph/graph/model"
)

func (r *mutationResolver) setArchived(ctx context.Context, gid string, archived bool) (*model.ArchiveProjectPayload, error) {
	if _, err := requireUser(ctx); err != nil {
		return nil, err
	}
	var check inputCheck
	id := check.id(gid, typeProject, "input", "id")
	if check.failed() {
		return &model.ArchiveProjectPayload{UserErrors: check.errs}, nil
	}
	var p *ent.Project
	err := r.mutate(ctx, &check, func(tx *ent.Tx) error {
		var err error
		p, err = tx.Project.UpdateOneID(id).SetArchived(archived).Save(ctx)
		if ent.IsNotFound(err) {
			check.notFound("project", "input", "id")
			return errRejected
		}
		if err != nil {
			return err
		}
		typ := EventProjectUnarchived
		if archived {
			typ = EventProjectArchived
		}
		return record(ctx, tx, event{typ: typ, organizationID: p.OrganizationID, projectID: p.ID, subjectID: p.ID})
	})
	if err != nil || check.failed() {
		return &model.ArchiveProjectPayload{UserErrors: check.errs}, err
	}
	return &model.ArchiveProjectPayload{Project: p, UserErrors: []*model.UserError{}}, nil
}
