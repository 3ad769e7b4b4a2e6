package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/servertest"
)

// createKey creates an API key in alpha as the boss and returns its ID and
// secret.
func (w *world) createKey(t *testing.T, name, role string) (id, secret string) {
	t.Helper()
	p := mutate(t, w.boss, "createAPIKey", "CreateAPIKeyInput", map[string]any{"organizationId": w.id["orgA"], "name": name, "role": role}, "apiKey{ id prefix } secret")
	secret = str(p, "secret")
	require.True(t, strings.HasPrefix(secret, "igk_"))
	assert.True(t, strings.HasPrefix(secret, str(p, "apiKey", "prefix")))
	return str(p, "apiKey", "id"), secret
}

// code returns the first top-level error code, or the first user error
// code of the payload field, or "OK".
func code(t *testing.T, resp *servertest.Response, field string) string {
	t.Helper()
	if len(resp.Errors) > 0 {
		return resp.Errors[0].Code()
	}
	var data map[string]map[string]any
	resp.Decode(t, &data)
	if errs, _ := data[field]["userErrors"].([]any); len(errs) > 0 {
		return str(errs[0], "code")
	}
	return "OK"
}

// TestAPIKeys: service accounts act in their organization with their key's
// role through the same privacy rules as people, see nothing of other
// organizations, cannot author, and stop working when revoked or expired.
func TestAPIKeys(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	viewerID, viewerSecret := w.createKey(t, "dashboard", "VIEWER")
	_, memberSecret := w.createKey(t, "bot", "MEMBER")
	adminID, adminSecret := w.createKey(t, "provisioner", "ADMIN")
	asViewer, asMember, asAdmin := w.env.As(viewerSecret), w.env.As(memberSecret), w.env.As(adminSecret)

	// Stored only as a hash.
	var stored int
	require.NoError(t, w.env.DB.SQL.QueryRow(`SELECT count(*) FROM api_keys WHERE key_hash IN ($1, $2, $3)`, viewerSecret, memberSecret, adminSecret).Scan(&stored))
	assert.Zero(t, stored)

	// Reads: its organization, nothing else.
	assert.JSONEq(t, `{"organization":{"slug":"alpha","projects":{"totalCount":1}},"beta":null,"issue":null}`,
		string(asViewer.Do(t, `{ organization(slug:"alpha"){ slug projects{ totalCount } } beta: organization(slug:"beta"){ slug } issue(key:"BET-1"){ key } }`, nil).MustOK(t).Data))
	assert.JSONEq(t, `{"nodes":[{"__typename":"Issue"},null]}`,
		string(asViewer.Do(t, `query($a:ID!,$b:ID!){ nodes(ids:[$a,$b]){ __typename } }`, map[string]any{"a": w.id["issueA1"], "b": w.id["issueB1"]}).MustOK(t).Data))
	assert.JSONEq(t, `{"organization":{"apiKeys":{"totalCount":0}}}`,
		string(asAdmin.Do(t, `{ organization(slug:"alpha"){ apiKeys{ totalCount } } }`, nil).MustOK(t).Data), "keys do not see keys")

	// Writes by role.
	update := `mutation($id:ID!){ updateIssue(input:{id:$id,title:"By a key"}){ userErrors{ code } } }`
	assert.Equal(t, "FORBIDDEN", code(t, asViewer.Do(t, update, map[string]any{"id": w.id["issueA1"]}), "updateIssue"))
	assert.Equal(t, "OK", code(t, asMember.Do(t, update, map[string]any{"id": w.id["issueA1"]}), "updateIssue"))
	assert.Equal(t, "NOT_FOUND", code(t, asMember.Do(t, update, map[string]any{"id": w.id["issueB1"]}), "updateIssue"))
	create := `mutation($p:ID!){ createIssue(input:{projectId:$p,title:"x"}){ userErrors{ code } } }`
	assert.Equal(t, "FORBIDDEN", code(t, asMember.Do(t, create, map[string]any{"p": w.id["projA"]}), "createIssue"), "a key authors nothing")
	project := `mutation($o:ID!){ createProject(input:{organizationId:$o,key:"KEY",name:"By a key"}){ userErrors{ code } } }`
	assert.Equal(t, "FORBIDDEN", code(t, asMember.Do(t, project, map[string]any{"o": w.id["orgA"]}), "createProject"))
	assert.Equal(t, "OK", code(t, asAdmin.Do(t, project, map[string]any{"o": w.id["orgA"]}), "createProject"))
	addAdmin := `mutation($o:ID!){ inviteMember(input:{organizationId:$o,email:"bridge@example.com",role:ADMIN}){ userErrors{ code } } }`
	assert.Equal(t, "FORBIDDEN", code(t, asAdmin.Do(t, addAdmin, map[string]any{"o": w.id["orgA"]}), "inviteMember"))
	newKey := `mutation($o:ID!){ createAPIKey(input:{organizationId:$o,name:"child"}){ userErrors{ code } } }`
	assert.Equal(t, "FORBIDDEN", code(t, asAdmin.Do(t, newKey, map[string]any{"o": w.id["orgA"]}), "createAPIKey"), "a key cannot mint keys")

	// Input rules of createAPIKey.
	bad := `mutation($o:ID!,$r:Role,$e:Time){ createAPIKey(input:{organizationId:$o,name:"x",role:$r,expiresAt:$e}){ userErrors{ code } } }`
	assert.Equal(t, "INVALID", code(t, w.boss.Do(t, bad, map[string]any{"o": w.id["orgA"], "r": "OWNER"}), "createAPIKey"))
	assert.Equal(t, "INVALID", code(t, w.boss.Do(t, bad, map[string]any{"o": w.id["orgA"], "e": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}), "createAPIKey"))

	// The last use is recorded.
	var used struct {
		Node struct{ LastUsedAt *string }
	}
	w.boss.Do(t, `query($id:ID!){ node(id:$id){ ... on APIKey{ lastUsedAt } } }`, map[string]any{"id": adminID}).MustOK(t).Decode(t, &used)
	assert.NotNil(t, used.Node.LastUsedAt)

	// Revoked, expired and unknown keys are refused with 401.
	unauthorized := func(c *servertest.Client) {
		t.Helper()
		resp := c.Do(t, `{ organization(slug:"alpha"){ slug } }`, nil)
		assert.Equal(t, http.StatusUnauthorized, resp.Status)
		assert.Equal(t, []string{"UNAUTHENTICATED"}, resp.Codes())
	}
	mutate(t, w.boss, "revokeAPIKey", "RevokeAPIKeyInput", map[string]any{"id": viewerID}, "apiKey{ revokedAt }")
	unauthorized(asViewer)
	_, err := w.env.DB.SQL.Exec(`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, w.dbID(t, adminID))
	require.NoError(t, err)
	unauthorized(asAdmin)
	unauthorized(w.env.As("igk_unknown"))
	// The member key still works.
	asMember.Do(t, `{ organization(slug:"alpha"){ slug } }`, nil).MustOK(t)
}
