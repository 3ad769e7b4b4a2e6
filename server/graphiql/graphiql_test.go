package graphiql_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/graphiql"
)

// TestBundleIsFresh fails when web/ changed (a version in the lockfile,
// the page's code) without `make graphiql` rebuilding dist/.
func TestBundleIsFresh(t *testing.T) {
	h := sha256.New()
	for _, f := range []string{"package-lock.json", "main.jsx", "app.css", "index.html", "build.mjs"} {
		b, err := os.ReadFile("web/" + f)
		require.NoError(t, err)
		h.Write([]byte(f + "\x00"))
		h.Write(b)
		h.Write([]byte("\x00"))
	}
	assert.Equal(t, hex.EncodeToString(h.Sum(nil)), graphiql.SourcesHash(), "server/graphiql/dist is stale: run make graphiql and commit dist/")
}
