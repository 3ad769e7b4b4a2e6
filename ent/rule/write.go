// Package rule holds the privacy rules the ent schemas' policies are made of.
// Authorization lives here, at the data layer, so every path that reads or
// writes through ent — root fields, node lookups, nested edges, dataloader
// batches, counts, subscription events — obeys the same rules.
//
// Reads are filtered, never refused: a query only ever returns rows of
// organizations the viewer belongs to, so an object the viewer may not see
// simply does not exist for them. Writes are decided per operation from the
// viewer's role in the organization the changed object belongs to: a target
// the viewer cannot see fails with ErrNotFound, a visible target the viewer
// may not change fails with a plain privacy denial (FORBIDDEN to clients).
package rule

import (
	"context"
	"errors"
	"fmt"

	"entgo.io/ent/dialect/sql"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/apikey"
	"github.com/issuegraph/issuegraph/ent/ent/comment"
	"github.com/issuegraph/issuegraph/ent/ent/issue"
	"github.com/issuegraph/issuegraph/ent/ent/membership"
	"github.com/issuegraph/issuegraph/ent/ent/predicate"
	"github.com/issuegraph/issuegraph/ent/ent/privacy"
	"github.com/issuegraph/issuegraph/ent/ent/project"
	"github.com/issuegraph/issuegraph/ent/viewer"
)

// Write rules: each decides whether the viewer may make a mutation.

// decide allows a write that needs role need in organization orgID.
func decide(ctx context.Context, c *ent.Client, orgID int64, need membership.Role) error {
	role, err := RoleOf(ctx, c, orgID)
	if err != nil {
		return err
	}
	return decideRole(role, need)
}

func decideRole(role, need membership.Role) error {
	if role == "" {
		return ErrNotFound
	}
	if !AtLeast(role, need) {
		return ErrForbidden
	}
	return privacy.Allow
}

// RoleOf returns the viewer's role in organization orgID, "" when the viewer
// is not a member. It reads as the system because it decides what the
// viewer may see; through c it sees the changes of the surrounding
// transaction.
func RoleOf(ctx context.Context, c *ent.Client, orgID int64) (membership.Role, error) {
	if k := viewer.FromContext(ctx).APIKey; k != nil {
		if k.OrganizationID == orgID {
			return membership.Role(k.Role), nil
		}
		return "", nil
	}
	id := uid(ctx)
	if id == 0 {
		return "", nil
	}
	m, err := c.Membership.Query().
		Where(membership.UserID(id), membership.OrganizationID(orgID)).
		Only(viewer.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the viewer's role: %w", err)
	}
	return m.Role, nil
}

// Require returns nil when the viewer has at least role need in orgID,
// ErrNotFound when they are not a member and ErrForbidden otherwise. Writes
// call it before doing input checks that could reveal data to a viewer who
// may not write at all; the policies enforce the same rules regardless.
func Require(ctx context.Context, c *ent.Client, orgID int64, need membership.Role) error {
	if viewer.FromContext(ctx).System {
		return nil
	}
	err := decide(ctx, c, orgID, need)
	if errors.Is(err, privacy.Allow) {
		return nil
	}
	return err
}

// requireActor refuses writes of anonymous viewers outright.
func requireActor(ctx context.Context) error {
	if !viewer.FromContext(ctx).Actor() {
		return privacy.Denyf("sign in first")
	}
	return nil
}

// requirePerson refuses writes that only a signed-in user (not a service
// account) may make.
func requirePerson(ctx context.Context) error {
	if uid(ctx) == 0 {
		return ErrForbidden
	}
	return nil
}

// target returns the id of a single-row update or delete, and whether the
// mutation is one.
func target(m interface {
	Op() ent.Op
	ID() (int64, bool)
}) (int64, bool) {
	id, ok := m.ID()
	return id, ok && (m.Op().Is(ent.OpUpdateOne) || m.Op().Is(ent.OpDeleteOne))
}

// system is a system context for the lookups a rule makes.
func system(ctx context.Context) context.Context { return viewer.SystemContext(ctx) }

// OrganizationWrite: any signed-in person (not an API key) creates an
// organization (and becomes its first OWNER); only an OWNER changes or
// deletes it.
func OrganizationWrite() privacy.MutationRule {
	return privacy.OrganizationMutationRuleFunc(func(ctx context.Context, m *ent.OrganizationMutation) error {
		if err := requireActor(ctx); err != nil {
			return err
		}
		if m.Op().Is(ent.OpCreate) {
			if err := requirePerson(ctx); err != nil {
				return err
			}
			return privacy.Allow
		}
		id, ok := target(m)
		if !ok {
			return privacy.Denyf("organizations change one at a time")
		}
		return decide(ctx, m.Client(), id, membership.RoleOWNER)
	})
}

// MembershipWrite: ADMIN+ adds, changes and removes MEMBERs and VIEWERs;
// only an OWNER grants, changes or removes OWNER and ADMIN memberships;
// everyone may remove their own membership (leave). The creator of an
// organization becomes its first OWNER. Keeping at least one OWNER is
// checked by the mutations, which lock the organization to do it.
func MembershipWrite() privacy.MutationRule {
	return privacy.MembershipMutationRuleFunc(func(ctx context.Context, m *ent.MembershipMutation) error {
		if err := requireActor(ctx); err != nil {
			return err
		}
		c := m.Client()
		newRole, setsRole := m.Role()
		if m.Op().Is(ent.OpCreate) {
			orgID, _ := m.OrganizationID()
			userID, _ := m.UserID()
			if !setsRole {
				newRole = membership.DefaultRole
			}
			if userID == uid(ctx) && newRole == membership.RoleOWNER {
				n, err := c.Membership.Query().Where(membership.OrganizationID(orgID)).Count(system(ctx))
				if err != nil {
					return fmt.Errorf("counting members: %w", err)
				}
				if n == 0 {
					return privacy.Allow
				}
			}
			return decide(ctx, c, orgID, NeedToManage(newRole))
		}
		id, ok := target(m)
		if !ok {
			return privacy.Denyf("memberships change one at a time")
		}
		old, err := c.Membership.Get(system(ctx), id)
		if ent.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("loading membership: %w", err)
		}
		role, err := RoleOf(ctx, c, old.OrganizationID)
		if err != nil {
			return err
		}
		if role != "" && m.Op().Is(ent.OpDeleteOne) && old.UserID == uid(ctx) {
			return privacy.Allow
		}
		need := NeedToManage(old.Role)
		if setsRole && rank(NeedToManage(newRole)) > rank(need) {
			need = NeedToManage(newRole)
		}
		return decideRole(role, need)
	})
}

// NeedToManage is the role needed to grant, change or remove role r.
func NeedToManage(r membership.Role) membership.Role {
	if AtLeast(r, membership.RoleADMIN) {
		return membership.RoleOWNER
	}
	return membership.RoleADMIN
}

// ProjectWrite: ADMIN+ creates, changes and archives projects. Taking the
// next issue number (issue_count) is part of creating an issue, so MEMBER+
// may change that counter and nothing else.
func ProjectWrite() privacy.MutationRule {
	return privacy.ProjectMutationRuleFunc(func(ctx context.Context, m *ent.ProjectMutation) error {
		if err := requireActor(ctx); err != nil {
			return err
		}
		c := m.Client()
		if m.Op().Is(ent.OpCreate) {
			orgID, _ := m.OrganizationID()
			return decide(ctx, c, orgID, membership.RoleADMIN)
		}
		id, ok := target(m)
		if !ok {
			return privacy.Denyf("projects change one at a time")
		}
		p, err := c.Project.Get(system(ctx), id)
		if ent.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("loading project: %w", err)
		}
		need := membership.RoleADMIN
		if m.Op().Is(ent.OpUpdateOne) && onlyIssueCounter(m) {
			need = membership.RoleMEMBER
		}
		return decide(ctx, c, p.OrganizationID, need)
	})
}

func onlyIssueCounter(m *ent.ProjectMutation) bool {
	if _, added := m.AddedIssueCount(); !added {
		return false
	}
	for _, f := range m.Fields() {
		if f != project.FieldIssueCount && f != project.FieldUpdatedAt {
			return false
		}
	}
	return len(m.ClearedFields()) == 0
}

// issueOrg returns the organization of issue id.
func issueOrg(ctx context.Context, c *ent.Client, id int64) (int64, error) {
	p, err := c.Project.Query().Where(project.HasIssuesWith(issue.ID(id))).Only(system(ctx))
	if ent.IsNotFound(err) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("loading the issue's project: %w", err)
	}
	return p.OrganizationID, nil
}

// IssueWrite: MEMBER+ creates and edits issues; ADMIN+ deletes them.
func IssueWrite() privacy.MutationRule {
	return privacy.IssueMutationRuleFunc(func(ctx context.Context, m *ent.IssueMutation) error {
		if err := requireActor(ctx); err != nil {
			return err
		}
		c := m.Client()
		if m.Op().Is(ent.OpCreate) {
			projectID, _ := m.ProjectID()
			p, err := c.Project.Get(system(ctx), projectID)
			if ent.IsNotFound(err) {
				return ErrNotFound
			}
			if err != nil {
				return fmt.Errorf("loading project: %w", err)
			}
			return decide(ctx, c, p.OrganizationID, membership.RoleMEMBER)
		}
		id, ok := target(m)
		if !ok {
			return privacy.Denyf("issues change one at a time")
		}
		orgID, err := issueOrg(ctx, c, id)
		if err != nil {
			return err
		}
		need := membership.RoleMEMBER
		if m.Op().Is(ent.OpDeleteOne) {
			need = membership.RoleADMIN
		}
		return decide(ctx, c, orgID, need)
	})
}

// CommentWrite: MEMBER+ comments as themselves; a comment is edited or
// deleted by its author (while MEMBER+) or by ADMIN+. Deleting an issue's
// comments in bulk (with the issue) is for ADMIN+ and touches only their
// organizations' comments.
func CommentWrite() privacy.MutationRule {
	return privacy.CommentMutationRuleFunc(func(ctx context.Context, m *ent.CommentMutation) error {
		if err := requireActor(ctx); err != nil {
			return err
		}
		c := m.Client()
		switch {
		case m.Op().Is(ent.OpCreate):
			issueID, _ := m.IssueID()
			orgID, err := issueOrg(ctx, c, issueID)
			if err != nil {
				return err
			}
			if author, _ := m.AuthorID(); author != uid(ctx) {
				return privacy.Denyf("comments are written as the signed-in user")
			}
			return decide(ctx, c, orgID, membership.RoleMEMBER)
		case m.Op().Is(ent.OpDelete):
			m.Where(predicate.Comment(in(comment.FieldOrganizationID,
				memberOrgs(ctx, membership.RoleOWNER, membership.RoleADMIN))))
			return privacy.Allow
		}
		id, ok := target(m)
		if !ok {
			return privacy.Denyf("comments change one at a time")
		}
		old, err := c.Comment.Get(system(ctx), id)
		if ent.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("loading comment: %w", err)
		}
		orgID, err := issueOrg(ctx, c, old.IssueID)
		if err != nil {
			return err
		}
		need := membership.RoleADMIN
		if old.AuthorID == uid(ctx) {
			need = membership.RoleMEMBER
		}
		return decide(ctx, c, orgID, need)
	})
}

// LabelWrite: ADMIN+ manages labels (MEMBER+ puts them on issues, which is
// a change of the issue).
func LabelWrite() privacy.MutationRule {
	return privacy.LabelMutationRuleFunc(func(ctx context.Context, m *ent.LabelMutation) error {
		if err := requireActor(ctx); err != nil {
			return err
		}
		c := m.Client()
		if m.Op().Is(ent.OpCreate) {
			orgID, _ := m.OrganizationID()
			return decide(ctx, c, orgID, membership.RoleADMIN)
		}
		id, ok := target(m)
		if !ok {
			return privacy.Denyf("labels change one at a time")
		}
		l, err := c.Label.Get(system(ctx), id)
		if ent.IsNotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("loading label: %w", err)
		}
		return decide(ctx, c, l.OrganizationID, membership.RoleADMIN)
	})
}

// EventWrite: the activity log is only appended to, by a member of the
// organization the event belongs to (or, for account events, by the signed-in
// user). The change it records was authorized by its own policy.
func EventWrite() privacy.MutationRule {
	return privacy.EventMutationRuleFunc(func(ctx context.Context, m *ent.EventMutation) error {
		if err := requireActor(ctx); err != nil {
			return err
		}
		if !m.Op().Is(ent.OpCreate) {
			return privacy.Denyf("the activity log is append-only")
		}
		orgID, ok := m.OrganizationID()
		if !ok {
			return privacy.Allow
		}
		return decide(ctx, m.Client(), orgID, membership.RoleVIEWER)
	})
}

// UserWrite: accounts are created by the system (sign-up); a user changes
// only their own account.
func UserWrite() privacy.MutationRule {
	return privacy.UserMutationRuleFunc(func(ctx context.Context, m *ent.UserMutation) error {
		if err := requireActor(ctx); err != nil {
			return err
		}
		if id, ok := m.ID(); ok && m.Op().Is(ent.OpUpdateOne) && id == uid(ctx) {
			return privacy.Allow
		}
		return privacy.Denyf("accounts change only themselves")
	})
}

// FilterAPIKeys shows an organization's API keys to its ADMINs and OWNERs;
// a service account sees no keys, its own included.
func FilterAPIKeys() privacy.QueryRule {
	return privacy.APIKeyQueryRuleFunc(func(ctx context.Context, q *ent.APIKeyQuery) error {
		if viewer.FromContext(ctx).APIKey != nil {
			q.Where(predicate.APIKey(func(s *sql.Selector) { s.Where(sql.False()) }))
			return privacy.Allow
		}
		q.Where(predicate.APIKey(in(apikey.FieldOrganizationID, memberOrgs(ctx, membership.RoleOWNER, membership.RoleADMIN))))
		return privacy.Allow
	})
}

// APIKeyWrite: a person with ADMIN+ creates keys with a role no higher
// than their own, and revokes them. Keys are never deleted (they stay as
// the record of who could act); the system records their last use.
func APIKeyWrite() privacy.MutationRule {
	return privacy.APIKeyMutationRuleFunc(func(ctx context.Context, m *ent.APIKeyMutation) error {
		if err := requireActor(ctx); err != nil {
			return err
		}
		c := m.Client()
		var orgID int64
		switch {
		case m.Op().Is(ent.OpCreate):
			orgID, _ = m.OrganizationID()
		case m.Op().Is(ent.OpUpdateOne):
			id, _ := m.ID()
			k, err := c.APIKey.Get(system(ctx), id)
			if ent.IsNotFound(err) {
				return ErrNotFound
			}
			if err != nil {
				return fmt.Errorf("loading API key: %w", err)
			}
			orgID = k.OrganizationID
		default:
			return privacy.Denyf("API keys are revoked, one at a time, not deleted")
		}
		role, err := RoleOf(ctx, c, orgID)
		if err != nil {
			return err
		}
		if role == "" {
			return ErrNotFound
		}
		if err := requirePerson(ctx); err != nil {
			return err
		}
		need := membership.RoleADMIN
		if r, ok := m.Role(); ok && AtLeast(membership.Role(r), need) {
			need = membership.Role(r)
		}
		return decideRole(role, need)
	})
}
