package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/servertest"
)

// session is one sign-in: its token pair.
type session struct{ access, refresh string }

// signIn signs email in on env (the password of servertest's SignUp).
func signIn(t *testing.T, env *servertest.Env, email string) session {
	t.Helper()
	var out struct {
		LogIn struct {
			Tokens struct{ AccessToken, RefreshToken string }
		}
	}
	env.Client().Do(t, `mutation($e:String!){ logIn(input:{email:$e,password:"correct horse battery"}){ tokens{ accessToken refreshToken } userErrors{ code } } }`,
		map[string]any{"e": email}).MustOK(t).Decode(t, &out)
	require.NotEmpty(t, out.LogIn.Tokens.AccessToken)
	return session{out.LogIn.Tokens.AccessToken, out.LogIn.Tokens.RefreshToken}
}

// refresh rotates a refresh token on env; ok is false when it was refused.
func refresh(t *testing.T, env *servertest.Env, token string) (s session, ok bool) {
	t.Helper()
	var out struct {
		RefreshTokens struct {
			Tokens *struct{ AccessToken, RefreshToken string }
		}
	}
	resp := env.Client().Do(t, `mutation($r:String!){ refreshTokens(input:{refreshToken:$r}){ tokens{ accessToken refreshToken } userErrors{ code } } }`,
		map[string]any{"r": token})
	require.Equal(t, http.StatusOK, resp.Status)
	require.Empty(t, resp.Errors)
	resp.Decode(t, &out)
	if out.RefreshTokens.Tokens == nil {
		return session{}, false
	}
	return session{out.RefreshTokens.Tokens.AccessToken, out.RefreshTokens.Tokens.RefreshToken}, true
}

// refused reports whether env answers a read with token by 401
// UNAUTHENTICATED; any other failure fails the test.
func refused(t *testing.T, env *servertest.Env, token string) bool {
	t.Helper()
	resp := env.As(token).Do(t, `{ viewer { id } }`, nil)
	if resp.Status == http.StatusUnauthorized {
		assert.Equal(t, []string{"UNAUTHENTICATED"}, resp.Codes())
		return true
	}
	resp.MustOK(t)
	return false
}

// sseStream opens an SSE subscription to the project's events with token
// and returns its lines.
func sseStream(t *testing.T, env *servertest.Env, token, projectID string) <-chan string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": projectEventsQuery, "variables": map[string]any{"p": projectID}})
	req, err := http.NewRequest(http.MethodPost, env.URL+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	before := env.Server.ActiveSubscriptions()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	waitSubscribed(t, env, before+1)
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// sseEnd reads a stream until it ends and returns its data lines.
func sseEnd(t *testing.T, lines <-chan string) []string {
	t.Helper()
	var data []string
	deadline := time.After(waitLong)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return data
			}
			if d, found := strings.CutPrefix(line, "data: "); found {
				data = append(data, d)
			}
		case <-deadline:
			t.Fatal("the SSE stream did not end")
		}
	}
}

// TestSessionRevocationAcrossInstances: logOut, refresh-token reuse and
// revokeAPIKey on instance A stop the credential on instance B (same
// database and Redis) within the bounded wait: HTTP answers 401
// UNAUTHENTICATED, an open WebSocket is closed with 4403 and an SSE stream
// ends with an UNAUTHENTICATED error. On A itself the refusal is
// immediate, and so is a revoked API key's everywhere.
func TestSessionRevocationAcrossInstances(t *testing.T) {
	t.Parallel()
	redisOpts := withSharedRedis(t)
	a := servertest.Start(t, redisOpts...)
	b := servertest.Start(t, append(redisOpts, servertest.WithDatabase(a.Config.DatabaseURL))...)
	f := newFixture(t, a, "revoke", "REV")
	settled(t, b, f.projectID)

	t.Run("logOut", func(t *testing.T) {
		s := signIn(t, a, "revoke-owner@example.com")
		other := signIn(t, a, "revoke-owner@example.com") // another device
		require.False(t, refused(t, b, s.access))
		ws := subscribeProject(t, b, s.access, f.projectID, nil)
		sse := sseStream(t, b, s.access, f.projectID)

		a.Client().Do(t, `mutation($r:String!){ logOut(input:{refreshToken:$r}){ success } }`, map[string]any{"r": s.refresh}).MustOK(t)
		assert.True(t, refused(t, a, s.access), "refused at once where it was revoked")
		require.Eventually(t, func() bool { return refused(t, b, s.access) }, waitLong, pollEvery)
		assert.Equal(t, 4403, ws.CloseStatus(t, waitLong))
		data := sseEnd(t, sse)
		require.NotEmpty(t, data)
		assert.Contains(t, data[len(data)-1], `"UNAUTHENTICATED"`)
		_, ok := refresh(t, b, s.refresh)
		assert.False(t, ok, "the session's refresh token is dead too")

		// The other session of the same user is untouched.
		assert.False(t, refused(t, b, other.access))
		assert.False(t, refused(t, a, other.access))
	})

	t.Run("refresh token reuse", func(t *testing.T) {
		s := signIn(t, a, "revoke-owner@example.com")
		rotated, ok := refresh(t, a, s.refresh)
		require.True(t, ok)
		require.False(t, refused(t, b, rotated.access))
		ws := subscribeProject(t, b, rotated.access, f.projectID, nil)

		// The old refresh token again: it leaked, so the family ends.
		_, ok = refresh(t, a, s.refresh)
		require.False(t, ok)
		assert.True(t, refused(t, a, rotated.access))
		require.Eventually(t, func() bool { return refused(t, b, rotated.access) && refused(t, b, s.access) }, waitLong, pollEvery)
		assert.Equal(t, 4403, ws.CloseStatus(t, waitLong))
	})

	t.Run("revokeAPIKey", func(t *testing.T) {
		var created struct {
			CreateAPIKey struct {
				APIKey struct{ ID string }
				Secret string
			}
		}
		f.owner.Do(t, `mutation($o:ID!){ createAPIKey(input:{organizationId:$o,name:"bot"}){ apiKey{ id } secret } }`,
			map[string]any{"o": f.orgID}).MustOK(t).Decode(t, &created)
		secret := created.CreateAPIKey.Secret
		require.False(t, refused(t, b, secret))

		a.As(f.owner.Token).Do(t, `mutation($k:ID!){ revokeAPIKey(input:{id:$k}){ userErrors{ code } } }`,
			map[string]any{"k": created.CreateAPIKey.APIKey.ID}).MustOK(t)
		// Every request checks a key in PostgreSQL, so B refuses it at
		// once. (Keys cannot subscribe, so they hold no stream to close.)
		assert.True(t, refused(t, b, secret))
	})
}
