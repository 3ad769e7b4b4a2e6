package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/servertest"
)

// TestUserErrors walks every user-fixable failure of every mutation and
// checks the payload names the field and code, and that nothing changed.
func TestUserErrors(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "acme", "ENG")
	other := newFixture(t, env, "other", "OTH")
	outsider := env.As(env.SignUp(t, "outsider@example.com", "Outsider"))
	var outsiderID struct{ Viewer struct{ ID string } }
	outsider.Do(t, `{viewer{id}}`, nil).MustOK(t).Decode(t, &outsiderID)
	issue := f.createIssue(t, map[string]any{"title": "Existing"})
	issueID := issue["id"].(string)

	var lbl struct {
		CreateLabel struct{ Label struct{ ID string } }
	}
	f.owner.Do(t, `mutation($o:ID!){ createLabel(input:{organizationId:$o,name:"bug"}){ label{id} userErrors{message} } }`, map[string]any{"o": f.orgID}).MustOK(t).Decode(t, &lbl)
	var otherLbl struct {
		CreateLabel struct{ Label struct{ ID string } }
	}
	other.owner.Do(t, `mutation($o:ID!){ createLabel(input:{organizationId:$o,name:"x"}){ label{id} userErrors{message} } }`, map[string]any{"o": other.orgID}).MustOK(t).Decode(t, &otherLbl)
	var archived struct {
		CreateProject struct{ Project struct{ ID string } }
	}
	f.owner.Do(t, `mutation($o:ID!){ createProject(input:{organizationId:$o,key:"OLD",name:"Old"}){ project{id} userErrors{message} } }`, map[string]any{"o": f.orgID}).MustOK(t).Decode(t, &archived)
	f.owner.Do(t, `mutation($p:ID!){ archiveProject(input:{id:$p}){ userErrors{message} } }`, map[string]any{"p": archived.CreateProject.Project.ID}).MustOK(t)

	long := func(n int) string { return strings.Repeat("x", n) }
	cases := []struct {
		name     string
		client   *servertest.Client
		mutation string // field name and input object, no selection
		field    string
		code     string
	}{
		{"signUp blank email", env.Client(), `signUp(input:{email:" ",password:"long enough pw",name:"A"})`, "input.email", "BLANK"},
		{"signUp malformed email", env.Client(), `signUp(input:{email:"not-an-email",password:"long enough pw",name:"A"})`, "input.email", "INVALID"},
		{"signUp email taken", env.Client(), `signUp(input:{email:"ACME-owner@example.com",password:"long enough pw",name:"A"})`, "input.email", "TAKEN"},
		{"signUp short password", env.Client(), `signUp(input:{email:"a@example.com",password:"short",name:"A"})`, "input.password", "TOO_SHORT"},
		{"signUp long password", env.Client(), `signUp(input:{email:"a@example.com",password:"` + long(129) + `",name:"A"})`, "input.password", "TOO_LONG"},
		{"signUp blank name", env.Client(), `signUp(input:{email:"a@example.com",password:"long enough pw",name:""})`, "input.name", "BLANK"},
		{"logIn wrong password", env.Client(), `logIn(input:{email:"acme-owner@example.com",password:"wrong password"})`, "input", "INVALID_CREDENTIALS"},
		{"logIn unknown email", env.Client(), `logIn(input:{email:"nobody@example.com",password:"correct horse battery"})`, "input", "INVALID_CREDENTIALS"},
		{"refreshTokens unknown", env.Client(), `refreshTokens(input:{refreshToken:"igr_nope"})`, "input.refreshToken", "INVALID_TOKEN"},
		{"logOut unknown", env.Client(), `logOut(input:{refreshToken:"igr_nope"})`, "input.refreshToken", "INVALID_TOKEN"},
		{"createOrganization bad slug", f.owner, `createOrganization(input:{slug:"9 lives",name:"N"})`, "input.slug", "INVALID"},
		{"createOrganization slug taken", f.owner, `createOrganization(input:{slug:"acme",name:"N"})`, "input.slug", "TAKEN"},
		{"createOrganization long name", f.owner, `createOrganization(input:{slug:"fresh",name:"` + long(101) + `"})`, "input.name", "TOO_LONG"},
		{"updateOrganization bad id", f.owner, `updateOrganization(input:{id:"nope",name:"N"})`, "input.id", "INVALID"},
		{"updateOrganization blank name", f.owner, `updateOrganization(input:{id:"` + f.orgID + `",name:" "})`, "input.name", "BLANK"},
		{"inviteMember bad email", f.owner, `inviteMember(input:{organizationId:"` + f.orgID + `",email:"ghost"})`, "input.email", "INVALID"},
		{"inviteMember long email", f.owner, `inviteMember(input:{organizationId:"` + f.orgID + `",email:"` + long(250) + `@x.io"})`, "input.email", "TOO_LONG"},
		{"inviteMember expiry", f.owner, `inviteMember(input:{organizationId:"` + f.orgID + `",email:"ghost@example.com",expiresInDays:31})`, "input.expiresInDays", "INVALID"},
		{"inviteMember already member", f.owner, `inviteMember(input:{organizationId:"` + f.orgID + `",email:"acme-owner@example.com"})`, "input.email", "TAKEN"},
		{"addMember already member", f.owner, `addMember(input:{organizationId:"` + f.orgID + `",email:"acme-owner@example.com"})`, "input.email", "TAKEN"},
		{"acceptInvitation unknown", f.owner, `acceptInvitation(input:{invitationId:"` + base64URL("Invitation:999999") + `"})`, "input.invitationId", "NOT_FOUND"},
		{"declineInvitation bad id", f.owner, `declineInvitation(input:{invitationId:"` + f.orgID + `"})`, "input.invitationId", "INVALID"},
		{"createProject bad key", f.owner, `createProject(input:{organizationId:"` + f.orgID + `",key:"E",name:"N"})`, "input.key", "TOO_SHORT"},
		{"createProject key format", f.owner, `createProject(input:{organizationId:"` + f.orgID + `",key:"1AB",name:"N"})`, "input.key", "INVALID"},
		{"createProject key taken", f.owner, `createProject(input:{organizationId:"` + f.orgID + `",key:"ENG",name:"N"})`, "input.key", "TAKEN"},
		{"createProject wrong id type", f.owner, `createProject(input:{organizationId:"` + f.projectID + `",key:"NEW",name:"N"})`, "input.organizationId", "INVALID"},
		{"updateProject long description", f.owner, `updateProject(input:{id:"` + f.projectID + `",description:"` + long(10001) + `"})`, "input.description", "TOO_LONG"},
		{"createIssue empty title", f.owner, `createIssue(input:{projectId:"` + f.projectID + `",title:"   "})`, "input.title", "BLANK"},
		{"createIssue long title", f.owner, `createIssue(input:{projectId:"` + f.projectID + `",title:"` + long(257) + `"})`, "input.title", "TOO_LONG"},
		{"createIssue closed status", f.owner, `createIssue(input:{projectId:"` + f.projectID + `",title:"T",status:DONE})`, "input.status", "INVALID"},
		{"createIssue archived project", f.owner, `createIssue(input:{projectId:"` + archived.CreateProject.Project.ID + `",title:"T"})`, "input.projectId", "ARCHIVED"},
		{"createIssue assignee not member", f.owner, `createIssue(input:{projectId:"` + f.projectID + `",title:"T",assigneeId:"` + outsiderID.Viewer.ID + `"})`, "input.assigneeId", "NOT_A_MEMBER"},
		{"createIssue label of other org", f.owner, `createIssue(input:{projectId:"` + f.projectID + `",title:"T",labelIds:["` + otherLbl.CreateLabel.Label.ID + `"]})`, "input.labelIds", "NOT_FOUND"},
		{"updateIssue bad id", f.owner, `updateIssue(input:{id:"` + f.projectID + `",title:"T"})`, "input.id", "INVALID"},
		{"assignIssue not member", f.owner, `assignIssue(input:{issueId:"` + issueID + `",assigneeId:"` + outsiderID.Viewer.ID + `"})`, "input.assigneeId", "NOT_A_MEMBER"},
		{"addLabelsToIssue empty", f.owner, `addLabelsToIssue(input:{issueId:"` + issueID + `",labelIds:[]})`, "input.labelIds", "BLANK"},
		{"removeLabelsFromIssue other org", f.owner, `removeLabelsFromIssue(input:{issueId:"` + issueID + `",labelIds:["` + otherLbl.CreateLabel.Label.ID + `"]})`, "input.labelIds", "NOT_FOUND"},
		{"reopenIssue already open", f.owner, `reopenIssue(input:{issueId:"` + issueID + `"})`, "input.issueId", "NOT_ALLOWED"},
		{"closeIssue missing", f.owner, `closeIssue(input:{issueId:"` + globalIDLike("Issue", 999999) + `"})`, "input.issueId", "NOT_FOUND"},
		{"deleteIssue bad id", f.owner, `deleteIssue(input:{issueId:"!!"})`, "input.issueId", "INVALID"},
		{"addComment blank", f.owner, `addComment(input:{issueId:"` + issueID + `",body:"  "})`, "input.body", "BLANK"},
		{"addComment missing issue", f.owner, `addComment(input:{issueId:"` + globalIDLike("Issue", 999999) + `",body:"hi"})`, "input.issueId", "NOT_FOUND"},
		{"updateComment missing", f.owner, `updateComment(input:{id:"` + globalIDLike("Comment", 999999) + `",body:"hi"})`, "input.id", "NOT_FOUND"},
		{"deleteComment missing", f.owner, `deleteComment(input:{id:"` + globalIDLike("Comment", 999999) + `"})`, "input.id", "NOT_FOUND"},
		{"createLabel bad color", f.owner, `createLabel(input:{organizationId:"` + f.orgID + `",name:"n",color:"red"})`, "input.color", "INVALID"},
		{"createLabel name taken", f.owner, `createLabel(input:{organizationId:"` + f.orgID + `",name:"bug"})`, "input.name", "TAKEN"},
		{"updateLabel long description", f.owner, `updateLabel(input:{id:"` + lbl.CreateLabel.Label.ID + `",description:"` + long(501) + `"})`, "input.description", "TOO_LONG"},
		{"deleteLabel missing", f.owner, `deleteLabel(input:{id:"` + globalIDLike("Label", 999999) + `"})`, "input.id", "NOT_FOUND"},
		{"unarchiveProject missing", f.owner, `unarchiveProject(input:{id:"` + globalIDLike("Project", 999999) + `"})`, "input.id", "NOT_FOUND"},
	}
	countRows := func() int {
		var n int
		require.NoError(t, env.DB.SQL.QueryRow(`SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM issues) + (SELECT count(*) FROM users) + (SELECT count(*) FROM labels) + (SELECT count(*) FROM projects) + (SELECT count(*) FROM comments)`).Scan(&n))
		return n
	}
	before := countRows()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.mutation[:strings.Index(tc.mutation, "(")]
			resp := tc.client.Do(t, `mutation { `+tc.mutation+` { userErrors { field message code } } }`, nil).MustNoErrors(t)
			var out map[string]struct {
				UserErrors []struct {
					Field         []string
					Message, Code string
				}
			}
			require.NoError(t, json.Unmarshal(resp.Data, &out))
			errs := out[name].UserErrors
			require.NotEmpty(t, errs, "want a user error")
			assert.Equal(t, tc.code, errs[0].Code)
			assert.Equal(t, tc.field, strings.Join(errs[0].Field, "."))
			assert.NotEmpty(t, errs[0].Message)
		})
	}
	assert.Equal(t, before, countRows(), "a refused mutation changes nothing")
}

// TestMutationsNeedSignIn checks every domain mutation refuses anonymous
// callers with UNAUTHENTICATED.
func TestMutationsNeedSignIn(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	for _, m := range []string{
		`createOrganization(input:{slug:"x1",name:"x"}){ userErrors{code} }`,
		`createIssue(input:{projectId:"x",title:"x"}){ userErrors{code} }`,
		`addComment(input:{issueId:"x",body:"x"}){ userErrors{code} }`,
		`createLabel(input:{organizationId:"x",name:"x"}){ userErrors{code} }`,
	} {
		resp := env.Client().Do(t, `mutation { `+m+` }`, nil)
		assert.Equal(t, 200, resp.Status)
		assert.Equal(t, []string{"UNAUTHENTICATED"}, resp.Codes(), m)
	}
}

func globalIDLike(typ string, id int) string {
	return base64URL(typ + ":" + itoa(id))
}
