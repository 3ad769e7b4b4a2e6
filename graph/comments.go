package graph

import (
	"context"
	"fmt"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/comment"
	"github.com/issuegraph/issuegraph/ent/ent/issue"
	"github.com/issuegraph/issuegraph/graph/model"
)

func commentIssue(ctx context.Context, tx *ent.Tx, check *inputCheck, id int64) (*ent.Issue, error) {
	i, err := tx.Issue.Query().Where(issue.HasCommentsWith(comment.ID(id))).WithProject().Only(ctx)
	if ent.IsNotFound(err) {
		check.notFound("comment", "input", "id")
		return nil, errRejected
	}
	if err != nil {
		return nil, fmt.Errorf("loading comment: %w", err)
	}
	return i, nil
}
func commentEvent(typ string, i *ent.Issue, c *ent.Comment) event {
	return event{typ: typ, organizationID: i.Edges.Project.OrganizationID, projectID: i.ProjectID, issueID: i.ID, subjectID: c.ID}
}
func commentPayload(c *ent.Comment, check *inputCheck, err error) (*model.CommentPayload, error) {
	if err != nil || check.failed() {
		return &model.CommentPayload{UserErrors: check.errs}, err
	}
	return &model.CommentPayload{Comment: c, UserErrors: []*model.UserError{}}, nil
}
