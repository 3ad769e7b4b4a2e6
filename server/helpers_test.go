package server_test

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/ent/membership"
	"github.com/issuegraph/issuegraph/ent/ent/user"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/server/servertest"
)

func base64URL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func itoa(i int) string { return strconv.Itoa(i) }

// Bounds for require.Eventually: generous, because these wait on state
// changes, not on speed.
const (
	waitLong  = 20 * time.Second
	pollEvery = 20 * time.Millisecond
)

// dbIDOf is the database id inside a global ID the API returned
// ("Organization:12", base64url).
func dbIDOf(tb testing.TB, gid string) int64 {
	tb.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(gid)
	require.NoError(tb, err)
	_, num, _ := strings.Cut(string(raw), ":")
	id, err := strconv.ParseInt(num, 10, 64)
	require.NoError(tb, err)
	return id
}

func fromBase64URL(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err
}

// keyOwner is a signed-up user who owns an organization and has made API
// keys in it.
type keyOwner struct {
	client  *servertest.Client
	keyIDs  []string // global IDs, as the API shows them
	secrets []string
}

// newKeyOwner signs up a user, creates an organization and n VIEWER API
// keys in it.
func newKeyOwner(t *testing.T, env *servertest.Env, n int) keyOwner {
	t.Helper()
	o := keyOwner{client: env.As(env.SignUp(t, "keys@example.com", "Key Owner"))}
	org := mutate(t, o.client, "createOrganization", "CreateOrganizationInput", map[string]any{"slug": "keys", "name": "Keys"}, "organization{ id }")
	for i := range n {
		p := mutate(t, o.client, "createAPIKey", "CreateAPIKeyInput",
			map[string]any{"organizationId": str(org, "organization", "id"), "name": "key " + itoa(i), "role": "VIEWER"}, "apiKey{ id } secret")
		o.keyIDs = append(o.keyIDs, str(p, "apiKey", "id"))
		o.secrets = append(o.secrets, str(p, "secret"))
	}
	return o
}

// lockProject holds a row lock on project key in a transaction of its own,
// so a mutation that writes to the project waits inside PostgreSQL until
// the returned release is called (also called at cleanup).
func lockProject(t *testing.T, env *servertest.Env, key string) (release func()) {
	t.Helper()
	tx, err := env.DB.SQL.BeginTx(context.Background(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })
	_, err = tx.Exec(`SELECT 1 FROM projects WHERE key = $1 FOR UPDATE`, key)
	require.NoError(t, err)
	return func() { require.NoError(t, tx.Rollback()) }
}

// waitForLockWaiter waits until a statement of env's database waits on a
// lock (a request is held inside PostgreSQL).
func waitForLockWaiter(t *testing.T, env *servertest.Env) {
	t.Helper()
	require.Eventually(t, func() bool {
		var waiting int
		_ = env.DB.SQL.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		return waiting > 0
	}, waitLong, pollEvery)
}

// addMembership makes the account with email a member of the organization
// orgGID with role, straight in the database (a fixture: members join by
// accepting an invitation, TestInvitations), and returns the membership's
// global ID.
func addMembership(t *testing.T, env *servertest.Env, orgGID, email, role string) string {
	t.Helper()
	orgID := dbIDOf(t, orgGID)
	ctx := viewer.SystemContext(context.Background())
	uid, err := env.DB.Client.User.Query().Where(user.Email(email)).OnlyID(ctx)
	require.NoError(t, err)
	if role == "" {
		role = "MEMBER"
	}
	m, err := env.DB.Client.Membership.Create().SetOrganizationID(orgID).SetUserID(uid).SetRole(membership.Role(role)).Save(ctx)
	require.NoError(t, err)
	return base64URL("Membership:" + strconv.FormatInt(m.ID, 10))
}
