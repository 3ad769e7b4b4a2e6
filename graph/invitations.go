package graph

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/invitation"
	"github.com/issuegraph/issuegraph/ent/ent/membership"
	"github.com/issuegraph/issuegraph/ent/ent/organization"
	"github.com/issuegraph/issuegraph/ent/ent/user"
	"github.com/issuegraph/issuegraph/ent/rule"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/graph/model"
)

// Invitations (docs/authorization.md): an ADMIN or OWNER invites an email
// with a role; whoever has an account with that email, now or after
// signing up, sees the invitation in viewer.invitations and accepts or
// declines it. Nobody joins without accepting, and the inviter's answer is
// the same whether or not the email has an account: the email is never
// looked up when inviting. Invitations are read and written as the system
// (their privacy policy lets nobody else), after the checks below.

// EventMemberInvited is logged when an invitation is sent or renewed. Its
// payload holds the role offered, not the email: the log is read by every
// member, and the email is the invitee's until they join.
const EventMemberInvited = "member.invited"

// Bounds of an invitation's lifetime, in days.
const (
	invitationDaysMin     = 1
	invitationDaysMax     = 30
	invitationDaysDefault = 7
	// invitationsListed bounds viewer.invitations.
	invitationsListed = 100
)

// inviteMember creates or renews the invitation of email to an
// organization; addMember (deprecated) does the same.
func (r *mutationResolver) inviteMember(ctx context.Context, orgGID, rawEmail string, roleIn *membership.Role, days *int) (*model.SentInvitation, []*model.UserError, error) {
	if err := requireActor(ctx); err != nil {
		return nil, nil, err
	}
	var check inputCheck
	orgID := check.id(orgGID, typeOrganization, "input", "organizationId")
	email := strings.ToLower(check.text(rawEmail, 3, 254, "input", "email"))
	if !check.failed() {
		check.pattern(email, emailPattern, "email must be an address such as ada@example.com", "input", "email")
	}
	role := membership.RoleMEMBER
	if roleIn != nil {
		role = *roleIn
	}
	n := invitationDaysDefault
	if days != nil {
		n = *days
	}
	if n < invitationDaysMin || n > invitationDaysMax {
		check.add(model.UserErrorCodeInvalid, fmt.Sprintf("expiresInDays must be %d..%d", invitationDaysMin, invitationDaysMax), "input", "expiresInDays")
	}
	if check.failed() {
		return nil, check.errs, nil
	}
	expires := time.Now().Add(time.Duration(n) * 24 * time.Hour)
	var sent *ent.Invitation
	err := r.mutate(ctx, &check, func(tx *ent.Tx) error {
		if err := checkOrganization(ctx, tx, &check, orgID); err != nil {
			return err
		}
		if err := rule.Require(ctx, tx.Client(), orgID, rule.NeedToManage(role)); err != nil {
			return err
		}
		if err := lockOrganization(ctx, tx, orgID); err != nil {
			return err
		}
		// A current member is visible to whoever may invite (members see
		// each other's emails), so saying so reveals nothing new.
		member, err := tx.Membership.Query().
			Where(membership.OrganizationID(orgID), membership.HasUserWith(user.Email(email))).
			Exist(viewer.SystemContext(ctx))
		if err != nil {
			return fmt.Errorf("checking membership: %w", err)
		}
		if member {
			check.add(model.UserErrorCodeTaken, "this email belongs to a member already", "input", "email")
			return errRejected
		}
		sys := viewer.SystemContext(ctx)
		var inviter *int64
		if v := viewer.FromContext(ctx); v.UserID != 0 {
			inviter = &v.UserID
		}
		old, err := tx.Invitation.Query().Where(invitation.OrganizationID(orgID), invitation.Email(email)).Only(sys)
		switch {
		case ent.IsNotFound(err):
			sent, err = tx.Invitation.Create().SetOrganizationID(orgID).SetEmail(email).SetRole(invitation.Role(role)).
				SetNillableInvitedByID(inviter).SetExpiresAt(expires).Save(sys)
		case err == nil:
			// Sent again: renewed, whatever became of the last one.
			sent, err = tx.Invitation.UpdateOne(old).SetRole(invitation.Role(role)).SetNillableInvitedByID(inviter).
				SetExpiresAt(expires).ClearAcceptedAt().ClearDeclinedAt().Save(sys)
		}
		if err != nil {
			return fmt.Errorf("saving invitation: %w", err)
		}
		return record(ctx, tx, event{typ: EventMemberInvited, organizationID: orgID, subjectID: sent.ID, payload: map[string]any{"role": role}})
	})
	if err != nil || check.failed() {
		return nil, check.errs, err
	}
	return &model.SentInvitation{ID: globalID(typeInvitation, sent.ID), Email: sent.Email, Role: role, ExpiresAt: sent.ExpiresAt}, []*model.UserError{}, nil
}

// myInvitation loads invitation id for its invitee, locked; anything
// else (someone else's, answered, lapsed, unknown) is NOT_FOUND alike.
func myInvitation(ctx context.Context, tx *ent.Tx, check *inputCheck, uid, id int64) (*ent.Invitation, error) {
	sys := viewer.SystemContext(ctx)
	u, err := tx.User.Get(sys, uid)
	if err != nil {
		return nil, fmt.Errorf("loading user: %w", err)
	}
	inv, err := tx.Invitation.Query().Where(
		invitation.ID(id), invitation.Email(u.Email),
		invitation.AcceptedAtIsNil(), invitation.DeclinedAtIsNil(), invitation.ExpiresAtGT(time.Now()),
	).ForUpdate().Only(sys)
	if ent.IsNotFound(err) {
		check.notFound("invitation", "input", "invitationId")
		return nil, errRejected
	}
	if err != nil {
		return nil, fmt.Errorf("loading invitation: %w", err)
	}
	return inv, nil
}

func (r *mutationResolver) acceptInvitation(ctx context.Context, input model.AcceptInvitationInput) (*model.AcceptInvitationPayload, error) {
	uid, err := requireUser(ctx)
	if err != nil {
		return nil, err
	}
	var check inputCheck
	id := check.id(input.InvitationID, typeInvitation, "input", "invitationId")
	if check.failed() {
		return &model.AcceptInvitationPayload{UserErrors: check.errs}, nil
	}
	var m *ent.Membership
	err = r.mutate(ctx, &check, func(tx *ent.Tx) error {
		inv, err := myInvitation(ctx, tx, &check, uid, id)
		if err != nil {
			return err
		}
		if err := lockOrganization(viewer.SystemContext(ctx), tx, inv.OrganizationID); err != nil {
			return err
		}
		sys := viewer.SystemContext(ctx)
		if err := tx.Invitation.UpdateOne(inv).SetAcceptedAt(time.Now()).Exec(sys); err != nil {
			return fmt.Errorf("accepting invitation: %w", err)
		}
		role := membership.Role(inv.Role)
		m, err = tx.Membership.Create().SetOrganizationID(inv.OrganizationID).SetUserID(uid).SetRole(role).Save(sys)
		if ent.IsConstraintError(err) {
			check.add(model.UserErrorCodeTaken, "you are a member already", "input", "invitationId")
			return errRejected
		}
		if err != nil {
			return fmt.Errorf("joining organization: %w", err)
		}
		// As the invitee, who is a member now: the event names them as its
		// actor.
		return record(ctx, tx, event{typ: EventMemberAdded, organizationID: inv.OrganizationID, subjectID: m.ID,
			payload: map[string]any{"userId": uid, "role": role, "invitation": true}})
	})
	if err != nil || check.failed() {
		return &model.AcceptInvitationPayload{UserErrors: check.errs}, err
	}
	return &model.AcceptInvitationPayload{Membership: m, UserErrors: []*model.UserError{}}, nil
}

func (r *mutationResolver) declineInvitation(ctx context.Context, input model.DeclineInvitationInput) (*model.DeclineInvitationPayload, error) {
	uid, err := requireUser(ctx)
	if err != nil {
		return nil, err
	}
	var check inputCheck
	id := check.id(input.InvitationID, typeInvitation, "input", "invitationId")
	if check.failed() {
		return &model.DeclineInvitationPayload{UserErrors: check.errs}, nil
	}
	err = r.mutate(ctx, &check, func(tx *ent.Tx) error {
		inv, err := myInvitation(ctx, tx, &check, uid, id)
		if err != nil {
			return err
		}
		if err := tx.Invitation.UpdateOne(inv).SetDeclinedAt(time.Now()).Exec(viewer.SystemContext(ctx)); err != nil {
			return fmt.Errorf("declining invitation: %w", err)
		}
		return nil
	})
	if err != nil || check.failed() {
		return &model.DeclineInvitationPayload{UserErrors: check.errs}, err
	}
	declined := globalID(typeInvitation, id)
	return &model.DeclineInvitationPayload{DeclinedInvitationID: &declined, UserErrors: []*model.UserError{}}, nil
}

// invitations lists u's pending invitations, for u alone.
func (r *Resolver) invitations(ctx context.Context, u *ent.User) ([]*model.Invitation, error) {
	if v := viewer.FromContext(ctx); v.UserID == 0 || v.UserID != u.ID {
		return []*model.Invitation{}, nil
	}
	sys := viewer.SystemContext(ctx)
	invs, err := r.client.Invitation.Query().Where(
		invitation.Email(u.Email), invitation.AcceptedAtIsNil(), invitation.DeclinedAtIsNil(), invitation.ExpiresAtGT(time.Now()),
	).Order(ent.Desc(invitation.FieldCreatedAt), ent.Desc(invitation.FieldID)).Limit(invitationsListed).
		WithOrganization(func(q *ent.OrganizationQuery) { q.Select(organization.FieldName, organization.FieldSlug) }).
		All(sys)
	if err != nil {
		return nil, fmt.Errorf("listing invitations: %w", err)
	}
	out := make([]*model.Invitation, 0, len(invs))
	for _, inv := range invs {
		out = append(out, &model.Invitation{
			ID: globalID(typeInvitation, inv.ID), OrganizationName: inv.Edges.Organization.Name, OrganizationSlug: inv.Edges.Organization.Slug,
			Role: membership.Role(inv.Role), CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt,
		})
	}
	return out, nil
}
