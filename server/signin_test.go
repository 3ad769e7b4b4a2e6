package server_test

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/server/redistest"
	"github.com/issuegraph/issuegraph/server/servertest"
)

func signInLimits(perAccount, perAddress int) servertest.Option {
	return func(c *config.Config) {
		c.SignInFailuresPerAccount = perAccount
		c.SignInFailuresPerAddress = perAddress
	}
}

// logIn attempts a sign-in and returns the user error code, or the
// top-level error code and its retryAfter.
func logIn(t *testing.T, env *servertest.Env, email, password string) (code string, retryAfter float64) {
	t.Helper()
	resp := env.Client().Do(t, `mutation($e:String!,$p:String!){ logIn(input:{email:$e,password:$p}){ tokens{ accessToken } userErrors{ code } } }`,
		map[string]any{"e": email, "p": password})
	require.Equal(t, 200, resp.Status)
	if len(resp.Errors) > 0 {
		require.Len(t, resp.Errors, 1)
		n, _ := resp.Errors[0].Extensions["retryAfter"].(float64)
		return resp.Errors[0].Code(), n
	}
	var out struct {
		LogIn struct {
			Tokens     *struct{ AccessToken string }
			UserErrors []struct{ Code string }
		}
	}
	resp.Decode(t, &out)
	if len(out.LogIn.UserErrors) > 0 {
		return out.LogIn.UserErrors[0].Code, 0
	}
	require.NotNil(t, out.LogIn.Tokens)
	return "OK", 0
}

const goodPassword = "correct horse battery" // servertest.SignUp's password

func TestLogInThrottledPerAccount(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, signInLimits(3, 100))
	env.SignUp(t, "victim@example.com", "Victim")
	env.SignUp(t, "bystander@example.com", "Bystander")

	// Signing in successfully does not use up attempts.
	for range 5 {
		code, _ := logIn(t, env, "victim@example.com", goodPassword)
		require.Equal(t, "OK", code)
	}
	for range 3 {
		code, _ := logIn(t, env, "Victim@example.com", "wrong password")
		require.Equal(t, "INVALID_CREDENTIALS", code)
	}
	// Now even the right password is refused until the allowance refills.
	code, retryAfter := logIn(t, env, "victim@example.com", goodPassword)
	assert.Equal(t, "RATE_LIMITED", code)
	assert.Greater(t, retryAfter, 0.0)
	assert.LessOrEqual(t, retryAfter, env.Config.SignInLockout.Seconds())

	// Other accounts from the same address are unaffected.
	code, _ = logIn(t, env, "bystander@example.com", goodPassword)
	assert.Equal(t, "OK", code)

	// An email without an account is throttled exactly the same way, so
	// being throttled reveals nothing about which emails exist.
	for range 3 {
		code, _ := logIn(t, env, "nobody@example.com", goodPassword)
		require.Equal(t, "INVALID_CREDENTIALS", code)
	}
	code, _ = logIn(t, env, "nobody@example.com", goodPassword)
	assert.Equal(t, "RATE_LIMITED", code)
}

func TestLogInThrottledPerAddress(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, signInLimits(100, 4))
	env.SignUp(t, "someone@example.com", "Someone")
	// Spraying one password over many accounts is stopped by the address.
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"} {
		code, _ := logIn(t, env, email, "Winter2026!")
		require.Equal(t, "INVALID_CREDENTIALS", code)
	}
	code, retryAfter := logIn(t, env, "someone@example.com", goodPassword)
	assert.Equal(t, "RATE_LIMITED", code)
	assert.Greater(t, retryAfter, 0.0)
}

// TestLogInThrottleSharedThroughRedis: two instances sharing Redis count
// the same failures.
func TestLogInThrottleSharedThroughRedis(t *testing.T) {
	t.Parallel()
	prefix := redistest.Prefix(t, redistest.Client(t), "signin")
	shared := func(c *config.Config) { c.RedisPrefix = prefix }
	a := servertest.Start(t, servertest.WithRedis(redistest.URL()), shared, signInLimits(3, 100))
	b := servertest.Start(t, servertest.WithRedis(redistest.URL()), shared, signInLimits(3, 100))
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	email := "target-" + hex.EncodeToString(buf) + "@example.com"

	for _, env := range []*servertest.Env{a, b, a} {
		code, _ := logIn(t, env, email, "wrong password")
		require.Equal(t, "INVALID_CREDENTIALS", code)
	}
	code, _ := logIn(t, b, email, "wrong password")
	assert.Equal(t, "RATE_LIMITED", code)
	code, _ = logIn(t, a, email, "wrong password")
	assert.Equal(t, "RATE_LIMITED", code)
}
