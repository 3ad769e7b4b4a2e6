package server_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/servertest"
)

// invite sends an invitation as c and returns the whole payload.
func invite(t *testing.T, c *servertest.Client, orgID, email, role string) map[string]any {
	t.Helper()
	var out map[string]map[string]any
	c.Do(t, `mutation($o:ID!,$e:String!,$r:Role){ inviteMember(input:{organizationId:$o,email:$e,role:$r}){ invitation{ id email role expiresAt } userErrors{ code } } }`,
		map[string]any{"o": orgID, "e": email, "r": role}).MustOK(t).Decode(t, &out)
	return out["inviteMember"]
}

// myInvitations lists the viewer's invitations as c sees them.
func myInvitations(t *testing.T, c *servertest.Client) []map[string]any {
	t.Helper()
	var out struct {
		Viewer struct{ Invitations []map[string]any }
	}
	c.Do(t, `{ viewer { invitations { id organizationName organizationSlug role expiresAt } } }`, nil).MustOK(t).Decode(t, &out)
	return out.Viewer.Invitations
}

// answer accepts or declines invitation id as c and returns the user
// error code, or "OK".
func answer(t *testing.T, c *servertest.Client, field, id string) string {
	t.Helper()
	sel := "declinedInvitationId"
	if field == "acceptInvitation" {
		sel = "membership{ role }"
	}
	resp := c.Do(t, `mutation($i:ID!){ `+field+`(input:{invitationId:$i}){ `+sel+` userErrors{ code } } }`, map[string]any{"i": id})
	return code(t, resp, field)
}

// TestInvitations: an invitation needs the invitee's consent, waits for an
// account that signs up with its email, and tells the inviter nothing
// about which emails have accounts.
func TestInvitations(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "inv", "INV")
	invitee := env.As(env.SignUp(t, "invitee@example.com", "Invitee"))
	stranger := env.As(env.SignUp(t, "stranger@example.com", "Stranger"))
	members := func() float64 {
		var out struct {
			Organization struct{ Members struct{ TotalCount float64 } }
		}
		f.owner.Do(t, `{ organization(slug:"inv"){ members{ totalCount } } }`, nil).MustOK(t).Decode(t, &out)
		return out.Organization.Members.TotalCount
	}

	// The same answer for an email with an account and one without: the
	// payloads differ only in the email and the id.
	withAccount := invite(t, f.owner, f.orgID, "Invitee@Example.com", "VIEWER")
	without := invite(t, f.owner, f.orgID, "later@example.com", "VIEWER")
	for _, p := range []map[string]any{withAccount, without} {
		assert.Empty(t, p["userErrors"])
		inv := p["invitation"].(map[string]any)
		assert.Equal(t, "VIEWER", inv["role"])
		assert.NotEmpty(t, inv["expiresAt"])
	}
	assert.Equal(t, "invitee@example.com", str(withAccount, "invitation", "email"))
	// The deprecated addMember invites too, answering alike either way.
	for _, email := range []string{"stranger@example.com", "ghost@example.com"} {
		resp := f.owner.Do(t, `mutation($o:ID!,$e:String!){ addMember(input:{organizationId:$o,email:$e}){ membership{ id } userErrors{ code } } }`,
			map[string]any{"o": f.orgID, "e": email}).MustOK(t)
		assert.JSONEq(t, `{"addMember":{"membership":null,"userErrors":[]}}`, string(resp.Data))
	}
	assert.Equal(t, float64(1), members(), "nobody joined without accepting")

	// The invitee sees the invitation, not yet the organization.
	mine := myInvitations(t, invitee)
	require.Len(t, mine, 1)
	assert.Equal(t, "inv", mine[0]["organizationSlug"])
	assert.Equal(t, "VIEWER", mine[0]["role"])
	invID := str(withAccount, "invitation", "id")
	assert.Equal(t, invID, mine[0]["id"])
	assert.JSONEq(t, `{"organization":null}`, string(invitee.Do(t, `{ organization(slug:"inv"){ slug } }`, nil).MustOK(t).Data))
	assert.Empty(t, myInvitations(t, f.owner))

	// Nobody else can answer it.
	assert.Equal(t, "NOT_FOUND", answer(t, stranger, "acceptInvitation", invID))
	assert.Equal(t, "NOT_FOUND", answer(t, f.owner, "declineInvitation", invID))
	assert.Equal(t, float64(1), members())

	// Accepted: a member with the offered role; the invitation is spent.
	assert.Equal(t, "OK", answer(t, invitee, "acceptInvitation", invID))
	assert.JSONEq(t, `{"organization":{"viewerRole":"VIEWER"}}`, string(invitee.Do(t, `{ organization(slug:"inv"){ viewerRole } }`, nil).MustOK(t).Data))
	assert.Empty(t, myInvitations(t, invitee))
	assert.Equal(t, "NOT_FOUND", answer(t, invitee, "acceptInvitation", invID))
	assert.Equal(t, float64(2), members())
	var added int
	require.NoError(t, env.DB.SQL.QueryRow(`SELECT count(*) FROM events e JOIN users u ON u.id = e.actor_id WHERE e.type = 'member.added' AND u.email = 'invitee@example.com'`).Scan(&added))
	assert.Equal(t, 1, added, "joining is in the activity log, by the invitee")

	// Declined: not a member, nothing pending.
	mine = myInvitations(t, stranger)
	require.Len(t, mine, 1)
	assert.Equal(t, "OK", answer(t, stranger, "declineInvitation", str(mine[0], "id")))
	assert.Empty(t, myInvitations(t, stranger))
	assert.JSONEq(t, `{"organization":null}`, string(stranger.Do(t, `{ organization(slug:"inv"){ slug } }`, nil).MustOK(t).Data))

	// An email without an account: the invitation waits for the sign-up.
	later := env.As(env.SignUp(t, "later@example.com", "Later"))
	mine = myInvitations(t, later)
	require.Len(t, mine, 1)
	assert.Equal(t, "OK", answer(t, later, "acceptInvitation", str(mine[0], "id")))
	assert.Equal(t, float64(3), members())

	// A lapsed invitation is gone for its invitee.
	ghost := env.As(env.SignUp(t, "ghost@example.com", "Ghost"))
	require.Len(t, myInvitations(t, ghost), 1)
	_, err := env.DB.SQL.Exec(`UPDATE invitations SET expires_at = now() - interval '1 minute' WHERE email = 'ghost@example.com'`)
	require.NoError(t, err)
	assert.Empty(t, myInvitations(t, ghost))
	var ghostInv string
	require.NoError(t, env.DB.SQL.QueryRow(`SELECT id::text FROM invitations WHERE email = 'ghost@example.com'`).Scan(&ghostInv))
	assert.Equal(t, "NOT_FOUND", answer(t, ghost, "acceptInvitation", base64URL("Invitation:"+ghostInv)))

	// Only ADMIN+ invites, and only an OWNER offers ADMIN (the write
	// matrix, TestWriteDenials, covers every role).
	memberToken := env.SignUp(t, "plain@example.com", "Plain")
	addMembership(t, env, f.orgID, "plain@example.com", "MEMBER")
	resp := env.As(memberToken).Do(t, `mutation($o:ID!){ inviteMember(input:{organizationId:$o,email:"x@example.com"}){ userErrors{ code } } }`, map[string]any{"o": f.orgID})
	assert.Equal(t, []string{"FORBIDDEN"}, resp.Codes())
}
