package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/redistest"
	"github.com/issuegraph/issuegraph/server/servertest"
	"github.com/issuegraph/issuegraph/subscriptions"
)

const projectEventsQuery = `subscription($p:ID!,$a:String){ projectEvents(projectId:$p, after:$a){
	cursor type occurredAt actor{ id } subject{ id } issue{ id key title } } }`

// gotEvent is an event as a subscriber received it.
type gotEvent struct {
	Cursor     string
	Type       string
	OccurredAt string
	Actor      *struct{ ID string }
	Subject    *struct{ ID string }
	Issue      *struct{ ID, Key, Title string }
}

func (e gotEvent) position(t *testing.T) int64 {
	t.Helper()
	p, err := subscriptions.ParseCursor(e.Cursor)
	require.NoError(t, err)
	return p
}

// withSharedRedis starts instances on the test Redis under one prefix of
// this test's own.
func withSharedRedis(t *testing.T) []servertest.Option {
	prefix := redistest.Prefix(t, redistest.Client(t), "realtime")
	return []servertest.Option{servertest.WithRedis(redistest.URL()), servertest.WithRedisPrefix(prefix)}
}

// nextEvent reads the next message of ws, which must be an event of
// operation id, and returns it.
func nextEvent(t *testing.T, ws *servertest.WS, id string) gotEvent {
	t.Helper()
	m := ws.Next(t, waitLong)
	want := "next"
	if ws.Protocol == servertest.LegacyWS {
		want = "data"
	}
	require.Equal(t, want, m.Type, "payload %s", m.Payload)
	require.Equal(t, id, m.ID)
	var p struct {
		Data   map[string]gotEvent
		Errors []servertest.Error
	}
	require.NoError(t, json.Unmarshal(m.Payload, &p))
	require.Empty(t, p.Errors)
	for _, ev := range p.Data {
		return ev
	}
	t.Fatalf("event without data: %s", m.Payload)
	return gotEvent{}
}

// collect reads n events of operation id.
func collect(t *testing.T, ws *servertest.WS, id string, n int) []gotEvent {
	t.Helper()
	out := make([]gotEvent, 0, n)
	for len(out) < n {
		out = append(out, nextEvent(t, ws, id))
	}
	return out
}

// subscribeProject opens a WebSocket as token and subscribes to the
// project's events, waiting until the subscription is live.
func subscribeProject(t *testing.T, env *servertest.Env, token, projectID string, after *string) *servertest.WS {
	t.Helper()
	if after == nil {
		settled(t, env, projectID)
	}
	before := env.Server.ActiveSubscriptions()
	ws := env.DialWS(t, servertest.TransportWS)
	ws.Init(t, token)
	vars := map[string]any{"p": projectID}
	if after != nil {
		vars["a"] = *after
	}
	ws.Subscribe(t, "1", projectEventsQuery, vars)
	waitSubscribed(t, env, before+1)
	return ws
}

// settled waits until the relay has positioned every event of the project
// committed so far: a subscription without after starts after those.
func settled(t testing.TB, env *servertest.Env, projectID string) {
	t.Helper()
	id := dbID(t, projectID, "Project")
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, env.DB.SQL.QueryRow(`SELECT count(*) FROM events WHERE project_id = $1 AND position IS NULL`, id).Scan(&n))
		return n == 0
	}, waitLong, pollEvery)
}

// dbID is the database id inside a global ID of type typ.
func dbID(t testing.TB, gid, typ string) int64 {
	t.Helper()
	raw, err := fromBase64URL(gid)
	require.NoError(t, err)
	var id int64
	_, err = fmt.Sscanf(raw, typ+":%d", &id)
	require.NoError(t, err)
	return id
}

// waitSubscribed waits until the instance follows n streams, so a test
// does not mutate before a subscription is live.
func waitSubscribed(t testing.TB, env *servertest.Env, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return env.Server.ActiveSubscriptions() >= n }, waitLong, pollEvery)
}

// positions returns the positions of the project's events in the log, in
// delivery order, after position after.
func positions(t *testing.T, env *servertest.Env, projectID string, after int64) []int64 {
	t.Helper()
	id := dbID(t, projectID, "Project")
	rows, err := env.DB.SQL.Query(`SELECT position FROM events WHERE project_id = $1 AND position > $2 ORDER BY position`, id, after)
	require.NoError(t, err)
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var p int64
		require.NoError(t, rows.Scan(&p))
		out = append(out, p)
	}
	require.NoError(t, rows.Err())
	return out
}

func eventPositions(t *testing.T, evs []gotEvent) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.position(t)
	}
	return out
}

func TestSubscriptionDeliversProjectEvents(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	f := newFixture(t, env, "live", "LIVE")
	ws := subscribeProject(t, env, f.owner.Token, f.projectID, nil)

	created := f.createIssue(t, map[string]any{"title": "Board shows it"})
	ev := nextEvent(t, ws, "1")
	assert.Equal(t, "issue.created", ev.Type)
	require.NotNil(t, ev.Issue)
	assert.Equal(t, created["id"], ev.Issue.ID)
	assert.Equal(t, "Board shows it", ev.Issue.Title)
	require.NotNil(t, ev.Subject)
	assert.Equal(t, created["id"], ev.Subject.ID)
	require.NotNil(t, ev.Actor)
	assert.Equal(t, f.ownerID, ev.Actor.ID)
	assert.NotEmpty(t, ev.OccurredAt)

	f.owner.Do(t, `mutation($i:ID!){ addComment(input:{issueId:$i, body:"hi"}){ userErrors{message} } }`, map[string]any{"i": created["id"]}).MustOK(t)
	f.owner.Do(t, `mutation($i:ID!){ closeIssue(input:{issueId:$i}){ userErrors{message} } }`, map[string]any{"i": created["id"]}).MustOK(t)
	f.owner.Do(t, `mutation($i:ID!){ reopenIssue(input:{issueId:$i}){ userErrors{message} } }`, map[string]any{"i": created["id"]}).MustOK(t)
	var types []string
	for _, e := range collect(t, ws, "1", 3) {
		types = append(types, e.Type)
	}
	assert.Equal(t, []string{"comment.added", "issue.closed", "issue.reopened"}, types)
}

// TestTwoInstancesShareEvents subscribes on one instance and mutates on
// another that shares its database and Redis.
func TestTwoInstancesShareEvents(t *testing.T) {
	t.Parallel()
	redisOpts := withSharedRedis(t)
	a := servertest.Start(t, redisOpts...)
	b := servertest.Start(t, append(redisOpts, servertest.WithDatabase(a.Config.DatabaseURL))...)
	f := newFixture(t, b, "twin", "TWIN")
	ws := subscribeProject(t, a, f.owner.Token, f.projectID, nil)

	fb := f
	fb.env = b
	for i := 0; i < 5; i++ {
		fb.createIssue(t, map[string]any{"title": fmt.Sprintf("from b %d", i)})
	}
	evs := collect(t, ws, "1", 5)
	for i, e := range evs {
		assert.Equal(t, "issue.created", e.Type)
		assert.Equal(t, fmt.Sprintf("from b %d", i), e.Issue.Title)
	}
	assert.Equal(t, positions(t, a, f.projectID, evs[0].position(t)-1), eventPositions(t, evs))
}

// TestConcurrentMutationsReachEverySubscriberOnceInOrder runs 500
// mutations at once on two instances (their events commit out of id
// order); every subscriber, on either instance, receives each event once,
// in the log's order.
func TestConcurrentMutationsReachEverySubscriberOnceInOrder(t *testing.T) {
	t.Parallel()
	redisOpts := withSharedRedis(t)
	a := servertest.Start(t, redisOpts...)
	b := servertest.Start(t, append(redisOpts, servertest.WithDatabase(a.Config.DatabaseURL))...)
	f := newFixture(t, a, "burst", "BURST")
	var issues []string
	for i := 0; i < 10; i++ {
		issues = append(issues, f.createIssue(t, map[string]any{"title": fmt.Sprintf("issue %d", i)})["id"].(string))
	}
	start := positionsEventually(t, a, f.projectID, 11) // project.created + 10 issues
	subs := []*servertest.WS{
		subscribeProject(t, a, f.owner.Token, f.projectID, nil),
		subscribeProject(t, a, f.owner.Token, f.projectID, nil),
		subscribeProject(t, b, f.owner.Token, f.projectID, nil),
		subscribeProject(t, b, f.owner.Token, f.projectID, nil),
	}
	const n = 500
	var wg sync.WaitGroup
	sem := make(chan struct{}, 40)
	failures := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			env := []*servertest.Env{a, b}[i%2]
			c := env.As(f.owner.Token)
			issue := issues[i%len(issues)]
			var resp *servertest.Response
			if i%2 == 0 {
				resp = c.Do(t, `mutation($i:ID!,$b:String!){ addComment(input:{issueId:$i, body:$b}){ userErrors{message} } }`, map[string]any{"i": issue, "b": fmt.Sprint("comment ", i)})
			} else {
				resp = c.Do(t, `mutation($i:ID!,$t:String!){ updateIssue(input:{id:$i, title:$t}){ userErrors{message} } }`, map[string]any{"i": issue, "t": fmt.Sprint("title ", i)})
			}
			if resp.Status != 200 || len(resp.Errors) > 0 {
				failures <- string(resp.RawBody)
			}
		}(i)
	}
	wg.Wait()
	close(failures)
	for msg := range failures {
		t.Errorf("mutation failed: %s", msg)
	}
	want := positionsEventually(t, a, f.projectID, 11+n)[11:]
	require.Len(t, want, n)
	_ = start
	var swg sync.WaitGroup
	got := make([][]int64, len(subs))
	for i, ws := range subs {
		swg.Add(1)
		go func(i int, ws *servertest.WS) {
			defer swg.Done()
			got[i] = eventPositions(t, collect(t, ws, "1", n))
		}(i, ws)
	}
	swg.Wait()
	for i := range subs {
		assert.Equal(t, want, got[i], "subscriber %d", i)
	}
	// And nothing more arrives: no duplicate after the last one.
	for i, ws := range subs {
		_, err := ws.TryNext(300 * time.Millisecond)
		assert.Error(t, err, "subscriber %d got an extra message", i)
	}
}

// positionsEventually waits until the project has n positioned events and
// returns their positions.
func positionsEventually(t *testing.T, env *servertest.Env, projectID string, n int) []int64 {
	t.Helper()
	var ps []int64
	require.Eventually(t, func() bool {
		ps = positions(t, env, projectID, 0)
		return len(ps) >= n
	}, waitLong, pollEvery)
	return ps
}

// TestResumeAfterDisconnect drops a subscriber's connection, mutates, and
// reconnects with the last cursor it saw: it gets exactly what it missed,
// then live events.
func TestResumeAfterDisconnect(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, withSharedRedis(t)...)
	f := newFixture(t, env, "resume", "RES")
	ws := subscribeProject(t, env, f.owner.Token, f.projectID, nil)
	for i := 0; i < 3; i++ {
		f.createIssue(t, map[string]any{"title": fmt.Sprintf("before %d", i)})
	}
	before := collect(t, ws, "1", 3)
	last := before[len(before)-1].Cursor
	ws.CloseNow()

	for i := 0; i < 4; i++ {
		f.createIssue(t, map[string]any{"title": fmt.Sprintf("while away %d", i)})
	}
	positionsEventually(t, env, f.projectID, 1+3+4)
	ws2 := subscribeProject(t, env, f.owner.Token, f.projectID, &last)
	missed := collect(t, ws2, "1", 4)
	for i, e := range missed {
		assert.Equal(t, fmt.Sprintf("while away %d", i), e.Issue.Title)
	}
	f.createIssue(t, map[string]any{"title": "after"})
	live := nextEvent(t, ws2, "1")
	assert.Equal(t, "after", live.Issue.Title)
	all := append(append(before, missed...), live)
	assert.Equal(t, positions(t, env, f.projectID, before[0].position(t)-1), eventPositions(t, all), "no gap, no duplicate")
}

// TestRelayFailover stops the instance whose relay leads: the other
// instance's relay takes over and its subscriber misses nothing.
func TestRelayFailover(t *testing.T) {
	t.Parallel()
	redisOpts := withSharedRedis(t)
	a := servertest.Start(t, redisOpts...)
	b := servertest.Start(t, append(redisOpts, servertest.WithDatabase(a.Config.DatabaseURL))...)
	leader, follower := a, b
	require.Eventually(t, func() bool {
		switch {
		case strings.Contains(a.Logs.String(), "event relay: leading"):
			leader, follower = a, b
		case strings.Contains(b.Logs.String(), "event relay: leading"):
			leader, follower = b, a
		default:
			return false
		}
		return true
	}, waitLong, pollEvery)
	f := newFixture(t, follower, "failover", "FAIL")
	f.env = follower
	ws := subscribeProject(t, follower, f.owner.Token, f.projectID, nil)
	f.createIssue(t, map[string]any{"title": "before"})
	assert.Equal(t, "before", nextEvent(t, ws, "1").Issue.Title)

	require.NoError(t, leader.Stop())
	for i := 0; i < 3; i++ {
		f.createIssue(t, map[string]any{"title": fmt.Sprint("after ", i)})
	}
	for i, e := range collect(t, ws, "1", 3) {
		assert.Equal(t, fmt.Sprint("after ", i), e.Issue.Title)
	}
	require.Eventually(t, func() bool { return strings.Contains(follower.Logs.String(), "event relay: leading") }, waitLong, pollEvery)
}
