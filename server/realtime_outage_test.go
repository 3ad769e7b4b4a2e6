package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/server/redistest"
	"github.com/issuegraph/issuegraph/server/servertest"
	"github.com/issuegraph/issuegraph/subscriptions"
)

// TestRedisOutageLosesNothing stops this test's own Redis while mutations
// run on a second instance: every mutation succeeds, and when Redis comes
// back the subscriber receives every event, once, in order.
func TestRedisOutageLosesNothing(t *testing.T) {
	t.Parallel()
	rs := redistest.StartServer(t)
	opts := []servertest.Option{servertest.WithRedis(rs.URL()), servertest.WithRedisPrefix("outage:")}
	a := servertest.Start(t, opts...)
	b := servertest.Start(t, append(opts, servertest.WithDatabase(a.Config.DatabaseURL))...)
	f := newFixture(t, a, "outage", "OUT")
	issue := f.createIssue(t, map[string]any{"title": "watched"})["id"].(string)
	ws := subscribeProject(t, a, f.owner.Token, f.projectID, nil)

	const n = 90
	var wg sync.WaitGroup
	progress := make(chan int, n)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(progress)
		c := b.As(f.owner.Token)
		for i := 0; i < n; i++ {
			resp := c.Do(t, `mutation($i:ID!,$b:String!){ addComment(input:{issueId:$i, body:$b}){ userErrors{message} } }`,
				map[string]any{"i": issue, "b": fmt.Sprint("comment ", i)})
			if resp.Status != http.StatusOK || len(resp.Errors) > 0 {
				t.Errorf("mutation %d failed during the outage: %s", i, resp.RawBody)
			}
			progress <- i
			time.Sleep(10 * time.Millisecond)
		}
	}()
	for i := range progress {
		switch i {
		case 20:
			rs.Stop()
		case 60:
			rs.Start()
		}
	}
	wg.Wait()
	got := eventPositions(t, collect(t, ws, "1", n))
	want := positionsEventually(t, a, f.projectID, 2+n) // project, issue, then the comments
	assert.Equal(t, want[2:], got)
	_, err := ws.TryNext(300 * time.Millisecond)
	assert.Error(t, err, "no duplicate after the last event")
}

// TestSSESubscription follows a project over Server-Sent Events.
func TestSSESubscription(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "sse", "SSE")
	body, _ := json.Marshal(map[string]any{"query": projectEventsQuery, "variables": map[string]any{"p": f.projectID}})
	req, err := http.NewRequest(http.MethodPost, env.URL+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+f.owner.Token)
	settled(t, env, f.projectID)
	before := env.Server.ActiveSubscriptions()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	waitSubscribed(t, env, before+1)
	f.createIssue(t, map[string]any{"title": "over sse"})

	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(waitLong)
	for {
		select {
		case line, ok := <-lines:
			require.True(t, ok, "stream ended before the event")
			data, found := strings.CutPrefix(line, "data: ")
			if !found {
				continue
			}
			var p struct {
				Data struct{ ProjectEvents gotEvent }
			}
			require.NoError(t, json.Unmarshal([]byte(data), &p))
			assert.Equal(t, "issue.created", p.Data.ProjectEvents.Type)
			assert.Equal(t, "over sse", p.Data.ProjectEvents.Issue.Title)
			return
		case <-timeout:
			t.Fatal("no event over SSE")
		}
	}
}

// TestCursorOlderThanRetention: a cursor whose event is older than the
// log's retention is refused with a clear error.
func TestCursorOlderThanRetention(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *config.Config) { c.EventRetention = time.Hour })
	f := newFixture(t, env, "old", "OLD")
	f.createIssue(t, map[string]any{"title": "old news"})
	f.createIssue(t, map[string]any{"title": "news"})
	ps := positionsEventually(t, env, f.projectID, 3)
	_, err := env.DB.SQL.Exec(`UPDATE events SET created_at = now() - interval '2 hours' WHERE position = $1`, ps[0])
	require.NoError(t, err)

	ws := env.DialWS(t, servertest.TransportWS)
	ws.Init(t, f.owner.Token)
	ws.Subscribe(t, "old", projectEventsQuery, map[string]any{"p": f.projectID, "a": subscriptions.Cursor(ps[0])})
	m := ws.Next(t, waitLong)
	errs := errorsOf(t, m)
	require.Len(t, errs, 1)
	assert.Equal(t, "BAD_USER_INPUT", errs[0].Code())
	assert.Contains(t, errs[0].Message, "retention")

	// A cursor within the retention replays what followed it.
	ws.Subscribe(t, "recent", projectEventsQuery, map[string]any{"p": f.projectID, "a": subscriptions.Cursor(ps[1])})
	for {
		m := ws.Next(t, waitLong)
		if m.ID == "recent" {
			assert.Equal(t, "next", m.Type)
			assert.Contains(t, string(m.Payload), `"title":"news"`)
			break
		}
	}
}
