package graph

import (
	"context"
	"fmt"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/graph/model"
)

func (r *mutationResolver) setArchived(ctx context.Context, gid string, archived bool) (*model.ArchiveProjectPayload, error) {
	if err := requireActor(ctx); err != nil {
		return nil, err
	}
	var check inputCheck
	id := check.id(gid, typeProject, "input", "id")
	if check.failed() {
		return &model.ArchiveProjectPayload{UserErrors: check.errs}, nil
	}
	var p *ent.Project
	err := r.mutate(ctx, &check, func(tx *ent.Tx) error {
		old, err := visibleProject(ctx, tx, &check, id)
		if err != nil {
			return err
		}
		if p, err = tx.Project.UpdateOne(old).SetArchived(archived).Save(ctx); err != nil {
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

// visibleProject loads project id for change; a project the viewer cannot
// see is a NOT_FOUND user error, one they may not change is left to the
// policy (FORBIDDEN).
func visibleProject(ctx context.Context, tx *ent.Tx, check *inputCheck, id int64) (*ent.Project, error) {
	p, err := tx.Project.Get(ctx, id)
	if ent.IsNotFound(err) {
		check.notFound("project", "input", "id")
		return nil, errRejected
	}
	if err != nil {
		return nil, fmt.Errorf("loading project: %w", err)
	}
	return p, nil
}
