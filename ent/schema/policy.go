package schema

import (
	"entgo.io/ent"

	"github.com/issuegraph/issuegraph/ent/ent/privacy"
	"github.com/issuegraph/issuegraph/ent/rule"
)

// policy builds a default-deny privacy policy: the system passes, then the
// read filter or write rule of the schema decides, and whatever no rule
// allowed is denied. A nil rule leaves that side to the system alone.
func policy(read privacy.QueryRule, write privacy.MutationRule) ent.Policy {
	q := privacy.QueryPolicy{rule.AllowSystem()}
	if read != nil {
		q = append(q, read)
	}
	m := privacy.MutationPolicy{rule.AllowSystem()}
	if write != nil {
		m = append(m, write)
	}
	return privacy.Policy{
		Query:    append(q, rule.DenyAll()),
		Mutation: append(m, rule.DenyAll()),
	}
}

// Policy of the Organization.
func (Organization) Policy() ent.Policy {
	return policy(rule.FilterOrganizations(), rule.OrganizationWrite())
}

// Policy of the Membership.
func (Membership) Policy() ent.Policy {
	return policy(rule.FilterMemberships(), rule.MembershipWrite())
}

// Policy of the Project.
func (Project) Policy() ent.Policy { return policy(rule.FilterProjects(), rule.ProjectWrite()) }

// Policy of the Issue.
func (Issue) Policy() ent.Policy { return policy(rule.FilterIssues(), rule.IssueWrite()) }

// Policy of the Comment.
func (Comment) Policy() ent.Policy { return policy(rule.FilterComments(), rule.CommentWrite()) }

// Policy of the Label.
func (Label) Policy() ent.Policy { return policy(rule.FilterLabels(), rule.LabelWrite()) }

// Policy of the User.
func (User) Policy() ent.Policy { return policy(rule.FilterUsers(), rule.UserWrite()) }

// Policy of the Event.
func (Event) Policy() ent.Policy { return policy(rule.FilterEvents(), rule.EventWrite()) }

// Policy of the RefreshToken: only the token service (as the system) reads
// or writes refresh tokens.
func (RefreshToken) Policy() ent.Policy { return policy(nil, nil) }

// Policy of the APIKey.
func (APIKey) Policy() ent.Policy { return policy(rule.FilterAPIKeys(), rule.APIKeyWrite()) }
