package server_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/servertest"
)

// BenchmarkRequestOverhead measures what a request costs apart from its
// data: a signed-in POST of { __typename }, which no resolver or statement
// serves, through the whole HTTP path (middleware, transport, extensions).
//
//	go test ./server/ -run '^$' -bench RequestOverhead -benchmem
func BenchmarkRequestOverhead(b *testing.B) {
	env := servertest.Start(b)
	token := env.SignUp(b, "overhead@example.com", "Overhead")
	body := []byte(`{"query":"{ __typename }"}`)
	hc := &http.Client{}
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequest(http.MethodPost, env.URL+"/graphql", bytes.NewReader(body))
		require.NoError(b, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := hc.Do(req)
		require.NoError(b, err)
		_, err = io.Copy(io.Discard, res.Body)
		require.NoError(b, err)
		require.NoError(b, res.Body.Close())
		require.Equal(b, http.StatusOK, res.StatusCode)
	}
}
