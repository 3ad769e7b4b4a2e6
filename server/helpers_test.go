package server_test

import (
	"encoding/base64"
	"strconv"
	"testing"
	"time"

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
