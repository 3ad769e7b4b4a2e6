package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkNestedShapes runs the board, issue-page and deep shapes at a page
// size of 20 against one instance, one request at a time, and reports what
// the process spends on each: time, bytes and allocations per request
// (client included; the client only copies the body away), and the
// process's CPU time per request (server and client, not PostgreSQL's),
// which a loaded machine disturbs less than the time. Throughput
// under concurrency is measured with `make bench`; this is the benchmark
// to read allocations from.
//
//	go test ./server/ -run '^$' -bench NestedShapes -benchmem
func BenchmarkNestedShapes(b *testing.B) {
	c, busiest := seeded(b)
	for _, shape := range []struct{ name, query string }{
		{"board", boardQuery}, {"issue", issuePageQuery}, {"deep", deepQuery},
	} {
		body, err := json.Marshal(map[string]any{"query": shape.query, "variables": map[string]any{"n": 20, "key": busiest}})
		require.NoError(b, err)
		c.Do(b, shape.query, map[string]any{"n": 20, "key": busiest}).MustOK(b)
		b.Run(shape.name, func(b *testing.B) {
			b.ReportAllocs()
			hc := &http.Client{}
			cpu := processCPU(b)
			for b.Loop() {
				req, err := http.NewRequest(http.MethodPost, c.Env.URL+"/graphql", bytes.NewReader(body))
				require.NoError(b, err)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+c.Token)
				res, err := hc.Do(req)
				require.NoError(b, err)
				_, err = io.Copy(io.Discard, res.Body)
				require.NoError(b, err)
				require.NoError(b, res.Body.Close())
				require.Equal(b, http.StatusOK, res.StatusCode)
			}
			b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
