//go:build cluster

// Package cluster runs three Issuegraph instances behind HAProxy on this
// machine, sharing one PostgreSQL database and one Redis, and checks what a
// scaled-out deployment promises: events cross instances, rate-limit
// buckets and automatic persisted queries are shared, the relay fails
// over, and a rolling restart under load loses no request and no event.
// It prints a table of what it saw. `make cluster` runs it; it is not part
// of `make test` (it takes minutes and binds fixed ports).
//
// Settings (environment):
//
//	CLUSTER_DATABASE      database to (re)create on the test PostgreSQL (issuegraph_cluster)
//	CLUSTER_REDIS_PREFIX  Redis key prefix; a run id is appended (issuegraph-cluster:)
//	CLUSTER_PORT          HAProxy's port; instances use the next three, /metrics +11..+13 (18080)
package cluster_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	_ "github.com/lib/pq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/deploy/internal/fleet"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
)

const (
	waitLong  = 30 * time.Second
	pollEvery = 50 * time.Millisecond
	jwtSecret = "cluster-test-secret-shared-by-all-three-instances-0123456789"
)

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// cluster is three instances, HAProxy and the shared stores.
type cluster struct {
	t         *testing.T
	bin       string
	dir       string
	env       []string
	db        *sql.DB
	lbPort    int
	haproxy   *exec.Cmd
	socket    string
	instances []*fleet.Instance
}

func (c *cluster) lb() string { return fmt.Sprintf("http://127.0.0.1:%d", c.lbPort) }

func startCluster(t *testing.T) *cluster {
	base, err := strconv.Atoi(getenv("CLUSTER_PORT", "18080"))
	require.NoError(t, err)
	c := &cluster{t: t, dir: t.TempDir(), lbPort: base}

	c.bin, err = fleet.Build("../..", c.dir)
	require.NoError(t, err)

	server, err := url.Parse(databasetest.ServerURL())
	require.NoError(t, err)
	name := getenv("CLUSTER_DATABASE", "issuegraph_cluster")
	admin, err := sql.Open("postgres", server.String())
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	require.NoError(t, err)
	dbURL := *server
	dbURL.Path = "/" + name

	redisURL := getenv("ISSUEGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
	prefix := getenv("CLUSTER_REDIS_PREFIX", "issuegraph-cluster:") + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	c.env = []string{
		"ISSUEGRAPH_DATABASE_URL=" + dbURL.String(),
		"ISSUEGRAPH_REDIS_URL=" + redisURL,
		"ISSUEGRAPH_REDIS_PREFIX=" + prefix,
		"ISSUEGRAPH_JWT_SECRET=" + jwtSecret,
		"ISSUEGRAPH_AUTO_MIGRATE=false",
		"ISSUEGRAPH_DEMO_DATA=false",
		"ISSUEGRAPH_TRUSTED_PROXY_HOPS=1",
		"ISSUEGRAPH_SHUTDOWN_TIMEOUT=10s",
		"ISSUEGRAPH_RELAY_POLL_INTERVAL=250ms",
		// A slow refill, so the cost-bucket scenario sees every charge.
		"ISSUEGRAPH_RATE_LIMIT_USER_RATE=10",
		"ISSUEGRAPH_LOG_LEVEL=info",
		"PATH=" + os.Getenv("PATH"),
	}
	t.Cleanup(func() {
		opts, err := redis.ParseURL(redisURL)
		if err != nil {
			return
		}
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})

	// `issuegraph migrate` creates the database and applies the
	// migrations, as the Kubernetes Job does before a rollout.
	migrate := exec.Command(c.bin, "migrate")
	migrate.Env = c.env
	out, err := migrate.CombinedOutput()
	require.NoError(t, err, "%s", out)
	c.db, err = sql.Open("postgres", dbURL.String())
	require.NoError(t, err)
	t.Cleanup(func() {
		c.db.Close()
		if admin, err := sql.Open("postgres", server.String()); err == nil {
			_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			admin.Close()
		}
	})

	for i := 1; i <= 3; i++ {
		in := &fleet.Instance{Name: fmt.Sprintf("api%d", i), Port: base + i, Metrics: base + 10 + i}
		in.LogPath = filepath.Join(c.dir, in.Name+".log")
		c.instances = append(c.instances, in)
		c.start(in)
	}
	t.Cleanup(func() {
		for _, in := range c.instances {
			c.stop(in, syscall.SIGKILL)
		}
	})
	for _, in := range c.instances {
		c.waitReady(in)
	}
	c.startHAProxy()
	return c
}

// start runs the instance's process, appending to its log.
func (c *cluster) start(in *fleet.Instance) { require.NoError(c.t, in.Start(c.bin, c.env)) }

// stop signals the instance and waits for its process to end.
func (c *cluster) stop(in *fleet.Instance, sig syscall.Signal) { in.Stop(sig, waitLong) }

func (c *cluster) waitReady(in *fleet.Instance) {
	require.NoError(c.t, in.WaitReady(waitLong, pollEvery))
}

// startHAProxy balances over the instances, checking /readyz every 500ms.
// Like the Kubernetes Service, it retries a request whose connection an
// instance refused on another instance (a refused connection reached no
// server, so even a mutation is safe to send again).
func (c *cluster) startHAProxy() {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		c.t.Fatal("haproxy is not installed: apt-get install haproxy (make cluster does)")
	}
	c.socket = filepath.Join(c.dir, "haproxy.sock")
	var servers strings.Builder
	for _, in := range c.instances {
		fmt.Fprintf(&servers, "  server %s 127.0.0.1:%d\n", in.Name, in.Port)
	}
	cfg := fmt.Sprintf(`global
  stats socket %s mode 600 level admin
defaults
  mode http
  option forwardfor
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response
frontend api
  bind 127.0.0.1:%d
  default_backend issuegraph
backend issuegraph
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server check inter 500ms fall 2 rise 2
%s`, c.socket, c.lbPort, servers.String())
	path := filepath.Join(c.dir, "haproxy.cfg")
	require.NoError(c.t, os.WriteFile(path, []byte(cfg), 0o600))
	c.haproxy = exec.Command(bin, "-db", "-f", path)
	logf, err := os.Create(filepath.Join(c.dir, "haproxy.log"))
	require.NoError(c.t, err)
	c.haproxy.Stdout, c.haproxy.Stderr = logf, logf
	require.NoError(c.t, c.haproxy.Start())
	c.t.Cleanup(func() {
		_ = c.haproxy.Process.Kill()
		_ = c.haproxy.Wait()
		logf.Close()
	})
	require.Eventually(c.t, func() bool {
		_, err := os.Stat(c.socket)
		return err == nil
	}, waitLong, pollEvery, "HAProxy opens its runtime API socket")
	for _, in := range c.instances {
		c.waitUp(in)
	}
}

// admin sends one command to HAProxy's runtime API.
func (c *cluster) admin(cmd string) string {
	conn, err := net.Dial("unix", c.socket)
	require.NoError(c.t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, cmd+"\n")
	require.NoError(c.t, err)
	out, _ := io.ReadAll(conn)
	return string(out)
}

// waitUp waits until HAProxy's health check has the instance UP.
func (c *cluster) waitUp(in *fleet.Instance) {
	re := regexp.MustCompile(`(?m)^issuegraph,` + in.Name + `,(?:[^,]*,){15}UP,`)
	deadline := time.Now().Add(waitLong)
	for time.Now().Before(deadline) {
		if re.MatchString(c.admin("show stat")) {
			return
		}
		time.Sleep(pollEvery)
	}
	c.t.Fatalf("HAProxy does not see %s UP:\n%s", in.Name, c.admin("show stat"))
}

// leader returns the instance whose relay leads, from the logs.
func (c *cluster) leader() *fleet.Instance {
	var found *fleet.Instance
	require.Eventually(c.t, func() bool {
		var latest time.Time
		for _, in := range c.instances {
			if at, ok := fleet.LastLeading(in.LogPath); ok && at.After(latest) {
				latest, found = at, in
			}
		}
		return found != nil
	}, waitLong, pollEvery)
	return found
}

// headPosition waits until every event of the project has a position and
// returns the last one.
func (c *cluster) headPosition(f fleet.Fixture) int64 {
	return fleet.WaitHead(c.t, c.db, f.ProjectDBID, waitLong)
}

func (c *cluster) positionsAfter(f fleet.Fixture, after int64) []int64 {
	out, err := fleet.PositionsAfter(c.db, f.ProjectDBID, after)
	require.NoError(c.t, err)
	return out
}

// row is one line of the printed table.
type row struct{ scenario, result, verdict string }

func TestCluster(t *testing.T) {
	c := startCluster(t)
	var rows []row
	add := func(scenario, result string, ok bool) {
		verdict := "ok"
		if !ok {
			verdict = "FAIL"
			t.Errorf("%s: %s", scenario, result)
		}
		rows = append(rows, row{scenario, result, verdict})
	}
	defer func() {
		w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "\nscenario\tresult\tverdict")
		fmt.Fprintln(w, "--------\t------\t-------")
		for _, r := range rows {
			fmt.Fprintf(w, "%s\t%s\t%s\n", r.scenario, r.result, r.verdict)
		}
		w.Flush()
	}()

	f := fleet.NewFixture(t, c.lb(), "cluster", "CLU")
	eventsAcrossInstances(c, f, add)
	sharedCostBucket(c, f, add)
	sharedAPQ(c, f, add)
	relayFailover(c, f, add)
	rollingRestart(c, f, add)
}

// eventsAcrossInstances: a subscriber connected through the load balancer
// receives the events of mutations sent to each instance directly.
func eventsAcrossInstances(c *cluster, f fleet.Fixture, add func(string, string, bool)) {
	head := c.headPosition(f)
	sub := fleet.Follow(c.lb(), f, fleet.WebSocket, head)
	defer sub.Close()
	for _, in := range c.instances {
		require.NoError(c.t, f.CreateIssue(in.URL(), "made on "+in.Name))
	}
	got := sub.WaitFor(3, waitLong)
	want := c.positionsAfter(f, head)
	add("subscription via LB, one mutation on each of api1..api3",
		fmt.Sprintf("%d of %d events, in order: %v", len(got), len(want), fleet.Equal(got, want)), fleet.Equal(got, want))
}

// sharedCostBucket: one user's requests to the three instances draw on
// one bucket, so the remaining points fall with every request wherever it
// lands.
func sharedCostBucket(c *cluster, f fleet.Fixture, add func(string, string, bool)) {
	var remaining []int
	for i := 0; i < 6; i++ {
		in := c.instances[i%3]
		resp, err := fleet.GQL(in.URL(), f.Token, `query($p:ID!){ node(id:$p){ ... on Project { issues(first:50){ edges{ node{ id } } } } } }`, map[string]any{"p": f.ProjectID}, nil)
		require.NoError(c.t, err)
		m := regexp.MustCompile(`r=(\d+)`).FindStringSubmatch(resp.Header.Get("RateLimit"))
		require.NotNil(c.t, m, "RateLimit header on %s: %v", in.Name, resp.Header)
		n, _ := strconv.Atoi(m[1])
		remaining = append(remaining, n)
	}
	// The bucket refills 10 points a second, far less than one charge; a
	// bucket per instance would show three fresh starts.
	falling := true
	for i := 1; i < len(remaining); i++ {
		if remaining[i] >= remaining[i-1] {
			falling = false
		}
	}
	add("one user's cost bucket, requests round api1,api2,api3 x2",
		fmt.Sprintf("remaining points %v", remaining), falling)
}

// sharedAPQ: a query registered as an automatic persisted query on one
// instance runs by hash alone on the others.
func sharedAPQ(c *cluster, f fleet.Fixture, add func(string, string, bool)) {
	query := `query ClusterAPQ { viewer { id name } }`
	sum := sha256.Sum256([]byte(query))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
	miss, err := fleet.GQL(c.instances[1].URL(), f.Token, "", nil, ext)
	require.NoError(c.t, err)
	missed := len(miss.Errors) == 1 && miss.Errors[0].Extensions["code"] == "PERSISTED_QUERY_NOT_FOUND"
	reg, err := fleet.GQL(c.instances[0].URL(), f.Token, query, nil, ext)
	require.NoError(c.t, err)
	require.Empty(c.t, reg.Errors)
	var hits []string
	for _, in := range c.instances[1:] {
		resp, err := fleet.GQL(in.URL(), f.Token, "", nil, ext)
		require.NoError(c.t, err)
		if len(resp.Errors) == 0 && len(resp.Data["viewer"]) > 0 {
			hits = append(hits, in.Name)
		}
	}
	add("APQ registered on api1, hash only on api2,api3",
		fmt.Sprintf("before: not found on api2 %v; after: hits on %v", missed, hits), missed && len(hits) == 2)
}

// relayFailover kills the leading relay's instance outright (SIGKILL, no
// shutdown): another instance's relay takes over and a subscriber on a
// third instance misses nothing.
func relayFailover(c *cluster, f fleet.Fixture, add func(string, string, bool)) {
	leader := c.leader()
	var other *fleet.Instance
	for _, in := range c.instances {
		if in != leader {
			other = in
			break
		}
	}
	head := c.headPosition(f)
	sub := fleet.Follow(other.URL(), f, fleet.WebSocket, head)
	defer sub.Close()
	killed := time.Now()
	c.stop(leader, syscall.SIGKILL)
	c.admin("disable health issuegraph/" + leader.Name) // nothing to check
	for i := 0; i < 3; i++ {
		require.NoError(c.t, f.CreateIssue(other.URL(), fmt.Sprint("after the kill ", i)))
	}
	got := sub.WaitFor(3, waitLong)
	var next *fleet.Instance
	require.Eventually(c.t, func() bool {
		for _, in := range c.instances {
			if at, ok := fleet.LastLeading(in.LogPath); ok && in != leader && at.After(killed) {
				next = in
				return true
			}
		}
		return false
	}, waitLong, pollEvery)
	took := time.Since(killed)
	want := c.positionsAfter(f, head)
	add(fmt.Sprintf("relay leader %s killed (SIGKILL)", leader.Name),
		fmt.Sprintf("%s leads; subscriber on %s got %d of %d events (%s after the kill)", next.Name, other.Name, len(got), len(want), took.Round(100*time.Millisecond)),
		fleet.Equal(got, want))

	c.start(leader)
	c.waitReady(leader)
	c.admin("enable health issuegraph/" + leader.Name)
	c.waitUp(leader)
}

// rollingRestart restarts the three instances one at a time, as a
// Deployment rollout does, while clients query and mutate through the
// load balancer and subscribers follow the project through it, resuming
// with after: whenever their connection ends.
func rollingRestart(c *cluster, f fleet.Fixture, add func(string, string, bool)) {
	head := c.headPosition(f)
	const subscribers = 6
	var subs []*fleet.Follower
	for i := 0; i < subscribers; i++ {
		subs = append(subs, fleet.Follow(c.lb(), f, fleet.WebSocket, head))
	}

	ctx, stopLoad := context.WithCancel(context.Background())
	var requests, failed, mutations atomic.Int64
	var failures sync.Map
	var load sync.WaitGroup
	for w := 0; w < 4; w++ {
		load.Add(1)
		go func(w int) {
			defer load.Done()
			for n := 0; ctx.Err() == nil; n++ {
				var err error
				if n%4 == 0 {
					err = f.CreateIssue(c.lb(), fmt.Sprintf("load %d-%d", w, n))
					if err == nil {
						mutations.Add(1)
					}
				} else {
					var resp *fleet.Response
					resp, err = fleet.GQL(c.lb(), f.Token, `query($p:ID!){ node(id:$p){ ... on Project { issues(first:5){ totalCount } } } }`, map[string]any{"p": f.ProjectID}, nil)
					if err == nil && (resp.Status != http.StatusOK || len(resp.Errors) > 0) {
						err = fmt.Errorf("status %d: %v", resp.Status, resp.Errors)
					}
				}
				requests.Add(1)
				if err != nil {
					failed.Add(1)
					failures.Store(err.Error(), true)
				}
				time.Sleep(20 * time.Millisecond) // pace: about 50 requests/s per worker
			}
		}(w)
	}

	for _, in := range c.instances {
		// Kubernetes takes the pod out of the endpoints, waits out the
		// preStop pause, then sends SIGTERM. HAProxy's drain state does
		// the first: no new requests, open connections stay.
		c.admin("set server issuegraph/" + in.Name + " state drain")
		time.Sleep(2 * time.Second) // the preStop pause
		c.stop(in, syscall.SIGTERM)
		c.admin("set server issuegraph/" + in.Name + " state maint")
		c.start(in)
		c.waitReady(in)
		c.admin("set server issuegraph/" + in.Name + " state ready")
		c.waitUp(in)
		time.Sleep(time.Second) // let load and subscribers reach it
	}
	stopLoad()
	load.Wait()

	final := c.headPosition(f)
	want := c.positionsAfter(f, head)
	var lost, dup, reconnects int
	for _, s := range subs {
		got := s.WaitUntil(final, waitLong)
		s.Close()
		l, d, _ := fleet.Compare(got, want)
		lost += l
		dup += d
		reconnects += int(s.Reconnects.Load())
	}
	var reasons []string
	failures.Range(func(k, _ any) bool { reasons = append(reasons, k.(string)); return len(reasons) < 3 })
	add("rolling restart (drain, SIGTERM, restart) of api1..api3 under load",
		fmt.Sprintf("%d requests (%d mutations), %d failed %v", requests.Load(), mutations.Load(), failed.Load(), reasons), failed.Load() == 0)
	add(fmt.Sprintf("  %d graphql-transport-ws subscribers resuming with after:", subscribers),
		fmt.Sprintf("%d events each; %d reconnects; %d lost, %d duplicated in all", len(want), reconnects, lost, dup), lost == 0 && dup == 0)
}
