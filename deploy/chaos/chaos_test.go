//go:build chaos

// The fault suite: `make chaos` runs TestChaos. It starts a PostgreSQL
// cluster and a Redis of its own (in a temporary directory, on fixed
// ports), builds Issuegraph and runs two instances on them, then breaks
// things under load and prints one table: scenario, target, measured,
// verdict. A missed target fails the test. Everything it starts is ended
// by PID when it finishes, fails or is interrupted.
//
// Settings (environment):
//
//	CHAOS_PORT        first port: instances +1 and +2, their metrics +11 and +12,
//	                  PostgreSQL +32, Redis +79 (19200)
//	CHAOS_SOAK        length of the mixed soak (3m)
//	CHAOS_PG_OUTAGE   how long PostgreSQL stays stopped (5s)
//	CHAOS_REDIS_OUTAGE how long Redis stays away (5s)
package chaos_test

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	_ "github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/deploy/internal/fleet"
)

const (
	waitLong  = 60 * time.Second
	pollEvery = 50 * time.Millisecond
	jwtSecret = "chaos-suite-secret-shared-by-both-instances-0123456789abcdef"
)

func setting(tb testing.TB, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	require.NoError(tb, err, name)
	return d
}

// suite is the stores, the two instances, and the table being filled.
type suite struct {
	t         *testing.T
	bin       string
	env       []string
	pg        *postgres
	redis     *redisServer
	db        *sql.DB
	instances []*fleet.Instance

	rows []row
}

// row is one line of the table.
type row struct {
	scenario, target, measured string
	ok                         bool
}

// add records a scenario's figure; a missed target fails the test.
func (s *suite) add(scenario, target, measured string, ok bool) {
	if !ok {
		s.t.Errorf("%s: target %s, measured %s", scenario, target, measured)
	}
	s.rows = append(s.rows, row{scenario, target, measured, ok})
}

// info records a figure that has no target.
func (s *suite) info(scenario, measured string) {
	s.rows = append(s.rows, row{scenario, "-", measured, true})
}

func (s *suite) print(started time.Time) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "\nmake chaos, %s, %s; load average %s at start, %s at end\n\n", started.UTC().Format("2006-01-02 15:04 MST"),
		time.Since(started).Round(time.Second), loadAverage(startLoad), loadAverage(""))
	fmt.Fprintln(w, "| scenario\t| target\t| measured\t| verdict\t|")
	fmt.Fprintln(w, "| ---\t| ---\t| ---\t| ---\t|")
	for _, r := range s.rows {
		verdict := "pass"
		if !r.ok {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "| %s\t| %s\t| %s\t| %s\t|\n", r.scenario, r.target, r.measured, verdict)
	}
	w.Flush()
}

var startLoad string

// loadAverage is /proc/loadavg's first three figures (or given, when set).
func loadAverage(given string) string {
	if given != "" {
		return given
	}
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(raw))[:3], " ")
}

// reaper ends what the suite started, once: at the end of the test, or
// when the run is interrupted (go test does not run clean-ups on SIGINT).
type reaper struct {
	mu   sync.Mutex
	fns  []func()
	once sync.Once
}

func (r *reaper) add(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fns = append(r.fns, fn)
}

func (r *reaper) run() {
	r.once.Do(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for i := len(r.fns) - 1; i >= 0; i-- {
			r.fns[i]()
		}
	})
}

// watch runs the reaper if the process is told to stop before the end.
func (r *reaper) watch() (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(os.Stderr, "chaos: %s: stopping what the suite started\n", sig)
			r.run()
			os.Exit(2)
		case <-done:
		}
	}()
	return func() { signal.Stop(sigs); close(done) }
}

func start(t *testing.T) *suite {
	base, err := strconv.Atoi(envOr("CHAOS_PORT", "19200"))
	require.NoError(t, err)
	s := &suite{t: t}
	rp := &reaper{}
	t.Cleanup(rp.run)
	t.Cleanup(rp.watch())

	dir, err := os.MkdirTemp("", "issuegraph-chaos-")
	require.NoError(t, err)
	rp.add(func() {
		if t.Failed() {
			fmt.Fprintf(os.Stderr, "chaos: logs kept in %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	s.bin, err = fleet.Build("../..", dir)
	require.NoError(t, err)

	s.pg, err = initPostgres(dir, base+32)
	if s.pg != nil {
		rp.add(s.pg.kill)
	}
	require.NoError(t, err)
	s.redis = &redisServer{port: base + 79}
	require.NoError(t, s.redis.start())
	rp.add(func() { s.redis.kill() })

	dbURL := s.pg.url("issuegraph_chaos")
	s.env = []string{
		"ISSUEGRAPH_DATABASE_URL=" + dbURL,
		"ISSUEGRAPH_REDIS_URL=" + s.redis.url(),
		"ISSUEGRAPH_JWT_SECRET=" + jwtSecret,
		"ISSUEGRAPH_AUTO_MIGRATE=false",
		"ISSUEGRAPH_DEMO_DATA=false",
		"ISSUEGRAPH_SHUTDOWN_TIMEOUT=10s",
		// Load comes from one user; the suite is not about its bucket.
		"ISSUEGRAPH_RATE_LIMIT_USER=1000000",
		"ISSUEGRAPH_RATE_LIMIT_USER_RATE=1000000",
		"ISSUEGRAPH_LOG_LEVEL=info",
		"PATH=" + os.Getenv("PATH"),
	}
	migrate := exec.Command(s.bin, "migrate")
	migrate.Env = s.env
	out, err := migrate.CombinedOutput()
	require.NoError(t, err, "%s", out)
	s.db, err = sql.Open("postgres", dbURL)
	require.NoError(t, err)
	rp.add(func() { s.db.Close() })

	for i := 1; i <= 2; i++ {
		in := &fleet.Instance{Name: fmt.Sprintf("api%d", i), Port: base + i, Metrics: base + 10 + i}
		in.LogPath = filepath.Join(dir, in.Name+".log")
		s.instances = append(s.instances, in)
		require.NoError(t, in.Start(s.bin, s.env))
		rp.add(func() { in.Stop(syscall.SIGKILL, waitLong) })
	}
	for _, in := range s.instances {
		require.NoError(t, in.WaitReady(waitLong, pollEvery))
	}
	return s
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// restart starts a stopped instance again and waits until it is ready.
func (s *suite) restart(in *fleet.Instance) {
	require.NoError(s.t, in.Start(s.bin, s.env))
	require.NoError(s.t, in.WaitReady(waitLong, pollEvery))
}

// other is the instance that is not in.
func (s *suite) other(in *fleet.Instance) *fleet.Instance {
	if s.instances[0] == in {
		return s.instances[1]
	}
	return s.instances[0]
}

// urls lists the instances' API origins.
func (s *suite) urls() []string {
	var out []string
	for _, in := range s.instances {
		out = append(out, in.URL())
	}
	return out
}

// waitHead waits until every event of the project is positioned and
// published, and returns the last position.
func (s *suite) waitHead(f fleet.Fixture) int64 {
	return fleet.WaitHead(s.t, s.db, f.ProjectDBID, waitLong)
}

// followEverywhere subscribes to the project on every instance over both
// transports, after position after.
func (s *suite) followEverywhere(f fleet.Fixture, after int64) []*fleet.Follower {
	var subs []*fleet.Follower
	for _, tr := range []fleet.Transport{fleet.WebSocket, fleet.SSE} {
		for _, in := range s.instances {
			subs = append(subs, fleet.Follow(in.URL(), f, tr, after))
		}
	}
	return subs
}

// delivery is what followers received against the log.
type delivery struct {
	subscribers, events, received    int
	lost, dup, reordered, reconnects int
	refusals                         []string
}

func (d delivery) ok() bool {
	return d.lost == 0 && d.dup == 0 && d.reordered == 0 && len(d.refusals) == 0
}

func (d delivery) String() string {
	out := fmt.Sprintf("%d events x %d subscribers: %d lost, %d duplicated, %d reordered; %d reconnects", d.events, d.subscribers, d.lost, d.dup, d.reordered, d.reconnects)
	if len(d.refusals) > 0 {
		out += "; ended: " + strings.Join(d.refusals, "; ")
	}
	return out
}

// settle waits until the followers received everything the project's log
// holds after after, closes them and compares.
func (s *suite) settle(f fleet.Fixture, subs []*fleet.Follower, after int64) delivery {
	final := s.waitHead(f)
	want, err := fleet.PositionsAfter(s.db, f.ProjectDBID, after)
	require.NoError(s.t, err)
	d := delivery{subscribers: len(subs), events: len(want)}
	for _, sub := range subs {
		got := sub.WaitUntil(final, waitLong)
		if err := sub.Err(); err != nil {
			d.refusals = append(d.refusals, err.Error())
		}
		sub.Close()
		l, dup, r := fleet.Compare(got, want)
		d.received, d.lost, d.dup, d.reordered = d.received+len(got), d.lost+l, d.dup+dup, d.reordered+r
		d.reconnects += int(sub.Reconnects.Load())
	}
	return d
}

func TestChaos(t *testing.T) {
	started := time.Now()
	startLoad = loadAverage("")
	s := start(t)
	defer s.print(started)

	f := fleet.NewFixture(t, s.instances[0].URL(), "chaos", "CHA")
	postgresRestart(s, f, setting(t, "CHAOS_PG_OUTAGE", 5*time.Second))
	redisOutage(s, f, setting(t, "CHAOS_REDIS_OUTAGE", 5*time.Second))
	sigterm(s, f)
	kill9Idempotent(s, f)
	expectedVersion(s, f)
	relayLeaderKilled(s, f)
	soak(s, f, setting(t, "CHAOS_SOAK", 3*time.Minute))
	integrity(s)
}
