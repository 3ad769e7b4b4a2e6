package server_test

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"

	"github.com/issuegraph/issuegraph/server/servertest"
	"github.com/issuegraph/issuegraph/server/telemetry"
)

// BenchmarkBoardQueryTracing measures the board query over HTTP with no
// tracing (no exporter configured: no-op providers) and with every span
// recorded and exported (batched, to a discarding exporter), to show what
// tracing costs.
//
//	go test -run '^$' -bench BoardQueryTracing -benchtime 3s -benchmem ./server/
func BenchmarkBoardQueryTracing(b *testing.B) {
	// The rate limit, tested on its own, would measure the bucket.
	unmetered := func(c *config.Config) {
		c.RateLimit.UserCapacity = 1 << 40
		c.RateLimit.UserRestoreRate = 1 << 40
	}
	for _, traced := range []bool{false, true} {
		name := "tracing=off"
		if traced {
			name = "tracing=on"
		}
		b.Run(name, func(b *testing.B) {
			var env *servertest.Env
			if traced {
				exp, err := stdouttrace.New(stdouttrace.WithWriter(io.Discard))
				require.NoError(b, err)
				tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: "bench", BatchExporter: exp, Getenv: func(string) string { return "" }})
				require.NoError(b, err)
				b.Cleanup(func() { _ = tel.Close(context.Background()) })
				env = servertest.StartTraced(b, tel, unmetered)
			} else {
				env = servertest.Start(b, unmetered)
			}
			token := env.SignUp(b, "bench@example.com", "Bench")
			c := env.As(token)
			var org struct {
				CreateOrganization struct{ Organization struct{ ID string } }
			}
			c.Do(b, `mutation { createOrganization(input:{slug:"acme",name:"Acme"}){ organization{id} } }`, nil).MustOK(b).Decode(b, &org)
			var p struct {
				CreateProject struct{ Project struct{ ID string } }
			}
			c.Do(b, `mutation($o:ID!){ createProject(input:{organizationId:$o,key:"ENG",name:"Eng"}){ project{id} } }`, map[string]any{"o": org.CreateOrganization.Organization.ID}).MustOK(b).Decode(b, &p)
			for i := 0; i < 20; i++ {
				c.Do(b, `mutation($p:ID!){ createIssue(input:{projectId:$p,title:"board issue"}){ issue{id} } }`, map[string]any{"p": p.CreateProject.Project.ID}).MustOK(b)
			}
			const board = `query BoardView { project(organization:"acme", key:"ENG") { issues(first: 20) { totalCount edges { node { title assignee { name } labels { totalCount } comments { totalCount } } } } } }`
			// 8 clients per CPU: enough to keep both busy through the
			// loaders' collection windows, so ns/op is the throughput of a
			// saturated instance, where tracing's cost shows.
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c.Do(b, board, nil).MustOK(b)
				}
			})
		})
	}
}
