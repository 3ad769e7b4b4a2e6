package rule_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/apikey"
	"github.com/issuegraph/issuegraph/ent/ent/comment"
	"github.com/issuegraph/issuegraph/ent/ent/issue"
	"github.com/issuegraph/issuegraph/ent/ent/membership"
	"github.com/issuegraph/issuegraph/ent/ent/privacy"
	"github.com/issuegraph/issuegraph/ent/ent/project"
	"github.com/issuegraph/issuegraph/ent/rule"
	"github.com/issuegraph/issuegraph/ent/viewer"
)

// world is one organization (alpha) with a member of each role, a project,
// an issue, a comment, a label and an API key, and an outsider who owns
// another organization (beta). Everything is written as the system.
type world struct {
	c   *ent.Client
	sys context.Context

	owner, admin, member, viewerU, outsider int64
	alpha, beta                             int64
	adminMembership, memberMembership       int64
	project, issue, comment, label, key     int64
	event, refreshToken                     int64
}

func newWorld(t *testing.T) *world {
	t.Helper()
	db := databasetest.New(t, database.Options{})
	w := &world{c: db.Client, sys: viewer.SystemContext(context.Background())}
	user := func(name string) int64 {
		u, err := w.c.User.Create().SetEmail(name + "@example.com").SetName(name).SetPasswordHash("-").Save(w.sys)
		require.NoError(t, err)
		return u.ID
	}
	w.owner, w.admin, w.member, w.viewerU, w.outsider = user("owner"), user("admin"), user("member"), user("viewer"), user("outsider")
	org := func(slug string) int64 {
		o, err := w.c.Organization.Create().SetSlug(slug).SetName(slug).Save(w.sys)
		require.NoError(t, err)
		return o.ID
	}
	w.alpha, w.beta = org("alpha"), org("beta")
	join := func(u, o int64, r membership.Role) int64 {
		m, err := w.c.Membership.Create().SetUserID(u).SetOrganizationID(o).SetRole(r).Save(w.sys)
		require.NoError(t, err)
		return m.ID
	}
	join(w.owner, w.alpha, membership.RoleOWNER)
	w.adminMembership = join(w.admin, w.alpha, membership.RoleADMIN)
	w.memberMembership = join(w.member, w.alpha, membership.RoleMEMBER)
	join(w.viewerU, w.alpha, membership.RoleVIEWER)
	join(w.outsider, w.beta, membership.RoleOWNER)

	p, err := w.c.Project.Create().SetOrganizationID(w.alpha).SetKey("ALP").SetName("Alpha").Save(w.sys)
	require.NoError(t, err)
	w.project = p.ID
	i, err := w.c.Issue.Create().SetProjectID(w.project).SetNumber(1).SetTitle("First").SetAuthorID(w.owner).Save(w.sys)
	require.NoError(t, err)
	w.issue = i.ID
	cm, err := w.c.Comment.Create().SetIssueID(w.issue).SetAuthorID(w.owner).SetBody("Hello").Save(w.sys)
	require.NoError(t, err)
	w.comment = cm.ID
	l, err := w.c.Label.Create().SetOrganizationID(w.alpha).SetName("bug").Save(w.sys)
	require.NoError(t, err)
	w.label = l.ID
	k, err := w.c.APIKey.Create().SetOrganizationID(w.alpha).SetName("CI").SetPrefix("igk_test").SetKeyHash("hash").
		SetRole(apikey.RoleMEMBER).SetCreatedByID(w.owner).Save(w.sys)
	require.NoError(t, err)
	w.key = k.ID
	e, err := w.c.Event.Create().SetType("issue.created").SetOrganizationID(w.alpha).SetSubjectID(w.issue).Save(w.sys)
	require.NoError(t, err)
	w.event = e.ID
	rt, err := w.c.RefreshToken.Create().SetUserID(w.member).SetTokenHash("rt").SetFamily("f").SetExpiresAt(time.Now().Add(time.Hour)).Save(w.sys)
	require.NoError(t, err)
	w.refreshToken = rt.ID
	return w
}

func (w *world) as(id int64) context.Context {
	return viewer.NewContext(context.Background(), viewer.Viewer{UserID: id})
}

func (w *world) asKey(role string) context.Context {
	return viewer.NewContext(context.Background(), viewer.Viewer{APIKey: &viewer.APIKey{ID: w.key, OrganizationID: w.alpha, Role: role}})
}

// snapshot reads every row a write could touch, as the system.
func (w *world) snapshot(t *testing.T) string {
	t.Helper()
	var out []any
	for _, q := range []func() (any, error){
		func() (any, error) { return w.c.User.Query().Order(ent.Asc("id")).All(w.sys) },
		func() (any, error) { return w.c.Organization.Query().Order(ent.Asc("id")).All(w.sys) },
		func() (any, error) { return w.c.Membership.Query().Order(ent.Asc("id")).All(w.sys) },
		func() (any, error) { return w.c.Project.Query().Order(ent.Asc("id")).All(w.sys) },
		func() (any, error) { return w.c.Issue.Query().Order(ent.Asc("id")).All(w.sys) },
		func() (any, error) { return w.c.Comment.Query().Order(ent.Asc("id")).All(w.sys) },
		func() (any, error) { return w.c.Label.Query().Order(ent.Asc("id")).All(w.sys) },
		func() (any, error) { return w.c.APIKey.Query().Order(ent.Asc("id")).All(w.sys) },
		func() (any, error) { return w.c.Event.Query().Order(ent.Asc("id")).All(w.sys) },
		func() (any, error) { return w.c.RefreshToken.Query().Order(ent.Asc("id")).All(w.sys) },
	} {
		rows, err := q()
		require.NoError(t, err)
		out = append(out, rows)
	}
	return fmt.Sprintf("%+v", out)
}

// errGenericDeny is any privacy denial that is neither ErrNotFound nor
// ErrForbidden (a rule's own Denyf, or DenyAll).
var errGenericDeny = errors.New("generic privacy denial")

// TestWriteDenials calls the ent client directly, as each kind of viewer,
// with one write per deny branch of every write rule: each is refused with
// the rule's error (ErrNotFound for a target the viewer cannot see,
// ErrForbidden for a role too low, a plain privacy denial otherwise) and
// changes no row.
func TestWriteDenials(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c := w.c
	anon := context.Background()
	const missing = int64(1_000_000)
	cases := []struct {
		name  string
		ctx   context.Context
		write func(ctx context.Context) error
		want  error
	}{
		// Organization.
		{"organization create anonymous", anon, func(ctx context.Context) error {
			return c.Organization.Create().SetSlug("x").SetName("x").Exec(ctx)
		}, errGenericDeny},
		{"organization create by an API key", w.asKey("ADMIN"), func(ctx context.Context) error {
			return c.Organization.Create().SetSlug("x").SetName("x").Exec(ctx)
		}, rule.ErrForbidden},
		{"organization bulk update", w.as(w.owner), func(ctx context.Context) error {
			return c.Organization.Update().SetName("x").Exec(ctx)
		}, errGenericDeny},
		{"organization update by an ADMIN", w.as(w.admin), func(ctx context.Context) error {
			return c.Organization.UpdateOneID(w.alpha).SetName("x").Exec(ctx)
		}, rule.ErrForbidden},
		{"organization update by an outsider", w.as(w.outsider), func(ctx context.Context) error {
			return c.Organization.UpdateOneID(w.alpha).SetName("x").Exec(ctx)
		}, rule.ErrNotFound},
		{"organization delete by an outsider", w.as(w.outsider), func(ctx context.Context) error {
			return c.Organization.DeleteOneID(w.alpha).Exec(ctx)
		}, rule.ErrNotFound},

		// Membership.
		{"membership create anonymous", anon, func(ctx context.Context) error {
			return c.Membership.Create().SetUserID(w.outsider).SetOrganizationID(w.alpha).Exec(ctx)
		}, errGenericDeny},
		{"membership create by a MEMBER", w.as(w.member), func(ctx context.Context) error {
			return c.Membership.Create().SetUserID(w.outsider).SetOrganizationID(w.alpha).SetRole(membership.RoleVIEWER).Exec(ctx)
		}, rule.ErrForbidden},
		{"membership create ADMIN by an ADMIN", w.as(w.admin), func(ctx context.Context) error {
			return c.Membership.Create().SetUserID(w.outsider).SetOrganizationID(w.alpha).SetRole(membership.RoleADMIN).Exec(ctx)
		}, rule.ErrForbidden},
		{"membership create in another organization", w.as(w.owner), func(ctx context.Context) error {
			return c.Membership.Create().SetUserID(w.member).SetOrganizationID(w.beta).Exec(ctx)
		}, rule.ErrNotFound},
		{"membership self-grant OWNER in an organization with members", w.as(w.outsider), func(ctx context.Context) error {
			return c.Membership.Create().SetUserID(w.outsider).SetOrganizationID(w.alpha).SetRole(membership.RoleOWNER).Exec(ctx)
		}, rule.ErrNotFound},
		{"membership bulk update", w.as(w.owner), func(ctx context.Context) error {
			return c.Membership.Update().SetRole(membership.RoleVIEWER).Exec(ctx)
		}, errGenericDeny},
		{"membership update of a missing row", w.as(w.owner), func(ctx context.Context) error {
			return c.Membership.UpdateOneID(missing).SetRole(membership.RoleVIEWER).Exec(ctx)
		}, rule.ErrNotFound},
		{"membership ADMIN demoted by an ADMIN", w.as(w.admin), func(ctx context.Context) error {
			return c.Membership.UpdateOneID(w.adminMembership).SetRole(membership.RoleMEMBER).Exec(ctx)
		}, rule.ErrForbidden},
		{"membership MEMBER promoted to ADMIN by an ADMIN", w.as(w.admin), func(ctx context.Context) error {
			return c.Membership.UpdateOneID(w.memberMembership).SetRole(membership.RoleADMIN).Exec(ctx)
		}, rule.ErrForbidden},
		{"membership removed by an outsider", w.as(w.outsider), func(ctx context.Context) error {
			return c.Membership.DeleteOneID(w.memberMembership).Exec(ctx)
		}, rule.ErrNotFound},
		{"membership of another removed by a VIEWER", w.as(w.viewerU), func(ctx context.Context) error {
			return c.Membership.DeleteOneID(w.memberMembership).Exec(ctx)
		}, rule.ErrForbidden},

		// Project.
		{"project create anonymous", anon, func(ctx context.Context) error {
			return c.Project.Create().SetOrganizationID(w.alpha).SetKey("NEW").SetName("x").Exec(ctx)
		}, errGenericDeny},
		{"project create by a MEMBER", w.as(w.member), func(ctx context.Context) error {
			return c.Project.Create().SetOrganizationID(w.alpha).SetKey("NEW").SetName("x").Exec(ctx)
		}, rule.ErrForbidden},
		{"project create by an outsider", w.as(w.outsider), func(ctx context.Context) error {
			return c.Project.Create().SetOrganizationID(w.alpha).SetKey("NEW").SetName("x").Exec(ctx)
		}, rule.ErrNotFound},
		{"project bulk update", w.as(w.owner), func(ctx context.Context) error {
			return c.Project.Update().SetName("x").Exec(ctx)
		}, errGenericDeny},
		{"project update of a missing row", w.as(w.owner), func(ctx context.Context) error {
			return c.Project.UpdateOneID(missing).SetName("x").Exec(ctx)
		}, rule.ErrNotFound},
		{"project renamed by a MEMBER", w.as(w.member), func(ctx context.Context) error {
			return c.Project.UpdateOneID(w.project).SetName("x").Exec(ctx)
		}, rule.ErrForbidden},
		{"project renamed with the issue counter by a MEMBER", w.as(w.member), func(ctx context.Context) error {
			return c.Project.UpdateOneID(w.project).AddIssueCount(1).SetName("x").Exec(ctx)
		}, rule.ErrForbidden},
		{"project issue counter by a VIEWER", w.as(w.viewerU), func(ctx context.Context) error {
			return c.Project.UpdateOneID(w.project).AddIssueCount(1).Exec(ctx)
		}, rule.ErrForbidden},

		// Issue.
		{"issue create anonymous", anon, func(ctx context.Context) error {
			return c.Issue.Create().SetProjectID(w.project).SetNumber(2).SetTitle("x").SetAuthorID(w.member).Exec(ctx)
		}, errGenericDeny},
		{"issue create in a missing project", w.as(w.member), func(ctx context.Context) error {
			return c.Issue.Create().SetProjectID(missing).SetNumber(2).SetTitle("x").SetAuthorID(w.member).Exec(ctx)
		}, rule.ErrNotFound},
		{"issue create by a VIEWER", w.as(w.viewerU), func(ctx context.Context) error {
			return c.Issue.Create().SetProjectID(w.project).SetNumber(2).SetTitle("x").SetAuthorID(w.viewerU).Exec(ctx)
		}, rule.ErrForbidden},
		{"issue bulk update", w.as(w.owner), func(ctx context.Context) error {
			return c.Issue.Update().SetTitle("x").Exec(ctx)
		}, errGenericDeny},
		{"issue update of a missing row", w.as(w.owner), func(ctx context.Context) error {
			return c.Issue.UpdateOneID(missing).SetTitle("x").Exec(ctx)
		}, rule.ErrNotFound},
		{"issue update by an outsider", w.as(w.outsider), func(ctx context.Context) error {
			return c.Issue.UpdateOneID(w.issue).SetTitle("x").Exec(ctx)
		}, rule.ErrNotFound},
		{"issue delete by a MEMBER", w.as(w.member), func(ctx context.Context) error {
			return c.Issue.DeleteOneID(w.issue).Exec(ctx)
		}, rule.ErrForbidden},

		// Comment.
		{"comment create anonymous", anon, func(ctx context.Context) error {
			return c.Comment.Create().SetIssueID(w.issue).SetAuthorID(w.member).SetBody("x").Exec(ctx)
		}, errGenericDeny},
		{"comment create on a missing issue", w.as(w.member), func(ctx context.Context) error {
			return c.Comment.Create().SetIssueID(missing).SetAuthorID(w.member).SetBody("x").Exec(ctx)
		}, rule.ErrNotFound},
		{"comment create as someone else", w.as(w.member), func(ctx context.Context) error {
			return c.Comment.Create().SetIssueID(w.issue).SetAuthorID(w.owner).SetBody("x").Exec(ctx)
		}, errGenericDeny},
		{"comment create by a VIEWER", w.as(w.viewerU), func(ctx context.Context) error {
			return c.Comment.Create().SetIssueID(w.issue).SetAuthorID(w.viewerU).SetBody("x").Exec(ctx)
		}, rule.ErrForbidden},
		{"comment bulk update", w.as(w.owner), func(ctx context.Context) error {
			return c.Comment.Update().SetBody("x").Exec(ctx)
		}, errGenericDeny},
		{"comment update of a missing row", w.as(w.owner), func(ctx context.Context) error {
			return c.Comment.UpdateOneID(missing).SetBody("x").Exec(ctx)
		}, rule.ErrNotFound},
		{"comment of another edited by a MEMBER", w.as(w.member), func(ctx context.Context) error {
			return c.Comment.UpdateOneID(w.comment).SetBody("x").Exec(ctx)
		}, rule.ErrForbidden},
		{"comment deleted by an outsider", w.as(w.outsider), func(ctx context.Context) error {
			return c.Comment.DeleteOneID(w.comment).Exec(ctx)
		}, rule.ErrNotFound},

		// Label.
		{"label create anonymous", anon, func(ctx context.Context) error {
			return c.Label.Create().SetOrganizationID(w.alpha).SetName("x").Exec(ctx)
		}, errGenericDeny},
		{"label create by a MEMBER", w.as(w.member), func(ctx context.Context) error {
			return c.Label.Create().SetOrganizationID(w.alpha).SetName("x").Exec(ctx)
		}, rule.ErrForbidden},
		{"label bulk update", w.as(w.owner), func(ctx context.Context) error {
			return c.Label.Update().SetName("x").Exec(ctx)
		}, errGenericDeny},
		{"label update of a missing row", w.as(w.owner), func(ctx context.Context) error {
			return c.Label.UpdateOneID(missing).SetName("x").Exec(ctx)
		}, rule.ErrNotFound},
		{"label deleted by a MEMBER", w.as(w.member), func(ctx context.Context) error {
			return c.Label.DeleteOneID(w.label).Exec(ctx)
		}, rule.ErrForbidden},
		{"label deleted by an outsider", w.as(w.outsider), func(ctx context.Context) error {
			return c.Label.DeleteOneID(w.label).Exec(ctx)
		}, rule.ErrNotFound},

		// Event.
		{"event create anonymous", anon, func(ctx context.Context) error {
			return c.Event.Create().SetType("x").SetOrganizationID(w.alpha).SetSubjectID(1).Exec(ctx)
		}, errGenericDeny},
		{"event update", w.as(w.owner), func(ctx context.Context) error {
			return c.Event.UpdateOneID(w.event).SetPublished(true).Exec(ctx)
		}, errGenericDeny},
		{"event delete", w.as(w.owner), func(ctx context.Context) error {
			return c.Event.DeleteOneID(w.event).Exec(ctx)
		}, errGenericDeny},
		{"event create in another organization", w.as(w.outsider), func(ctx context.Context) error {
			return c.Event.Create().SetType("x").SetOrganizationID(w.alpha).SetSubjectID(1).Exec(ctx)
		}, rule.ErrNotFound},

		// User.
		{"user update anonymous", anon, func(ctx context.Context) error {
			return c.User.UpdateOneID(w.member).SetName("x").Exec(ctx)
		}, errGenericDeny},
		{"user create by a user", w.as(w.member), func(ctx context.Context) error {
			return c.User.Create().SetEmail("new@example.com").SetName("x").SetPasswordHash("-").Exec(ctx)
		}, errGenericDeny},
		{"user update of another user", w.as(w.owner), func(ctx context.Context) error {
			return c.User.UpdateOneID(w.member).SetName("x").Exec(ctx)
		}, errGenericDeny},
		{"user delete of oneself", w.as(w.member), func(ctx context.Context) error {
			return c.User.DeleteOneID(w.member).Exec(ctx)
		}, errGenericDeny},

		// API key.
		{"API key create anonymous", anon, func(ctx context.Context) error {
			return c.APIKey.Create().SetOrganizationID(w.alpha).SetName("x").SetPrefix("p").SetKeyHash("h2").SetRole(apikey.RoleVIEWER).Exec(ctx)
		}, errGenericDeny},
		{"API key delete", w.as(w.owner), func(ctx context.Context) error {
			return c.APIKey.DeleteOneID(w.key).Exec(ctx)
		}, errGenericDeny},
		{"API key revoke of a missing key", w.as(w.owner), func(ctx context.Context) error {
			return c.APIKey.UpdateOneID(missing).SetRevokedAt(time.Now()).Exec(ctx)
		}, rule.ErrNotFound},
		{"API key create by an outsider", w.as(w.outsider), func(ctx context.Context) error {
			return c.APIKey.Create().SetOrganizationID(w.alpha).SetName("x").SetPrefix("p").SetKeyHash("h2").SetRole(apikey.RoleVIEWER).Exec(ctx)
		}, rule.ErrNotFound},
		{"API key create by an API key", w.asKey("ADMIN"), func(ctx context.Context) error {
			return c.APIKey.Create().SetOrganizationID(w.alpha).SetName("x").SetPrefix("p").SetKeyHash("h2").SetRole(apikey.RoleVIEWER).Exec(ctx)
		}, rule.ErrForbidden},
		{"API key create by a MEMBER", w.as(w.member), func(ctx context.Context) error {
			return c.APIKey.Create().SetOrganizationID(w.alpha).SetName("x").SetPrefix("p").SetKeyHash("h2").SetRole(apikey.RoleVIEWER).Exec(ctx)
		}, rule.ErrForbidden},
		{"API key revoke by a MEMBER", w.as(w.member), func(ctx context.Context) error {
			return c.APIKey.UpdateOneID(w.key).SetRevokedAt(time.Now()).Exec(ctx)
		}, rule.ErrForbidden},

		// Refresh tokens: the system's alone.
		{"refresh token revoked by its owner", w.as(w.member), func(ctx context.Context) error {
			return c.RefreshToken.UpdateOneID(w.refreshToken).SetRevokedAt(time.Now()).Exec(ctx)
		}, errGenericDeny},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := w.snapshot(t)
			err := tc.write(tc.ctx)
			require.Error(t, err)
			require.ErrorIs(t, err, privacy.Deny, "a privacy denial: %v", err)
			switch tc.want {
			case errGenericDeny:
				assert.NotErrorIs(t, err, rule.ErrNotFound, "%v", err)
				assert.NotErrorIs(t, err, rule.ErrForbidden, "%v", err)
			default:
				assert.ErrorIs(t, err, tc.want)
			}
			assert.Equal(t, before, w.snapshot(t), "a refused write changes no row")
		})
	}
}

// TestWritesAllowedByRole is the other side of the denials: the same rules
// let the least role through.
func TestWritesAllowedByRole(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c := w.c
	require.NoError(t, c.Project.UpdateOneID(w.project).AddIssueCount(1).Exec(w.as(w.member)), "a MEMBER takes the next issue number")
	require.NoError(t, c.Comment.UpdateOneID(w.comment).SetBody("edited").Exec(w.as(w.admin)), "an ADMIN edits any comment")
	require.NoError(t, c.Membership.DeleteOneID(w.memberMembership).Exec(w.as(w.member)), "a member leaves")
	require.NoError(t, c.User.UpdateOneID(w.viewerU).SetName("me").Exec(w.as(w.viewerU)), "a user changes their own account")
	require.NoError(t, c.APIKey.UpdateOneID(w.key).SetRevokedAt(time.Now()).Exec(w.as(w.admin)), "an ADMIN revokes a key")
	require.NoError(t, c.Organization.Create().SetSlug("mine").SetName("Mine").Exec(w.as(w.outsider)), "anyone signed in creates an organization")
	n, err := c.Comment.Delete().Where(comment.IssueID(w.issue)).Exec(w.as(w.outsider))
	require.NoError(t, err)
	assert.Zero(t, n, "a bulk delete only reaches the viewer's ADMIN organizations")
	left, err := c.Comment.Query().Where(comment.IssueID(w.issue)).Count(w.sys)
	require.NoError(t, err)
	assert.Equal(t, 1, left)
	n, err = c.Comment.Delete().Where(comment.IssueID(w.issue)).Exec(w.as(w.admin))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "an ADMIN deletes an issue's comments with it")
	require.NoError(t, c.Issue.DeleteOneID(w.issue).Exec(w.as(w.admin)), "an ADMIN deletes an issue")
	gone, err := c.Issue.Query().Where(issue.ID(w.issue)).Exist(w.sys)
	require.NoError(t, err)
	assert.False(t, gone)
}

// TestIssuesAndCommentsCarryTheirOrganization: the organization an issue
// or comment is filtered by is always its parent's, whatever the creator
// set, so the row-local privacy filter says the same as a join through
// project and issue would.
func TestIssuesAndCommentsCarryTheirOrganization(t *testing.T) {
	w := newWorld(t)
	i, err := w.c.Issue.Create().SetProjectID(w.project).SetNumber(99).SetTitle("t").SetAuthorID(w.owner).
		SetOrganizationID(w.beta).Save(w.sys)
	require.NoError(t, err)
	assert.Equal(t, w.alpha, i.OrganizationID, "an issue's organization is its project's")
	c, err := w.c.Comment.Create().SetIssueID(i.ID).SetAuthorID(w.owner).SetBody("b").
		SetOrganizationID(w.beta).Save(w.sys)
	require.NoError(t, err)
	assert.Equal(t, w.alpha, c.OrganizationID, "a comment's organization is its issue's")

	// Every row agrees with its parent.
	var wrong []struct {
		N int `sql:"n"`
	}
	require.NoError(t, w.c.Issue.Query().Modify(func(s *sql.Selector) {
		p := sql.Table(project.Table)
		s.Join(p).On(s.C(issue.FieldProjectID), p.C(project.FieldID)).
			Where(sql.ColumnsNEQ(s.C(issue.FieldOrganizationID), p.C(project.FieldOrganizationID))).
			Select(sql.As(sql.Count("*"), "n"))
	}).Scan(w.sys, &wrong))
	assert.Equal(t, 0, wrong[0].N)
	wrong = nil
	require.NoError(t, w.c.Comment.Query().Modify(func(s *sql.Selector) {
		i := sql.Table(issue.Table)
		s.Join(i).On(s.C(comment.FieldIssueID), i.C(issue.FieldID)).
			Where(sql.ColumnsNEQ(s.C(comment.FieldOrganizationID), i.C(issue.FieldOrganizationID))).
			Select(sql.As(sql.Count("*"), "n"))
	}).Scan(w.sys, &wrong))
	assert.Equal(t, 0, wrong[0].N)

	// A member of beta (the outsider) does not see them; alpha's owner does.
	outsider := viewer.NewContext(context.Background(), viewer.Viewer{UserID: w.outsider})
	n, err := w.c.Comment.Query().Where(comment.ID(c.ID)).Count(outsider)
	require.NoError(t, err)
	assert.Zero(t, n)
	owner := viewer.NewContext(context.Background(), viewer.Viewer{UserID: w.owner})
	n, err = w.c.Comment.Query().Where(comment.ID(c.ID)).Count(owner)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}
