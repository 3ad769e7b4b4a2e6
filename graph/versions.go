package graph

import (
	"context"
	"fmt"

	"github.com/issuegraph/issuegraph/graph/model"
)

// checkVersion records a CONFLICT user error on input.expectedVersion and
// returns errRejected when the client sent a version the object is no
// longer at: its update would overwrite a change it has not seen.
func (c *inputCheck) checkVersion(expected *int, current int) error {
	if expected == nil || *expected == current {
		return nil
	}
	return c.conflict(current)
}

// conflict records that the object moved on to version current.
func (c *inputCheck) conflict(current int) error {
	c.errs = append(c.errs, &model.UserError{
		Field:          []string{"input", "expectedVersion"},
		Message:        fmt.Sprintf("changed since you read it: now at version %d; reload it and apply your change again", current),
		Code:           model.UserErrorCodeConflict,
		CurrentVersion: &current,
	})
	return errRejected
}

// versionReader reads one object's version column.
type versionReader interface {
	Int(ctx context.Context) (int, error)
}

// versionConflict records CONFLICT with the version a concurrent change
// committed: an update conditioned on expectedVersion matched no row.
func versionConflict(ctx context.Context, check *inputCheck, q versionReader) error {
	current, err := q.Int(ctx)
	if err != nil {
		return fmt.Errorf("reading current version: %w", err)
	}
	return check.conflict(current)
}
