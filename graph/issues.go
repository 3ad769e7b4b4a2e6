package graph

import (
	"context"
	"fmt"
	"time"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/issue"
	"github.com/issuegraph/issuegraph/ent/ent/label"
	"github.com/issuegraph/issuegraph/ent/ent/membership"
	"github.com/issuegraph/issuegraph/ent/rule"
	"github.com/issuegraph/issuegraph/graph/model"
)

func isClosed(s issue.Status) bool { return s == issue.StatusDONE || s == issue.StatusCANCELED }

// setStatus changes an issue's status and keeps closed_at in step with it.
func setStatus(u *ent.IssueUpdateOne, s issue.Status) {
	u.SetStatus(s)
	if isClosed(s) {
		u.SetClosedAt(time.Now())
	} else {
		u.ClearClosedAt()
	}
}

// issueProject returns the issue's project, loaded with it or through the
// request's project loader.
func (r *Resolver) issueProject(ctx context.Context, i *ent.Issue) (*ent.Project, error) {
	if i.Edges.Project != nil {
		return i.Edges.Project, nil
	}
	lds := r.loadersFor(ctx)
	for _, p := range issuePeers(lds, i, "Issue.project") {
		prefetch(ctx, lds.Project, p.ProjectID)
	}
	return required(lds.Project.Load(ctx, i.ProjectID)())
}

// lockIssue loads an issue for change, locking its row until commit so two
// concurrent changes apply one after the other, and returns its
// organization's id.
func lockIssue(ctx context.Context, tx *ent.Tx, check *inputCheck, id int64, field string) (*ent.Issue, int64, error) {
	i, err := tx.Issue.Query().Where(issue.ID(id)).ForUpdate().Only(ctx)
	if ent.IsNotFound(err) {
		check.notFound("issue", "input", field)
		return nil, 0, errRejected
	}
	if err != nil {
		return nil, 0, fmt.Errorf("loading issue: %w", err)
	}
	p, err := tx.Project.Get(ctx, i.ProjectID)
	if err != nil {
		return nil, 0, fmt.Errorf("loading project: %w", err)
	}
	i.Edges.Project = p
	return i, p.OrganizationID, nil
}

// issueChange builds the update of a locked issue and names its event.
type issueChange func(tx *ent.Tx, i *ent.Issue, orgID int64) (u *ent.IssueUpdateOne, eventType string, payload map[string]any, err error)

// changeIssue applies change to issue id in a transaction and records the
// event it names.
func (r *Resolver) changeIssue(ctx context.Context, check *inputCheck, id int64, field string, change issueChange) (*model.IssuePayload, error) {
	var updated *ent.Issue
	err := r.mutate(ctx, check, func(tx *ent.Tx) error {
		i, orgID, err := lockIssue(ctx, tx, check, id, field)
		if err != nil {
			return err
		}
		// Checked before the change's own input checks, so a viewer who may
		// not change issues gets FORBIDDEN rather than hints about the data.
		if err := rule.Require(ctx, tx.Client(), orgID, membership.RoleMEMBER); err != nil {
			return err
		}
		u, typ, payload, err := change(tx, i, orgID)
		if err != nil {
			return err
		}
		if check.failed() {
			return errRejected
		}
		if updated, err = u.Save(ctx); err != nil {
			return fmt.Errorf("updating issue: %w", err)
		}
		updated.Edges.Project = i.Edges.Project
		return record(ctx, tx, issueEvent(typ, orgID, updated, payload))
	})
	return issuePayload(updated, check, err)
}

// changeLabels adds or removes labels of an issue.
func (r *mutationResolver) changeLabels(ctx context.Context, input model.IssueLabelsInput, add bool) (*model.IssuePayload, error) {
	if err := requireActor(ctx); err != nil {
		return nil, err
	}
	var check inputCheck
	id := check.id(input.IssueID, typeIssue, "input", "issueId")
	if len(input.LabelIds) == 0 {
		check.add(model.UserErrorCodeBlank, "labelIds can't be empty", "input", "labelIds")
	}
	labelIDs := check.ids(input.LabelIds, typeLabel, 20, "input", "labelIds")
	if check.failed() {
		return &model.IssuePayload{UserErrors: check.errs}, nil
	}
	return r.changeIssue(ctx, &check, id, "issueId", func(tx *ent.Tx, i *ent.Issue, orgID int64) (*ent.IssueUpdateOne, string, map[string]any, error) {
		if err := checkLabels(ctx, tx, &check, orgID, labelIDs, "input", "labelIds"); err != nil {
			return nil, "", nil, err
		}
		u := tx.Issue.UpdateOne(i)
		payload := map[string]any{"labelIds": labelIDs}
		if !add {
			return u.RemoveLabelIDs(labelIDs...), EventIssueUnlabeled, payload, nil
		}
		// Adding a label the issue already has is a no-op, not a duplicate row.
		have, err := i.QueryLabels().Where(label.IDIn(labelIDs...)).IDs(ctx)
		if err != nil {
			return nil, "", nil, err
		}
		return u.AddLabelIDs(missing(labelIDs, have)...), EventIssueLabeled, payload, nil
	})
}

// missing returns the ids of want not in have.
func missing(want, have []int64) []int64 {
	in := map[int64]bool{}
	for _, id := range have {
		in[id] = true
	}
	var out []int64
	for _, id := range want {
		if !in[id] {
			out = append(out, id)
		}
	}
	return out
}

// checkMember records NOT_A_MEMBER unless userID belongs to orgID.
func checkMember(ctx context.Context, tx *ent.Tx, check *inputCheck, orgID, userID int64, path ...string) error {
	ok, err := tx.Membership.Query().Where(membership.OrganizationID(orgID), membership.UserID(userID)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("checking membership: %w", err)
	}
	if !ok {
		check.add(model.UserErrorCodeNotAMember, "assignee must be a member of the issue's organization", path...)
		return errRejected
	}
	return nil
}

// checkLabels records NOT_FOUND unless every label belongs to orgID.
func checkLabels(ctx context.Context, tx *ent.Tx, check *inputCheck, orgID int64, ids []int64, path ...string) error {
	if len(ids) == 0 {
		return nil
	}
	n, err := tx.Label.Query().Where(label.IDIn(ids...), label.OrganizationID(orgID)).Count(ctx)
	if err != nil {
		return fmt.Errorf("checking labels: %w", err)
	}
	if n != len(ids) {
		check.add(model.UserErrorCodeNotFound, "a label was not found in the issue's organization", path...)
		return errRejected
	}
	return nil
}

func issuePayload(i *ent.Issue, check *inputCheck, err error) (*model.IssuePayload, error) {
	if err != nil || check.failed() {
		return &model.IssuePayload{UserErrors: check.errs}, err
	}
	return &model.IssuePayload{Issue: i, UserErrors: []*model.UserError{}}, nil
}
