package graph

import (
	"context"
	"fmt"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/label"
	"github.com/issuegraph/issuegraph/graph/model"
)

func optColor(check *inputCheck, color *string) *string {
	if color == nil {
		return nil
	}
	check.pattern(*color, colorPattern, "color must be #rrggbb", "input", "color")
	return color
}
func checkLabelName(ctx context.Context, tx *ent.Tx, check *inputCheck, orgID int64, name string, self int64) error {
	taken, err := tx.Label.Query().Where(label.OrganizationID(orgID), label.Name(name), label.IDNEQ(self)).Exist(ctx)
	if err != nil {
		return err
	}
	if taken {
		check.add(model.UserErrorCodeTaken, "a label with this name already exists", "input", "name")
		return errRejected
	}
	return nil
}
func labelSaveError(check *inputCheck, err error) error {
	if ent.IsConstraintError(err) {
		check.add(model.UserErrorCodeTaken, "a label with this name already exists", "input", "name")
		return errRejected
	}
	return fmt.Errorf("saving label: %w", err)
}
func labelPayload(l *ent.Label, check *inputCheck, err error) (*model.LabelPayload, error) {
	if err != nil || check.failed() {
		return &model.LabelPayload{UserErrors: check.errs}, err
	}
	return &model.LabelPayload{Label: l, UserErrors: []*model.UserError{}}, nil
}
