package rule

import (
	"context"
	"fmt"
	"slices"

	"entgo.io/ent/dialect/sql"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/comment"
	"github.com/issuegraph/issuegraph/ent/ent/event"
	"github.com/issuegraph/issuegraph/ent/ent/issue"
	"github.com/issuegraph/issuegraph/ent/ent/label"
	"github.com/issuegraph/issuegraph/ent/ent/membership"
	"github.com/issuegraph/issuegraph/ent/ent/organization"
	"github.com/issuegraph/issuegraph/ent/ent/predicate"
	"github.com/issuegraph/issuegraph/ent/ent/privacy"
	"github.com/issuegraph/issuegraph/ent/ent/project"
	"github.com/issuegraph/issuegraph/ent/ent/user"
	"github.com/issuegraph/issuegraph/ent/viewer"
)

// ErrNotFound denies a write whose target the viewer cannot see. It is a
// privacy denial (errors.Is(err, privacy.Deny)) that clients must see as
// NOT_FOUND, so a write cannot reveal that an object exists.
var ErrNotFound = fmt.Errorf("object not found: %w", privacy.Deny)

// ErrForbidden denies a write on a visible object the viewer's role does not
// allow.
var ErrForbidden = fmt.Errorf("not allowed: %w", privacy.Deny)

// rank orders roles so "at least ADMIN" is a comparison.
func rank(r membership.Role) int {
	switch r {
	case membership.RoleOWNER:
		return 4
	case membership.RoleADMIN:
		return 3
	case membership.RoleMEMBER:
		return 2
	case membership.RoleVIEWER:
		return 1
	}
	return 0
}

// AtLeast reports whether role r includes everything need may do.
func AtLeast(r, need membership.Role) bool { return rank(r) >= rank(need) }

// AllowSystem lets internal work (sign-up, sign-in lookups, the token
// service, seeding, the event relay) through every policy.
func AllowSystem() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if viewer.FromContext(ctx).System {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// DenyAll ends every policy: what no rule allowed is denied.
func DenyAll() privacy.QueryMutationRule { return privacy.AlwaysDenyRule() }

// memberOrgs selects the ids of the organizations the viewer belongs to
// with one of roles (any role when none is given). An anonymous viewer
// belongs to none; a service account to its own organization, with its
// key's role.
func memberOrgs(ctx context.Context, roles ...membership.Role) *sql.Selector {
	v := viewer.FromContext(ctx)
	if k := v.APIKey; k != nil {
		t := sql.Table(organization.Table).As("viewer_key_organization")
		sel := sql.Select(t.C(organization.FieldID)).From(t).Where(sql.EQ(t.C(organization.FieldID), k.OrganizationID))
		if len(roles) > 0 && !slices.Contains(roles, membership.Role(k.Role)) {
			sel.Where(sql.False())
		}
		return sel
	}
	t := sql.Table(membership.Table).As("viewer_memberships")
	preds := []*sql.Predicate{sql.EQ(t.C(membership.FieldUserID), v.UserID)}
	if len(roles) > 0 {
		vs := make([]any, len(roles))
		for i, r := range roles {
			vs[i] = string(r)
		}
		preds = append(preds, sql.In(t.C(membership.FieldRole), vs...))
	}
	return sql.Select(t.C(membership.FieldOrganizationID)).From(t).Where(sql.And(preds...))
}

// in is the predicate "column is one of what sel selects", written
// column = ANY(ARRAY(sel)): PostgreSQL runs sel once per statement (an
// InitPlan) and checks each row against the array it made, where IN
// (sel) is a semi-join probed per row (half a microsecond a row through a
// Memoize node: a deep page checks over a thousand rows). The array is
// the viewer's organizations, a handful.
func in(column string, sel *sql.Selector) func(*sql.Selector) {
	return func(s *sql.Selector) {
		// Qualified now, not when the statement is written: a modifier
		// may by then have replaced what s holds (FirstPerParent makes it
		// the outer statement of a page).
		c := s.C(column)
		s.Where(sql.P(func(b *sql.Builder) {
			b.Ident(c).WriteString(" = ANY(ARRAY(").Join(sel).WriteString("))")
		}))
	}
}

// uid is the signed-in viewer's id, 0 for anonymous requests.
func uid(ctx context.Context) int64 { return viewer.FromContext(ctx).UserID }

// Read filters: each narrows a query to the rows the viewer may see, then
// allows it. The predicates are subqueries, so lists, counts, edges and
// batches are filtered inside the one SQL statement that reads them.

// FilterOrganizations shows the organizations the viewer belongs to.
func FilterOrganizations() privacy.QueryRule {
	return privacy.OrganizationQueryRuleFunc(func(ctx context.Context, q *ent.OrganizationQuery) error {
		q.Where(predicate.Organization(in(organization.FieldID, memberOrgs(ctx))))
		return privacy.Allow
	})
}

// VisibleOrganizations is FilterOrganizations as a predicate on a selector
// of the organizations table, for a statement that looks an organization
// up with other rows (an organization by its slug with its first page of
// projects): the same rule, in the same statement. The system sees every
// organization (AllowSystem).
func VisibleOrganizations(ctx context.Context) func(*sql.Selector) {
	if viewer.FromContext(ctx).System {
		return func(*sql.Selector) {}
	}
	return in(organization.FieldID, memberOrgs(ctx))
}

// FilterMemberships shows the memberships of the viewer's organizations.
func FilterMemberships() privacy.QueryRule {
	return privacy.MembershipQueryRuleFunc(func(ctx context.Context, q *ent.MembershipQuery) error {
		q.Where(predicate.Membership(in(membership.FieldOrganizationID, memberOrgs(ctx))))
		return privacy.Allow
	})
}

// FilterProjects shows the projects of the viewer's organizations.
func FilterProjects() privacy.QueryRule {
	return privacy.ProjectQueryRuleFunc(func(ctx context.Context, q *ent.ProjectQuery) error {
		q.Where(predicate.Project(in(project.FieldOrganizationID, memberOrgs(ctx))))
		return privacy.Allow
	})
}

// VisibleProjects is FilterProjects as a predicate on a selector of the
// projects table, for a statement that looks a project up with other rows
// (a project by its key with its first page of issues): the same rule, in
// the same statement. The system sees every project (AllowSystem).
func VisibleProjects(ctx context.Context) func(*sql.Selector) {
	if viewer.FromContext(ctx).System {
		return func(*sql.Selector) {}
	}
	return in(project.FieldOrganizationID, memberOrgs(ctx))
}

// FilterIssues shows the issues of the viewer's organizations' projects.
// An issue carries its project's organization (ent/schema's organizationOf),
// so the test is on the row itself.
func FilterIssues() privacy.QueryRule {
	return privacy.IssueQueryRuleFunc(func(ctx context.Context, q *ent.IssueQuery) error {
		q.Where(predicate.Issue(in(issue.FieldOrganizationID, memberOrgs(ctx))))
		return privacy.Allow
	})
}

// FilterComments shows the comments on issues the viewer can see: those of
// the viewer's organizations, which a comment carries as its issue does.
func FilterComments() privacy.QueryRule {
	return privacy.CommentQueryRuleFunc(func(ctx context.Context, q *ent.CommentQuery) error {
		q.Where(predicate.Comment(visibleComments(ctx)))
		return privacy.Allow
	})
}

// VisibleComments is FilterComments as a predicate on a selector of the
// comments table, for a statement that counts comments beside other rows
// (the comment counts of a page of issues): the same rule, in the same
// statement. The system sees every comment (AllowSystem).
func VisibleComments(ctx context.Context) func(*sql.Selector) {
	if viewer.FromContext(ctx).System {
		return func(*sql.Selector) {}
	}
	return visibleComments(ctx)
}

func visibleComments(ctx context.Context) func(*sql.Selector) {
	return in(comment.FieldOrganizationID, memberOrgs(ctx))
}

// FilterLabels shows the labels of the viewer's organizations.
func FilterLabels() privacy.QueryRule {
	return privacy.LabelQueryRuleFunc(func(ctx context.Context, q *ent.LabelQuery) error {
		q.Where(predicate.Label(visibleLabels(ctx)))
		return privacy.Allow
	})
}

// VisibleLabels is FilterLabels as a predicate on a selector of the labels
// table, for a statement that reads labels beside other rows (the labels
// of a page of issues): the same rule, in the same statement. The system
// sees every label (AllowSystem).
func VisibleLabels(ctx context.Context) func(*sql.Selector) {
	if viewer.FromContext(ctx).System {
		return func(*sql.Selector) {}
	}
	return visibleLabels(ctx)
}

func visibleLabels(ctx context.Context) func(*sql.Selector) {
	return in(label.FieldOrganizationID, memberOrgs(ctx))
}

// FilterUsers shows the viewer, the members of the viewer's organizations,
// and the people who wrote or are assigned issues and comments the viewer
// can see (a former member stays the author of what they wrote; an issue's
// author is never a dangling reference). Everything of a visible user is
// visible, email included: colleagues need it to add and mention each
// other, and nobody else sees the user at all.
//
// Each condition is a correlated EXISTS, tried in order for each candidate
// row: a colleague is settled by the membership index, and only a former
// member costs index lookups by author or assignee. "id IN (every author
// of every visible comment)" would instead build the whole set on each
// read, a scan of every comment of the organization.
//
// It follows that an issue's author and assignee and a comment's author
// are visible to whoever sees the issue or comment: a page of them reads
// those users with its rows, unfiltered (loaders.Join). A change here that
// hides such a person must change that too.
func FilterUsers() privacy.QueryRule {
	return privacy.UserQueryRuleFunc(func(ctx context.Context, q *ent.UserQuery) error {
		q.Where(predicate.User(visibleUsers(ctx)))
		return privacy.Allow
	})
}

func visibleUsers(ctx context.Context) func(*sql.Selector) {
	id := uid(ctx)
	return func(s *sql.Selector) {
		who := s.C(user.FieldID)
		m := sql.Table(membership.Table).As("fellow_memberships")
		fellow := sql.Select(m.C(membership.FieldUserID)).From(m).Where(sql.And(
			sql.ColumnsEQ(m.C(membership.FieldUserID), who),
			sql.In(m.C(membership.FieldOrganizationID), memberOrgs(ctx)),
		))
		issuePerson := func(column string) *sql.Selector {
			i := sql.Table(issue.Table).As("visible_issues")
			return sql.Select(i.C(issue.FieldID)).From(i).
				Where(sql.And(
					sql.ColumnsEQ(i.C(column), who),
					sql.In(i.C(issue.FieldOrganizationID), memberOrgs(ctx)),
				))
		}
		c := sql.Table(comment.Table).As("visible_comments")
		commenter := sql.Select(c.C(comment.FieldID)).From(c).
			Where(sql.And(
				sql.ColumnsEQ(c.C(comment.FieldAuthorID), who),
				sql.In(c.C(comment.FieldOrganizationID), memberOrgs(ctx)),
			))
		s.Where(sql.Or(
			sql.EQ(who, id),
			sql.Exists(fellow),
			sql.Exists(issuePerson(issue.FieldAuthorID)),
			sql.Exists(issuePerson(issue.FieldAssigneeID)),
			sql.Exists(commenter),
		))
	}
}

// FilterEvents shows the activity of the viewer's organizations.
func FilterEvents() privacy.QueryRule {
	return privacy.EventQueryRuleFunc(func(ctx context.Context, q *ent.EventQuery) error {
		q.Where(predicate.Event(in(event.FieldOrganizationID, memberOrgs(ctx))))
		return privacy.Allow
	})
}
