package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/ent/user"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// roles in the order of what they may do, most first.
var roles = []string{"OWNER", "ADMIN", "MEMBER", "VIEWER"}

func roleRank(r string) int {
	for i, x := range roles {
		if x == r {
			return len(roles) - i
		}
	}
	return 0
}

// actor is a signed-in user with one role, either in organization alpha
// (same: where every object under test lives) or only in organization beta
// (other).
type actor struct {
	role   string
	same   bool
	email  string
	userID int64
	client *servertest.Client
}

func (a actor) String() string {
	if a.same {
		return a.role + "/same-org"
	}
	return a.role + "/other-org"
}

// world is two organizations with the objects the matrix reads and writes.
// alpha (ALP) is where every target lives; beta (BET) holds the objects that
// members of alpha must not reach. "bridge" belongs to both, with an issue
// assigned in each, to test edges that cross organizations.
type world struct {
	env        *servertest.Env
	boss, bbos *servertest.Client // OWNERs who build alpha and beta
	id         map[string]string  // global IDs by name
	actors     []actor
	seq        atomic.Int64
}

func (w *world) next() int64 { return w.seq.Add(1) }

// do runs a query and fails the test unless it succeeded; it returns data.
func do(t *testing.T, c *servertest.Client, q string, vars map[string]any) map[string]any {
	t.Helper()
	var out map[string]any
	c.Do(t, q, vars).MustOK(t).Decode(t, &out)
	return out
}

// dig walks a decoded response by keys.
func dig(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any, path ...string) string { s, _ := dig(v, path...).(string); return s }

// mutate runs one mutation as c, requires no user errors, and returns the
// payload.
func mutate(t *testing.T, c *servertest.Client, field, inputType string, in map[string]any, selection string) map[string]any {
	t.Helper()
	q := fmt.Sprintf(`mutation($in:%s!){ %s(input:$in){ %s userErrors{ field message code } } }`, inputType, field, selection)
	out := do(t, c, q, map[string]any{"in": in})
	payload, _ := out[field].(map[string]any)
	require.Empty(t, payload["userErrors"], "%s as fixture builder", field)
	return payload
}

func (w *world) userID(t *testing.T, email string) int64 {
	t.Helper()
	id, err := w.env.DB.Client.User.Query().Where(user.Email(email)).OnlyID(viewer.SystemContext(context.Background()))
	require.NoError(t, err)
	return id
}

// freshUser creates an account directly (no password hashing needed: it
// never signs in) and returns its email.
func (w *world) freshUser(t *testing.T) string {
	t.Helper()
	email := fmt.Sprintf("fresh%d@example.com", w.next())
	err := w.env.DB.Client.User.Create().SetEmail(email).SetName("Fresh").SetPasswordHash("-").
		Exec(viewer.SystemContext(context.Background()))
	require.NoError(t, err)
	return email
}

// freshMembership adds a fresh user to alpha with role and returns the
// membership's ID.
func (w *world) freshMembership(t *testing.T, role string) string {
	t.Helper()
	return addMembership(t, w.env, w.id["orgA"], w.freshUser(t), role)
}

func (w *world) freshProject(t *testing.T) string {
	t.Helper()
	p := mutate(t, w.boss, "createProject", "CreateProjectInput", map[string]any{"organizationId": w.id["orgA"], "key": fmt.Sprintf("F%d", w.next()), "name": "Fresh"}, "project{ id }")
	return str(p, "project", "id")
}

func (w *world) freshIssue(t *testing.T, closed bool) string {
	t.Helper()
	p := mutate(t, w.boss, "createIssue", "CreateIssueInput", map[string]any{"projectId": w.id["projA"], "title": "Fresh"}, "issue{ id }")
	id := str(p, "issue", "id")
	if closed {
		mutate(t, w.boss, "closeIssue", "CloseIssueInput", map[string]any{"issueId": id}, "issue{ id }")
	}
	return id
}

func (w *world) freshComment(t *testing.T) string {
	t.Helper()
	p := mutate(t, w.boss, "addComment", "AddCommentInput", map[string]any{"issueId": w.id["issueA1"], "body": "by the owner"}, "comment{ id }")
	return str(p, "comment", "id")
}

// ownComment is a comment on alpha's ALP-1 written by a. It is inserted
// directly because an actor who may not comment (a VIEWER, a former
// member now only in beta) may still have authored one earlier.
func (w *world) ownComment(t *testing.T, a actor) string {
	t.Helper()
	issueID := w.dbID(t, w.id["issueA1"])
	c, err := w.env.DB.Client.Comment.Create().SetIssueID(issueID).SetAuthorID(a.userID).SetBody("mine").
		Save(viewer.SystemContext(context.Background()))
	require.NoError(t, err)
	return gid("Comment", c.ID)
}

func (w *world) freshLabel(t *testing.T) string {
	t.Helper()
	p := mutate(t, w.boss, "createLabel", "CreateLabelInput", map[string]any{"organizationId": w.id["orgA"], "name": fmt.Sprintf("fresh-%d", w.next())}, "label{ id }")
	return str(p, "label", "id")
}

// gid and dbID let fixtures inserted directly into the database be named
// through the API; the format is the server's (base64url of "Type:id").
func gid(typ string, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%s:%d", typ, id)))
}

func (w *world) dbID(t *testing.T, g string) int64 { return dbIDOf(t, g) }

func newWorld(t *testing.T) *world {
	t.Helper()
	env := servertest.Start(t)
	w := &world{env: env, id: map[string]string{}}
	w.boss = env.As(env.SignUp(t, "boss@example.com", "Boss"))
	w.bbos = env.As(env.SignUp(t, "beta-boss@example.com", "Beta Boss"))
	w.id["orgA"] = str(mutate(t, w.boss, "createOrganization", "CreateOrganizationInput", map[string]any{"slug": "alpha", "name": "Alpha"}, "organization{ id }"), "organization", "id")
	w.id["orgB"] = str(mutate(t, w.bbos, "createOrganization", "CreateOrganizationInput", map[string]any{"slug": "beta", "name": "Beta"}, "organization{ id }"), "organization", "id")
	w.id["projA"] = str(mutate(t, w.boss, "createProject", "CreateProjectInput", map[string]any{"organizationId": w.id["orgA"], "key": "ALP", "name": "Alpha project"}, "project{ id }"), "project", "id")
	w.id["projB"] = str(mutate(t, w.bbos, "createProject", "CreateProjectInput", map[string]any{"organizationId": w.id["orgB"], "key": "BET", "name": "Beta project"}, "project{ id }"), "project", "id")
	w.id["labelA"] = str(mutate(t, w.boss, "createLabel", "CreateLabelInput", map[string]any{"organizationId": w.id["orgA"], "name": "bug"}, "label{ id }"), "label", "id")
	w.id["labelB"] = str(mutate(t, w.bbos, "createLabel", "CreateLabelInput", map[string]any{"organizationId": w.id["orgB"], "name": "secret"}, "label{ id }"), "label", "id")

	// bridge belongs to both organizations.
	env.SignUp(t, "bridge@example.com", "Bridge")
	w.id["membershipBridgeA"] = addMembership(t, env, w.id["orgA"], "bridge@example.com", "")
	addMembership(t, env, w.id["orgB"], "bridge@example.com", "")
	w.id["bridge"] = gid("User", w.userID(t, "bridge@example.com"))
	w.id["boss"] = gid("User", w.userID(t, "boss@example.com"))

	w.id["issueA1"] = str(mutate(t, w.boss, "createIssue", "CreateIssueInput", map[string]any{"projectId": w.id["projA"], "title": "First", "labelIds": []string{w.id["labelA"]}}, "issue{ id }"), "issue", "id")
	w.id["issueA2"] = str(mutate(t, w.boss, "createIssue", "CreateIssueInput", map[string]any{"projectId": w.id["projA"], "title": "Second", "status": "IN_PROGRESS", "assigneeId": w.id["bridge"]}, "issue{ id }"), "issue", "id")
	w.id["issueB1"] = str(mutate(t, w.bbos, "createIssue", "CreateIssueInput", map[string]any{"projectId": w.id["projB"], "title": "Beta secret", "assigneeId": w.id["bridge"], "labelIds": []string{w.id["labelB"]}}, "issue{ id }"), "issue", "id")
	w.id["commentA"] = str(mutate(t, w.boss, "addComment", "AddCommentInput", map[string]any{"issueId": w.id["issueA1"], "body": "Hello"}, "comment{ id }"), "comment", "id")
	members := dig(do(t, w.boss, `{ organization(slug:"alpha"){ members(first:1){ edges{ node{ id } } } } }`, nil), "organization", "members", "edges").([]any)
	w.id["membershipBossA"] = str(members[0], "node", "id")

	// former commented on ALP-1, then was removed from alpha: still the
	// author of that comment, visible as such to alpha's members only.
	env.SignUp(t, "former@example.com", "Former")
	formerMembership := addMembership(t, env, w.id["orgA"], "former@example.com", "")
	c, err := env.DB.Client.Comment.Create().SetIssueID(w.dbID(t, w.id["issueA1"])).SetAuthorID(w.userID(t, "former@example.com")).SetBody("Bye").
		Save(viewer.SystemContext(context.Background()))
	require.NoError(t, err)
	w.id["formerComment"] = gid("Comment", c.ID)
	mutate(t, w.boss, "removeMember", "RemoveMemberInput", map[string]any{"membershipId": formerMembership}, "removedMembershipId")

	w.id["keyA"] = str(mutate(t, w.boss, "createAPIKey", "CreateAPIKeyInput", map[string]any{"organizationId": w.id["orgA"], "name": "CI"}, "apiKey{ id }"), "apiKey", "id")

	for _, same := range []bool{true, false} {
		for _, role := range roles {
			org, slug := w.id["orgA"], "a"
			if !same {
				org, slug = w.id["orgB"], "b"
			}
			email := fmt.Sprintf("%s-%s@example.com", strings.ToLower(role), slug)
			token := env.SignUp(t, email, fmt.Sprintf("%s %s", role, slug))
			addMembership(t, env, org, email, role)
			w.actors = append(w.actors, actor{role: role, same: same, email: email, userID: w.userID(t, email), client: env.As(token)})
		}
	}
	return w
}

// readCase is one query field or edge; want gives the exact data an actor
// must get.
type readCase struct {
	name  string
	query string
	vars  func(w *world) map[string]any
	want  func(a actor) string
}

// vis expects visible when the actor is a member of alpha, hidden
// otherwise.
func vis(visible, hidden string) func(actor) string {
	return func(a actor) string {
		if a.same {
			return visible
		}
		return hidden
	}
}

func ids(names ...string) func(w *world) map[string]any {
	return func(w *world) map[string]any {
		out := map[string]any{}
		for _, n := range names {
			out[n] = w.id[n]
		}
		return out
	}
}

func readCases() []readCase {
	return []readCase{
		{"organization", `{ organization(slug:"alpha"){ slug name } }`, nil,
			vis(`{"organization":{"slug":"alpha","name":"Alpha"}}`, `{"organization":null}`)},
		{"organization.viewerRole", `{ organization(slug:"alpha"){ viewerRole } }`, nil,
			func(a actor) string {
				if !a.same {
					return `{"organization":null}`
				}
				return fmt.Sprintf(`{"organization":{"viewerRole":%q}}`, a.role)
			}},
		{"organization.members.totalCount", `{ organization(slug:"alpha"){ members{ totalCount } } }`, nil,
			vis(`{"organization":{"members":{"totalCount":6}}}`, `{"organization":null}`)},
		{"organization.projects", `{ organization(slug:"alpha"){ projects{ totalCount edges{ node{ key } } } } }`, nil,
			vis(`{"organization":{"projects":{"totalCount":1,"edges":[{"node":{"key":"ALP"}}]}}}`, `{"organization":null}`)},
		{"organization.project", `{ organization(slug:"alpha"){ project(key:"ALP"){ name } } }`, nil,
			vis(`{"organization":{"project":{"name":"Alpha project"}}}`, `{"organization":null}`)},
		{"organization.labels", `{ organization(slug:"alpha"){ labels{ totalCount edges{ node{ name } } } } }`, nil,
			vis(`{"organization":{"labels":{"totalCount":1,"edges":[{"node":{"name":"bug"}}]}}}`, `{"organization":null}`)},
		{"project", `{ project(organization:"alpha", key:"ALP"){ key organization{ slug } } }`, nil,
			vis(`{"project":{"key":"ALP","organization":{"slug":"alpha"}}}`, `{"project":null}`)},
		{"project.issues", `{ project(organization:"alpha", key:"ALP"){ issues(orderBy:{field:NUMBER,direction:ASC}){ totalCount edges{ node{ key } } } } }`, nil,
			vis(`{"project":{"issues":{"totalCount":2,"edges":[{"node":{"key":"ALP-1"}},{"node":{"key":"ALP-2"}}]}}}`, `{"project":null}`)},
		{"project.issues(filter)", `query($labelA:ID!){ project(organization:"alpha", key:"ALP"){ issues(filter:{status:[TODO], labelIds:[$labelA]}){ totalCount edges{ node{ key } } } } }`, ids("labelA"),
			vis(`{"project":{"issues":{"totalCount":1,"edges":[{"node":{"key":"ALP-1"}}]}}}`, `{"project":null}`)},
		{"project.issue", `{ project(organization:"alpha", key:"ALP"){ issue(number:1){ title } } }`, nil,
			vis(`{"project":{"issue":{"title":"First"}}}`, `{"project":null}`)},
		{"issue", `{ issue(key:"ALP-1"){ key title author{ name } } }`, nil,
			vis(`{"issue":{"key":"ALP-1","title":"First","author":{"name":"Boss"}}}`, `{"issue":null}`)},
		{"issue(other organization's key)", `{ issue(key:"BET-1"){ key } }`, nil,
			vis(`{"issue":null}`, `{"issue":{"key":"BET-1"}}`)},
		{"issue.assignee", `{ issue(key:"ALP-2"){ assignee{ name } } }`, nil,
			vis(`{"issue":{"assignee":{"name":"Bridge"}}}`, `{"issue":null}`)},
		{"issue.labels", `{ issue(key:"ALP-1"){ labels{ totalCount edges{ node{ name } } } } }`, nil,
			vis(`{"issue":{"labels":{"totalCount":1,"edges":[{"node":{"name":"bug"}}]}}}`, `{"issue":null}`)},
		{"issue.comments", `{ issue(key:"ALP-1"){ comments{ totalCount edges{ node{ body author{ name } } } } } }`, nil,
			vis(`{"issue":{"comments":{"totalCount":2,"edges":[{"node":{"body":"Hello","author":{"name":"Boss"}}},{"node":{"body":"Bye","author":{"name":"Former"}}}]}}}`, `{"issue":null}`)},
		{"Comment.author who left the organization", `query($formerComment:ID!){ node(id:$formerComment){ ... on Comment{ author{ name email } } } }`, ids("formerComment"),
			vis(`{"node":{"author":{"name":"Former","email":"former@example.com"}}}`, `{"node":null}`)},
		{"issue.project", `{ issue(key:"ALP-1"){ project{ key } } }`, nil,
			vis(`{"issue":{"project":{"key":"ALP"}}}`, `{"issue":null}`)},
		{"node(Organization)", `query($orgA:ID!){ node(id:$orgA){ ... on Organization{ slug } } }`, ids("orgA"),
			vis(`{"node":{"slug":"alpha"}}`, `{"node":null}`)},
		{"node(Project)", `query($projA:ID!){ node(id:$projA){ ... on Project{ key } } }`, ids("projA"),
			vis(`{"node":{"key":"ALP"}}`, `{"node":null}`)},
		{"node(Project) of the other organization", `query($projB:ID!){ node(id:$projB){ ... on Project{ key } } }`, ids("projB"),
			vis(`{"node":null}`, `{"node":{"key":"BET"}}`)},
		{"node(Issue)", `query($issueA1:ID!){ node(id:$issueA1){ ... on Issue{ key } } }`, ids("issueA1"),
			vis(`{"node":{"key":"ALP-1"}}`, `{"node":null}`)},
		{"node(Comment).issue.author", `query($commentA:ID!){ node(id:$commentA){ ... on Comment{ body issue{ key } author{ name } } } }`, ids("commentA"),
			vis(`{"node":{"body":"Hello","issue":{"key":"ALP-1"},"author":{"name":"Boss"}}}`, `{"node":null}`)},
		{"node(Label).organization", `query($labelA:ID!){ node(id:$labelA){ ... on Label{ name organization{ slug } } } }`, ids("labelA"),
			vis(`{"node":{"name":"bug","organization":{"slug":"alpha"}}}`, `{"node":null}`)},
		{"node(Membership).user.organization", `query($membershipBossA:ID!){ node(id:$membershipBossA){ ... on Membership{ role user{ name } organization{ slug } } } }`, ids("membershipBossA"),
			vis(`{"node":{"role":"OWNER","user":{"name":"Boss"},"organization":{"slug":"alpha"}}}`, `{"node":null}`)},
		{"node(User).email", `query($boss:ID!){ node(id:$boss){ ... on User{ name email } } }`, ids("boss"),
			vis(`{"node":{"name":"Boss","email":"boss@example.com"}}`, `{"node":null}`)},
		{"nodes(mixed organizations)", `query($issueA1:ID!,$issueB1:ID!,$labelA:ID!,$labelB:ID!){ nodes(ids:[$issueA1,$issueB1,$labelA,$labelB]){ __typename } }`, ids("issueA1", "issueB1", "labelA", "labelB"),
			vis(`{"nodes":[{"__typename":"Issue"},null,{"__typename":"Label"},null]}`, `{"nodes":[null,{"__typename":"Issue"},null,{"__typename":"Label"}]}`)},
		{"User.assignedIssues across organizations", `query($bridge:ID!){ node(id:$bridge){ ... on User{ name assignedIssues{ totalCount edges{ node{ key } } } } } }`, ids("bridge"),
			vis(`{"node":{"name":"Bridge","assignedIssues":{"totalCount":1,"edges":[{"node":{"key":"ALP-2"}}]}}}`,
				`{"node":{"name":"Bridge","assignedIssues":{"totalCount":1,"edges":[{"node":{"key":"BET-1"}}]}}}`)},
		{"User.assignedIssues(filter) across organizations", `query($bridge:ID!){ node(id:$bridge){ ... on User{ assignedIssues(filter:{status:[TODO, IN_PROGRESS]}){ totalCount } } } }`, ids("bridge"),
			vis(`{"node":{"assignedIssues":{"totalCount":1}}}`, `{"node":{"assignedIssues":{"totalCount":1}}}`)},
		{"User.memberships across organizations", `query($bridge:ID!){ node(id:$bridge){ ... on User{ memberships{ totalCount edges{ node{ organization{ slug } } } } } } }`, ids("bridge"),
			vis(`{"node":{"memberships":{"totalCount":1,"edges":[{"node":{"organization":{"slug":"alpha"}}}]}}}`,
				`{"node":{"memberships":{"totalCount":1,"edges":[{"node":{"organization":{"slug":"beta"}}}]}}}`)},
		{"organization.apiKeys", `{ organization(slug:"alpha"){ apiKeys{ totalCount edges{ node{ name role } } } } }`, nil,
			func(a actor) string {
				switch {
				case !a.same:
					return `{"organization":null}`
				case roleRank(a.role) >= roleRank("ADMIN"):
					return `{"organization":{"apiKeys":{"totalCount":1,"edges":[{"node":{"name":"CI","role":"VIEWER"}}]}}}`
				}
				return `{"organization":{"apiKeys":{"totalCount":0,"edges":[]}}}`
			}},
		{"node(APIKey).organization.createdBy", `query($keyA:ID!){ node(id:$keyA){ ... on APIKey{ name organization{ slug } createdBy{ name } } } }`, ids("keyA"),
			func(a actor) string {
				if a.same && roleRank(a.role) >= roleRank("ADMIN") {
					return `{"node":{"name":"CI","organization":{"slug":"alpha"},"createdBy":{"name":"Boss"}}}`
				}
				return `{"node":null}`
			}},
		{"viewer.memberships", `{ viewer{ memberships{ totalCount edges{ node{ role organization{ slug } } } } } }`, nil,
			func(a actor) string {
				slug := "alpha"
				if !a.same {
					slug = "beta"
				}
				return fmt.Sprintf(`{"viewer":{"memberships":{"totalCount":1,"edges":[{"node":{"role":%q,"organization":{"slug":%q}}}]}}}`, a.role, slug)
			}},
	}
}

// writeCase is one mutation: need is the least role in alpha that may do
// it ("" when any signed-in user may, wherever they belong).
type writeCase struct {
	name      string
	field     string
	inputType string
	need      string
	input     func(t *testing.T, w *world, a actor) map[string]any
	// after restores what an allowed write changed for the actor.
	after func(t *testing.T, w *world, a actor)
	// see is the least role in alpha that sees the target (default any):
	// members below it get NOT_FOUND, like outsiders.
	see string
}

// seenBy marks a case whose target only role and above see.
func seenBy(role string, c writeCase) writeCase { c.see = role; return c }

func writeCases() []writeCase {
	fixed := func(build func(w *world) map[string]any) func(*testing.T, *world, actor) map[string]any {
		return func(_ *testing.T, w *world, _ actor) map[string]any { return build(w) }
	}
	return []writeCase{
		{"createOrganization", "createOrganization", "CreateOrganizationInput", "", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"slug": fmt.Sprintf("org-%d", w.next()), "name": "New"}
		}, nil, ""},
		{"updateOrganization", "updateOrganization", "UpdateOrganizationInput", "OWNER", fixed(func(w *world) map[string]any {
			return map[string]any{"id": w.id["orgA"], "name": "Alpha"}
		}), nil, ""},
		{"inviteMember MEMBER", "inviteMember", "InviteMemberInput", "ADMIN", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"organizationId": w.id["orgA"], "email": w.freshUser(t), "role": "MEMBER"}
		}, nil, ""},
		{"inviteMember ADMIN", "inviteMember", "InviteMemberInput", "OWNER", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"organizationId": w.id["orgA"], "email": w.freshUser(t), "role": "ADMIN"}
		}, nil, ""},
		{"changeMemberRole MEMBER to VIEWER", "changeMemberRole", "ChangeMemberRoleInput", "ADMIN", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"membershipId": w.freshMembership(t, "MEMBER"), "role": "VIEWER"}
		}, nil, ""},
		{"changeMemberRole MEMBER to ADMIN", "changeMemberRole", "ChangeMemberRoleInput", "OWNER", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"membershipId": w.freshMembership(t, "MEMBER"), "role": "ADMIN"}
		}, nil, ""},
		{"changeMemberRole ADMIN to MEMBER", "changeMemberRole", "ChangeMemberRoleInput", "OWNER", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"membershipId": w.freshMembership(t, "ADMIN"), "role": "MEMBER"}
		}, nil, ""},
		{"removeMember MEMBER", "removeMember", "RemoveMemberInput", "ADMIN", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"membershipId": w.freshMembership(t, "MEMBER")}
		}, nil, ""},
		{"removeMember ADMIN", "removeMember", "RemoveMemberInput", "OWNER", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"membershipId": w.freshMembership(t, "ADMIN")}
		}, nil, ""},
		{"createProject", "createProject", "CreateProjectInput", "ADMIN", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"organizationId": w.id["orgA"], "key": fmt.Sprintf("N%d", w.next()), "name": "New"}
		}, nil, ""},
		{"updateProject", "updateProject", "UpdateProjectInput", "ADMIN", fixed(func(w *world) map[string]any {
			return map[string]any{"id": w.id["projA"], "name": "Alpha project"}
		}), nil, ""},
		{"archiveProject", "archiveProject", "ArchiveProjectInput", "ADMIN", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"id": w.freshProject(t)}
		}, nil, ""},
		{"unarchiveProject", "unarchiveProject", "ArchiveProjectInput", "ADMIN", func(t *testing.T, w *world, _ actor) map[string]any {
			id := w.freshProject(t)
			mutate(t, w.boss, "archiveProject", "ArchiveProjectInput", map[string]any{"id": id}, "project{ id }")
			return map[string]any{"id": id}
		}, nil, ""},
		{"createIssue", "createIssue", "CreateIssueInput", "MEMBER", fixed(func(w *world) map[string]any {
			return map[string]any{"projectId": w.id["projA"], "title": "New"}
		}), nil, ""},
		{"updateIssue", "updateIssue", "UpdateIssueInput", "MEMBER", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"id": w.freshIssue(t, false), "title": "Changed"}
		}, nil, ""},
		{"assignIssue", "assignIssue", "AssignIssueInput", "MEMBER", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"issueId": w.freshIssue(t, false), "assigneeId": w.id["bridge"]}
		}, nil, ""},
		{"addLabelsToIssue", "addLabelsToIssue", "IssueLabelsInput", "MEMBER", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"issueId": w.freshIssue(t, false), "labelIds": []string{w.id["labelA"]}}
		}, nil, ""},
		{"removeLabelsFromIssue", "removeLabelsFromIssue", "IssueLabelsInput", "MEMBER", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"issueId": w.freshIssue(t, false), "labelIds": []string{w.id["labelA"]}}
		}, nil, ""},
		{"closeIssue", "closeIssue", "CloseIssueInput", "MEMBER", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"issueId": w.freshIssue(t, false)}
		}, nil, ""},
		{"reopenIssue", "reopenIssue", "ReopenIssueInput", "MEMBER", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"issueId": w.freshIssue(t, true)}
		}, nil, ""},
		{"deleteIssue", "deleteIssue", "DeleteIssueInput", "ADMIN", func(t *testing.T, w *world, _ actor) map[string]any {
			id := w.freshIssue(t, false)
			mutate(t, w.boss, "addComment", "AddCommentInput", map[string]any{"issueId": id, "body": "goes with the issue"}, "comment{ id }")
			return map[string]any{"issueId": id}
		}, nil, ""},
		{"addComment", "addComment", "AddCommentInput", "MEMBER", fixed(func(w *world) map[string]any {
			return map[string]any{"issueId": w.id["issueA1"], "body": "Me too"}
		}), nil, ""},
		{"updateComment of another author", "updateComment", "UpdateCommentInput", "ADMIN", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"id": w.freshComment(t), "body": "Edited"}
		}, nil, ""},
		{"deleteComment of another author", "deleteComment", "DeleteCommentInput", "ADMIN", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"id": w.freshComment(t)}
		}, nil, ""},
		{"updateComment own", "updateComment", "UpdateCommentInput", "MEMBER", func(t *testing.T, w *world, a actor) map[string]any {
			return map[string]any{"id": w.ownComment(t, a), "body": "Edited"}
		}, nil, ""},
		{"deleteComment own", "deleteComment", "DeleteCommentInput", "MEMBER", func(t *testing.T, w *world, a actor) map[string]any {
			return map[string]any{"id": w.ownComment(t, a)}
		}, nil, ""},
		{"createLabel", "createLabel", "CreateLabelInput", "ADMIN", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"organizationId": w.id["orgA"], "name": fmt.Sprintf("new-%d", w.next())}
		}, nil, ""},
		{"updateLabel", "updateLabel", "UpdateLabelInput", "ADMIN", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"id": w.freshLabel(t), "color": "#00ff00"}
		}, nil, ""},
		{"deleteLabel", "deleteLabel", "DeleteLabelInput", "ADMIN", func(t *testing.T, w *world, _ actor) map[string]any {
			return map[string]any{"id": w.freshLabel(t)}
		}, nil, ""},
		{"createAPIKey", "createAPIKey", "CreateAPIKeyInput", "ADMIN", fixed(func(w *world) map[string]any {
			return map[string]any{"organizationId": w.id["orgA"], "name": "deploy", "role": "MEMBER"}
		}), nil, ""},
		{"createAPIKey ADMIN", "createAPIKey", "CreateAPIKeyInput", "ADMIN", fixed(func(w *world) map[string]any {
			return map[string]any{"organizationId": w.id["orgA"], "name": "ops", "role": "ADMIN"}
		}), nil, ""},
		seenBy("ADMIN", writeCase{"revokeAPIKey", "revokeAPIKey", "RevokeAPIKeyInput", "ADMIN", func(t *testing.T, w *world, _ actor) map[string]any {
			p := mutate(t, w.boss, "createAPIKey", "CreateAPIKeyInput", map[string]any{"organizationId": w.id["orgA"], "name": "old"}, "apiKey{ id }")
			return map[string]any{"id": str(p, "apiKey", "id")}
		}, nil, ""}),
		{"leaveOrganization", "leaveOrganization", "LeaveOrganizationInput", "VIEWER", fixed(func(w *world) map[string]any {
			return map[string]any{"organizationId": w.id["orgA"]}
		}), func(t *testing.T, w *world, a actor) {
			// Join again so the next cases see the actor as before.
			addMembership(t, w.env, w.id["orgA"], a.email, a.role)
		}, ""},
	}
}

// snapshot reads every row of every table of the world's database, as
// text per table, so a refused write can be shown to have changed no row
// at all (not merely to have added none).
func (w *world) snapshot(t *testing.T) map[string]string {
	t.Helper()
	rows, err := w.env.DB.SQL.Query(`SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	out := make(map[string]string, len(tables))
	for _, table := range tables {
		var text string
		// The relay numbers and marks published events on its own
		// schedule: those two columns are its, not the request's.
		q := fmt.Sprintf(`SELECT coalesce(string_agg(r, E'\n' ORDER BY r), '')
			FROM (SELECT (to_jsonb(t) - 'position' - 'published')::text AS r FROM %q t) rows`, table)
		require.NoError(t, w.env.DB.SQL.QueryRow(q).Scan(&text))
		out[table] = text
	}
	return out
}

func (w *world) countEvents(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, w.env.DB.SQL.QueryRow(`SELECT count(*) FROM events`).Scan(&n))
	return n
}

// TestAuthorizationMatrix checks every query field, edge and mutation for
// every role, once as a member of the organization that holds the objects
// and once as a member of another organization only. Reads must return
// exactly the expected data (what is not visible is null or absent, and
// counts agree); writes must succeed, fail with FORBIDDEN (visible object,
// role too low) or with a NOT_FOUND user error (object not visible), and a
// refused write must leave every row of every table as it was.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	reads, writes := readCases(), writeCases()
	cases := 0
	for _, rc := range reads {
		for _, a := range w.actors {
			cases++
			t.Run("read/"+rc.name+"/"+a.String(), func(t *testing.T) {
				var vars map[string]any
				if rc.vars != nil {
					vars = rc.vars(w)
				}
				resp := a.client.Do(t, rc.query, vars).MustOK(t)
				assert.JSONEq(t, rc.want(a), string(resp.Data))
			})
		}
	}
	for _, wc := range writes {
		for _, a := range w.actors {
			cases++
			t.Run("write/"+wc.name+"/"+a.String(), func(t *testing.T) {
				in := wc.input(t, w, a)
				before := w.countEvents(t)
				rows := w.snapshot(t)
				q := fmt.Sprintf(`mutation($in:%s!){ %s(input:$in){ userErrors{ field code } } }`, wc.inputType, wc.field)
				resp := a.client.Do(t, q, map[string]any{"in": in})
				require.Equal(t, 200, resp.Status)
				var data map[string]json.RawMessage
				_ = json.Unmarshal(resp.Data, &data)
				switch {
				case wc.need == "" || (a.same && roleRank(a.role) >= roleRank(wc.need)):
					require.Empty(t, resp.Errors, "allowed")
					assert.JSONEq(t, `{"userErrors":[]}`, string(data[wc.field]))
					assert.Greater(t, w.countEvents(t), before, "an allowed write records its event")
					if wc.after != nil {
						wc.after(t, w, a)
					}
					return
				case a.same && (wc.see == "" || roleRank(a.role) >= roleRank(wc.see)):
					require.Len(t, resp.Errors, 1, "forbidden: %s", resp.RawBody)
					assert.Equal(t, "FORBIDDEN", resp.Errors[0].Code())
					assert.Equal(t, "null", string(resp.Data), "the payload is non-null, so the error nulls data")
				default:
					require.Empty(t, resp.Errors, "not visible is a user error, not a top-level error")
					var p struct{ UserErrors []struct{ Code string } }
					require.NoError(t, json.Unmarshal(data[wc.field], &p))
					require.Len(t, p.UserErrors, 1)
					assert.Equal(t, "NOT_FOUND", p.UserErrors[0].Code)
				}
				assert.Equal(t, rows, w.snapshot(t), "a refused write changes no row of any table")
			})
		}
	}
	t.Logf("authorization matrix: %d (field, role, organization) cases: %d reads and %d writes for %d actors",
		cases, len(reads)*len(w.actors), len(writes)*len(w.actors), len(w.actors))
}
