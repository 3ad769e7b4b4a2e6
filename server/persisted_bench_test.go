package server_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/server/persisted"
)

// persistedBoardQuery is a realistic client operation (about 1 KB).
const persistedBoardQuery = `query Board($org: String!, $key: String!, $after: String) {
  project(organization: $org, key: $key) {
    id key name description archived
    issues(first: 20, after: $after, filter: { status: [TODO, IN_PROGRESS] }) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges {
        cursor
        node {
          id key number title status priority createdAt updatedAt closedAt
          author { id name }
          assignee { id name email }
          labels(first: 10) { totalCount edges { node { id name color description } } }
          comments(first: 1) { totalCount edges { node { id body createdAt author { id name } } } }
        }
      }
    }
  }
}`

// BenchmarkPersistedOperation compares one operation sent as a hash (a
// trusted document) with the same operation sent as text, end to end over
// HTTP on one instance. gqlgen caches parsed, validated documents by text, so
// "text" repeats a cached text; "text-uncached" makes every text new (a
// trailing comment), which is what parsing and validation cost.
//
// It runs on generated data (seeded: 12 projects of 100 issues), signed in
// as a member, so the board it asks for is a real one of 20 issues.
func BenchmarkPersistedOperation(b *testing.B) {
	c, _ := seeded(b, func(c *config.Config) { c.RateLimit.UserRestoreRate = 1 << 30 })
	env := c.Env
	hash := persisted.Hash(persistedBoardQuery)
	ops, err := persisted.ParseManifest([]byte(`{"` + hash + `":` + jsonString(persistedBoardQuery) + `}`))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := persisted.Import(context.Background(), env.DB.Client, "bench", ops); err != nil {
		b.Fatal(err)
	}
	vars := map[string]any{"org": "scale", "key": "PA"}
	text, _ := json.Marshal(map[string]any{"query": persistedBoardQuery, "variables": vars})
	byHash, _ := json.Marshal(map[string]any{"variables": vars, "extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}})
	// Warm up connections and caches once, so the first case measured is not
	// charged for them.
	for _, body := range [][]byte{byHash, text} {
		var board struct {
			Project *struct{ Issues struct{ Edges []struct{} } }
		}
		c.Post(b, "application/json", body).MustOK(b).Decode(b, &board)
		if board.Project == nil || len(board.Project.Issues.Edges) == 0 {
			b.Fatal("the board should hold issues")
		}
	}
	for _, bc := range []struct {
		name string
		body []byte
	}{{"text", text}, {"hash", byHash}, {"text-uncached", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				body := bc.body
				if bc.name == "text-uncached" {
					n++
					body, _ = json.Marshal(map[string]any{"query": persistedBoardQuery + "\n# " + itoa(n), "variables": vars})
				}
				resp := c.Post(b, "application/json", body)
				if resp.Status != 200 || len(resp.Errors) > 0 {
					b.Fatalf("status %d: %s", resp.Status, resp.RawBody)
				}
			}
		})
	}
}
