package server_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/issuegraph/issuegraph/server/servertest"
)

// TestAnonymousReadsHintSignIn: an anonymous read that meets a null at
// its root (an object only members see, viewer, nodes) says why in
// extensions.signIn; a signed-in one, and an anonymous one that read
// nothing private, carry no hint.
func TestAnonymousReadsHintSignIn(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	token := env.SignUp(t, "hint@example.com", "Hint")
	org := env.As(token).Do(t, `mutation { createOrganization(input: {slug: "hint", name: "Hint"}) { organization { id } } }`, nil).MustOK(t)
	var created struct {
		CreateOrganization struct{ Organization struct{ ID string } }
	}
	org.Decode(t, &created)
	id := created.CreateOrganization.Organization.ID

	hint := func(resp *servertest.Response) map[string]any {
		h, _ := resp.Extensions["signIn"].(map[string]any)
		return h
	}
	for name, q := range map[string]string{
		"organization": `{ organization(slug: "hint") { name } }`,
		"viewer":       `{ viewer { id } }`,
		"node":         `{ node(id: "` + id + `") { id } }`,
		"nodes":        `{ nodes(ids: ["` + id + `"]) { id } }`,
	} {
		resp := env.Client().Do(t, q, nil).MustOK(t)
		if assert.NotNil(t, hint(resp), "%s: %s", name, resp.RawBody) {
			assert.Equal(t, "UNAUTHENTICATED", hint(resp)["code"])
			assert.Contains(t, hint(resp)["message"], "logIn")
		}
		signedIn := env.As(token).Do(t, q, nil).MustOK(t)
		assert.Nil(t, hint(signedIn), "%s signed in: %s", name, signedIn.RawBody)
	}
	resp := env.Client().Do(t, `{ __typename }`, nil).MustOK(t)
	assert.Nil(t, hint(resp), "nothing private was read: %s", resp.RawBody)
}
