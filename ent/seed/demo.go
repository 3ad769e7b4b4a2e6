package seed

import (
	"context"
	"fmt"
	"time"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/issue"
	"github.com/issuegraph/issuegraph/ent/ent/membership"
)

// DemoPassword is the password of every demo account.
const DemoPassword = "issuegraph-demo"

// DemoUsers are the demo accounts' emails, the first one an OWNER.
var DemoUsers = []string{"ada@example.com", "grace@example.com", "linus@example.com"}

// IsEmpty reports whether the database has no users yet.
func IsEmpty(ctx context.Context, client *ent.Client) (bool, error) {
	n, err := client.User.Query().Count(ctx)
	if err != nil {
		return false, fmt.Errorf("counting users: %w", err)
	}
	return n == 0, nil
}

// Demo loads the demo organization "acme" in one transaction: three users
// (password DemoPassword, hashed as passwordHash), two projects, five
// labels, 32 issues and their comments. It is deterministic.
func Demo(ctx context.Context, client *ent.Client, passwordHash string) error {
	tx, err := client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("starting demo seed: %w", err)
	}
	if err := demo(ctx, tx, passwordHash); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("seeding demo data: %w", err)
	}
	return tx.Commit()
}

func demo(ctx context.Context, tx *ent.Tx, passwordHash string) error {
	names := []string{"Ada Lovelace", "Grace Hopper", "Linus Torvalds"}
	roles := []membership.Role{membership.RoleOWNER, membership.RoleADMIN, membership.RoleMEMBER}
	org, err := tx.Organization.Create().SetSlug("acme").SetName("Acme Inc").Save(ctx)
	if err != nil {
		return err
	}
	users := make([]*ent.User, len(DemoUsers))
	for i, email := range DemoUsers {
		if users[i], err = tx.User.Create().SetEmail(email).SetName(names[i]).SetPasswordHash(passwordHash).Save(ctx); err != nil {
			return err
		}
		if err := tx.Membership.Create().SetOrganization(org).SetUser(users[i]).SetRole(roles[i]).Exec(ctx); err != nil {
			return err
		}
	}
	labelSpecs := [][2]string{{"bug", "#d73a4a"}, {"feature", "#a2eeef"}, {"docs", "#0075ca"}, {"performance", "#fbca04"}, {"security", "#b60205"}}
	labels := make([]*ent.Label, len(labelSpecs))
	for i, l := range labelSpecs {
		if labels[i], err = tx.Label.Create().SetOrganization(org).SetName(l[0]).SetColor(l[1]).Save(ctx); err != nil {
			return err
		}
	}
	titles := []string{
		"Board loads slowly for large projects", "Add keyboard shortcuts to the issue page", "Document the GraphQL rate limits",
		"Crash when a label name has an emoji", "Support dark mode in GraphiQL", "Paginate comments on mobile",
		"Rotate the signing key without downtime", "Show who is viewing an issue", "Export issues as CSV",
		"Search by assignee and label together", "Cache the organization sidebar", "Sign-in form should trim spaces",
		"Notify assignees on mention", "Archive old projects automatically", "Add a changelog page",
		"Reduce memory of the WebSocket hub",
	}
	statuses := []issue.Status{issue.StatusTODO, issue.StatusIN_PROGRESS, issue.StatusBACKLOG, issue.StatusDONE, issue.StatusTODO, issue.StatusCANCELED}
	priorities := []issue.Priority{issue.PriorityHIGH, issue.PriorityMEDIUM, issue.PriorityLOW, issue.PriorityURGENT, issue.PriorityNONE}
	base := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	for pi, spec := range [][2]string{{"ENG", "Engineering"}, {"OPS", "Operations"}} {
		count := 24
		if pi == 1 {
			count = 8
		}
		p, err := tx.Project.Create().SetOrganization(org).SetKey(spec[0]).SetName(spec[1]).
			SetDescription(spec[1] + " work at Acme.").SetIssueCount(count).Save(ctx)
		if err != nil {
			return err
		}
		for n := 1; n <= count; n++ {
			k := n + pi*7
			at := base.Add(time.Duration(k) * 7 * time.Hour)
			c := tx.Issue.Create().SetProject(p).SetNumber(n).SetTitle(titles[k%len(titles)]).
				SetBody("Steps, context and acceptance criteria for " + titles[k%len(titles)] + ".").
				SetStatus(statuses[k%len(statuses)]).SetPriority(priorities[k%len(priorities)]).
				SetAuthor(users[k%3]).SetCreatedAt(at).SetUpdatedAt(at.Add(time.Duration(k%5) * time.Hour)).
				AddLabels(labels[k%len(labels)])
			if k%3 != 2 {
				c.SetAssignee(users[(k+1)%3])
			}
			if k%4 == 0 {
				c.AddLabels(labels[(k+2)%len(labels)])
			}
			if s := statuses[k%len(statuses)]; s == issue.StatusDONE || s == issue.StatusCANCELED {
				c.SetClosedAt(at.Add(48 * time.Hour))
			}
			is, err := c.Save(ctx)
			if err != nil {
				return err
			}
			for j := 0; j < k%4; j++ {
				err := tx.Comment.Create().SetIssue(is).SetAuthor(users[(k+j)%3]).
					SetBody(fmt.Sprintf("Comment %d on %s-%d.", j+1, spec[0], n)).
					SetCreatedAt(at.Add(time.Duration(j+1) * time.Hour)).Exec(ctx)
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}
