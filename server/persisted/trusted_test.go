package persisted_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/server/persisted"
)

func TestParseManifest(t *testing.T) {
	t.Parallel()
	doc := `query Viewer { viewer { id } }`
	hash := persisted.Hash(doc)
	cases := []struct {
		name     string
		manifest string
		err      string
	}{
		{"apollo", `{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"` + hash + `","name":"Viewer","type":"query","body":"query Viewer { viewer { id } }"}]}`, ""},
		{"plain map", `{"` + hash + `":"query Viewer { viewer { id } }"}`, ""},
		{"plain map with sha256: ids", `{"sha256:` + hash + `":"query Viewer { viewer { id } }"}`, ""},
		{"wrong hash", `{"` + persisted.Hash("x") + `":"query Viewer { viewer { id } }"}`, "not the SHA-256"},
		{"other format", `{"format":"relay","version":1,"operations":[]}`, "unsupported manifest format"},
		{"empty", `{}`, "no operations"},
		{"not JSON", `[`, "not a JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := persisted.ParseManifest([]byte(tc.manifest))
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			require.Len(t, ops, 1)
			assert.Equal(t, hash, ops[0].Hash)
			assert.Equal(t, doc, ops[0].Document)
		})
	}
}

func TestValidateRefusesDocumentsOfAnotherSchema(t *testing.T) {
	t.Parallel()
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	good := []persisted.Operation{{Hash: persisted.Hash("{ viewer { id } }"), Document: "{ viewer { id } }"}}
	require.NoError(t, persisted.Validate(schema, good))
	bad := []persisted.Operation{{Hash: persisted.Hash("{ viewer { shoeSize } }"), Document: "{ viewer { shoeSize } }"}}
	assert.Error(t, persisted.Validate(schema, bad))
}
