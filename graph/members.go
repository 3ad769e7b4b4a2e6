package graph

import (
	"context"
	"fmt"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/membership"
	"github.com/issuegraph/issuegraph/ent/ent/organization"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/graph/model"
)

// lockOrganization takes the organization's row lock until commit, so
// membership changes of one organization apply one after the other and
// the last-OWNER check below cannot be raced (two OWNERs demoting each
// other at once).
func lockOrganization(ctx context.Context, tx *ent.Tx, orgID int64) error {
	_, err := tx.Organization.Query().Where(organization.ID(orgID)).ForUpdate().Only(ctx)
	if err != nil {
		return fmt.Errorf("locking organization: %w", err)
	}
	return nil
}

// lockedMembership loads membership id for change, with its organization
// locked. A membership the viewer cannot see is a NOT_FOUND user error.
func lockedMembership(ctx context.Context, tx *ent.Tx, check *inputCheck, id int64, path ...string) (*ent.Membership, error) {
	m, err := tx.Membership.Get(ctx, id)
	if ent.IsNotFound(err) {
		check.notFound("membership", path...)
		return nil, errRejected
	}
	if err != nil {
		return nil, fmt.Errorf("loading membership: %w", err)
	}
	if err := lockOrganization(ctx, tx, m.OrganizationID); err != nil {
		return nil, err
	}
	// Read again under the lock: a concurrent change may have committed
	// between the first read and the lock.
	m, err = tx.Membership.Get(ctx, id)
	if ent.IsNotFound(err) {
		check.notFound("membership", path...)
		return nil, errRejected
	}
	if err != nil {
		return nil, fmt.Errorf("loading membership: %w", err)
	}
	return m, nil
}

// keepAnOwner records NOT_ALLOWED when the organization has no OWNER left
// after a change. It runs after the change, under the organization lock, so
// the permission check of the change comes first and a viewer who may not
// change the membership never learns who the owners are. It counts as the
// system because a member who just left no longer sees the organization.
func keepAnOwner(ctx context.Context, tx *ent.Tx, check *inputCheck, orgID int64, msg string, path ...string) error {
	n, err := tx.Membership.Query().
		Where(membership.OrganizationID(orgID), membership.RoleEQ(membership.RoleOWNER)).
		Count(viewer.SystemContext(ctx))
	if err != nil {
		return fmt.Errorf("counting owners: %w", err)
	}
	if n == 0 {
		check.add(model.UserErrorCodeNotAllowed, msg, path...)
		return errRejected
	}
	return nil
}

func (r *mutationResolver) changeMemberRole(ctx context.Context, input model.ChangeMemberRoleInput) (*model.ChangeMemberRolePayload, error) {
	if err := requireActor(ctx); err != nil {
		return nil, err
	}
	var check inputCheck
	id := check.id(input.MembershipID, typeMembership, "input", "membershipId")
	if check.failed() {
		return &model.ChangeMemberRolePayload{UserErrors: check.errs}, nil
	}
	var changed *ent.Membership
	err := r.mutate(ctx, &check, func(tx *ent.Tx) error {
		m, err := lockedMembership(ctx, tx, &check, id, "input", "membershipId")
		if err != nil {
			return err
		}
		if changed, err = tx.Membership.UpdateOne(m).SetRole(input.Role).Save(ctx); err != nil {
			return fmt.Errorf("changing role: %w", err)
		}
		if err := keepAnOwner(ctx, tx, &check, m.OrganizationID, "the organization's last OWNER cannot be demoted; make someone else OWNER first", "input", "role"); err != nil {
			return err
		}
		return record(ctx, tx, event{typ: EventMemberRoleChanged, organizationID: m.OrganizationID, subjectID: m.ID,
			payload: map[string]any{"userId": m.UserID, "from": m.Role, "role": input.Role}})
	})
	if err != nil || check.failed() {
		return &model.ChangeMemberRolePayload{UserErrors: check.errs}, err
	}
	return &model.ChangeMemberRolePayload{Membership: changed, UserErrors: []*model.UserError{}}, nil
}

func (r *mutationResolver) removeMember(ctx context.Context, input model.RemoveMemberInput) (*model.RemoveMemberPayload, error) {
	if err := requireActor(ctx); err != nil {
		return nil, err
	}
	var check inputCheck
	id := check.id(input.MembershipID, typeMembership, "input", "membershipId")
	if check.failed() {
		return &model.RemoveMemberPayload{UserErrors: check.errs}, nil
	}
	err := r.mutate(ctx, &check, func(tx *ent.Tx) error {
		m, err := lockedMembership(ctx, tx, &check, id, "input", "membershipId")
		if err != nil {
			return err
		}
		return r.endMembership(ctx, tx, &check, m, EventMemberRemoved, "input", "membershipId")
	})
	if err != nil || check.failed() {
		return &model.RemoveMemberPayload{UserErrors: check.errs}, err
	}
	removed := globalID(typeMembership, id)
	return &model.RemoveMemberPayload{RemovedMembershipID: &removed, UserErrors: []*model.UserError{}}, nil
}

func (r *mutationResolver) leaveOrganization(ctx context.Context, input model.LeaveOrganizationInput) (*model.LeaveOrganizationPayload, error) {
	uid, err := requireUser(ctx)
	if err != nil {
		return nil, err
	}
	var check inputCheck
	orgID := check.id(input.OrganizationID, typeOrganization, "input", "organizationId")
	if check.failed() {
		return &model.LeaveOrganizationPayload{UserErrors: check.errs}, nil
	}
	err = r.mutate(ctx, &check, func(tx *ent.Tx) error {
		m, err := tx.Membership.Query().Where(membership.OrganizationID(orgID), membership.UserID(uid)).Only(ctx)
		if ent.IsNotFound(err) {
			check.notFound("organization", "input", "organizationId")
			return errRejected
		}
		if err != nil {
			return fmt.Errorf("loading membership: %w", err)
		}
		m, err = lockedMembership(ctx, tx, &check, m.ID, "input", "organizationId")
		if err != nil {
			return err
		}
		return r.endMembership(ctx, tx, &check, m, EventMemberLeft, "input", "organizationId")
	})
	if err != nil || check.failed() {
		return &model.LeaveOrganizationPayload{UserErrors: check.errs}, err
	}
	left := globalID(typeOrganization, orgID)
	return &model.LeaveOrganizationPayload{OrganizationID: &left, UserErrors: []*model.UserError{}}, nil
}

// endMembership deletes m (the policy decides who may) unless that would
// leave its organization without an OWNER. The event is written first,
// while the actor is still a member who may append to the log.
func (r *mutationResolver) endMembership(ctx context.Context, tx *ent.Tx, check *inputCheck, m *ent.Membership, typ string, path ...string) error {
	if err := record(ctx, tx, event{typ: typ, organizationID: m.OrganizationID, subjectID: m.ID,
		payload: map[string]any{"userId": m.UserID, "role": m.Role}}); err != nil {
		return err
	}
	err := tx.Membership.DeleteOne(m).Exec(ctx)
	if ent.IsNotFound(err) {
		check.notFound("membership", path...)
		return errRejected
	}
	if err != nil {
		return fmt.Errorf("deleting membership: %w", err)
	}
	return keepAnOwner(ctx, tx, check, m.OrganizationID, "the organization's last OWNER cannot leave or be removed; make someone else OWNER first", path...)
}
