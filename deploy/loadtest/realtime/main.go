package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/issuegraph", "Issuegraph binary (make build)")
	instances := flag.Int("instances", 2, "server instances sharing the database and Redis")
	subscribers := flag.Int("subscribers", 1000, "WebSocket subscribers, spread evenly over the instances")
	users := flag.Int("users", 100, "distinct signed-in users the subscribers belong to")
	events := flag.Int("events", 50, "mutations whose delivery is timed")
	interval := flag.Duration("interval", 200*time.Millisecond, "pause between timed mutations")
	pg := flag.String("pg", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server (a fresh database is created and dropped)")
	redisURL := flag.String("redis", "redis://127.0.0.1:6379/0", "Redis URL")
	flag.IntVar(&nextPort, "ports", 0, "first of the TCP ports the instances listen on (two each, consecutive); 0: any free ports")
	flag.StringVar(&dbPrefix, "db-prefix", "issuegraph_bench_", "name prefix of the database created (and dropped) for the run")
	flag.StringVar(&redisPrefix, "redis-prefix", "bench-", "Redis key and channel prefix of the run (a random suffix follows)")
	flag.StringVar(&profileDir, "profiles", "", "directory to save the first instance's heap and goroutine profiles in, once its subscribers are connected")
	perClient := flag.Int("per-client", 5000, "subscribers per load-generating process (each holds one descriptor per subscriber)")
	rate := flag.Float64("rate", 400, "connections opened per second, over all load-generating processes")
	client := flag.Bool("client", false, "run as a load-generating process (started by the tool itself)")
	flag.Parse()
	if *client {
		if err := runClient(os.Stdin, os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	log.Printf("load average at start: %s", loadAverage())
	defer func() { log.Printf("load average at end: %s", loadAverage()) }()
	if err := run(*bin, *instances, *subscribers, *users, *events, *interval, *pg, *redisURL, *perClient, *rate); err != nil {
		log.Fatal(err)
	}
}

// profileDir is where -profiles saves profiles; empty: none.
var profileDir string

// nextPort is the next port -ports hands out (0: the system picks);
// dbPrefix and redisPrefix name the run's database and Redis keys.
var (
	nextPort    int
	dbPrefix    string
	redisPrefix string
)

type instance struct {
	url     string
	metrics string // the metrics listener, with the profiler
	cmd     *exec.Cmd
}

func run(bin string, nInst, nSubs, nUsers, nEvents int, interval time.Duration, pg, redisURL string, perClient int, rate float64) error {
	suffix := randomHex(6)
	dbURL, drop, err := createDatabase(pg, dbPrefix+suffix)
	if err != nil {
		return err
	}
	defer drop()
	var insts []*instance
	var all []*instance
	defer func() {
		for _, in := range all {
			_ = in.cmd.Process.Kill()
			_ = in.cmd.Wait()
		}
	}()
	// One more instance than asked for takes the sign-ups (argon2 needs
	// memory) and the mutations, so the subscribers' instances are measured
	// holding nothing but connections.
	for i := 0; i <= nInst; i++ {
		in, err := startInstance(bin, dbURL, redisURL, redisPrefix+suffix+":")
		if err != nil {
			return err
		}
		all = append(all, in)
	}
	insts = all
	setup := insts[nInst].url
	insts = insts[:nInst]
	log.Printf("%d instances up: %v, setup and mutations on %s", nInst, urls(insts), setup)

	// An owner, an organization with a project, and nUsers members.
	owner, err := signUp(setup, "owner-"+suffix+"@bench.example")
	if err != nil {
		return err
	}
	var org struct {
		CreateOrganization struct{ Organization struct{ ID string } }
	}
	if err := gql(setup, owner, `mutation($s:String!){ createOrganization(input:{slug:$s,name:"Bench"}){ organization{id} } }`, map[string]any{"s": "bench-" + suffix}, &org); err != nil {
		return err
	}
	var proj struct {
		CreateProject struct{ Project struct{ ID string } }
	}
	if err := gql(setup, owner, `mutation($o:ID!){ createProject(input:{organizationId:$o,key:"BENCH",name:"Bench"}){ project{id} } }`, map[string]any{"o": org.CreateOrganization.Organization.ID}, &proj); err != nil {
		return err
	}
	projectID := proj.CreateProject.Project.ID
	tokens := make([]string, nUsers)
	for i := range tokens {
		email := fmt.Sprintf("user%d-%s@bench.example", i, suffix)
		if tokens[i], err = signUp(setup, email); err != nil {
			return err
		}
		var inv struct {
			InviteMember struct{ Invitation struct{ ID string } }
		}
		if err := gql(setup, owner, `mutation($o:ID!,$e:String!){ inviteMember(input:{organizationId:$o,email:$e}){ invitation{ id } userErrors{message} } }`, map[string]any{"o": org.CreateOrganization.Organization.ID, "e": email}, &inv); err != nil {
			return err
		}
		if err := gql(setup, tokens[i], `mutation($i:ID!){ acceptInvitation(input:{invitationId:$i}){ userErrors{message} } }`, map[string]any{"i": inv.InviteMember.Invitation.ID}, nil); err != nil {
			return err
		}
	}

	before := make([]memory, nInst)
	for i, in := range insts {
		if before[i], err = measure(in, 1); err != nil {
			return err
		}
	}
	clients, err := startClients(insts, tokens, projectID, nSubs, perClient, rate)
	if err != nil {
		return err
	}
	defer clients.close()
	// Warm-up events until one reaches everyone prove every subscription
	// is live (a subscription without a cursor starts with the events
	// committed after it is established).
	for i := 0; ; i++ {
		title := fmt.Sprintf("warm-up-%d", i)
		if _, err := mutate(setup, owner, projectID, title); err != nil {
			return err
		}
		_, missing, err := clients.wait(title, 10*time.Second)
		if err != nil {
			return err
		}
		if missing == 0 {
			break
		}
		log.Printf("warm-up %d: %d of %d subscribers did not get it yet", i, missing, nSubs)
		if i == 30 {
			return fmt.Errorf("%d of %d subscribers never got a warm-up event", missing, nSubs)
		}
	}
	time.Sleep(2 * time.Second) // let the servers settle before measuring memory
	idle := make([]memory, nInst)
	for i, in := range insts {
		for gcs := 1; gcs <= 2; gcs++ {
			if idle[i], err = measure(in, 1); err != nil {
				return err
			}
			report(fmt.Sprintf("instance %d idle, GC %d", i, gcs), nSubs/nInst, before[i], idle[i])
		}
		if i == 0 && profileDir != "" {
			if err := saveProfiles(in, profileDir); err != nil {
				return err
			}
		}
	}

	// Timed mutations, one at a time; latency is from sending the mutation
	// (its commit is inside the round trip) to each subscriber's receipt.
	// Each instance's resident memory is sampled meanwhile (from /proc:
	// asking the instance would cost it work while it delivers).
	peak := make([]atomic.Int64, nInst)
	sampling, stopSampling := context.WithCancel(context.Background())
	defer stopSampling()
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sampling.Err() == nil {
			for i, in := range insts {
				if r := rss(in.cmd.Process.Pid); r > peak[i].Load() {
					peak[i].Store(r)
				}
			}
			sleep(sampling, 100*time.Millisecond)
		}
	}()
	cpuDone := make(chan struct{})
	if profileDir != "" {
		// A CPU profile of instance 0 while it delivers the timed events.
		go func() {
			defer close(cpuDone)
			secs := max(1, int((time.Duration(nEvents) * (interval + 50*time.Millisecond)).Seconds()))
			if err := saveProfile(insts[0], profileDir, "cpu", fmt.Sprintf("profile?seconds=%d", secs)); err != nil {
				log.Printf("CPU profile: %v", err)
			}
		}()
	} else {
		close(cpuDone)
	}
	// When each event reaches Redis splits its latency into the relay's
	// part (commit, notification, publish) and the fan-out's.
	published, err := watchPublished(redisURL, redisPrefix+suffix+":")
	if err != nil {
		return err
	}
	defer published.close()
	var lat, rtt, relayed, fanout []time.Duration
	lost := 0
	cpuBefore := make([]time.Duration, nInst)
	for i, in := range insts {
		cpuBefore[i] = cpuTime(in.cmd.Process.Pid)
	}
	for k := 0; k < nEvents; k++ {
		title := fmt.Sprintf("bench-%d", k)
		sent := time.Now()
		took, err := mutate(setup, owner, projectID, title)
		if err != nil {
			return err
		}
		rtt = append(rtt, took)
		at, missing, err := clients.wait(title, 60*time.Second)
		if err != nil {
			return err
		}
		pub, havePub := published.first(sent)
		if havePub {
			relayed = append(relayed, pub.Sub(sent))
		}
		lost += missing
		for _, t := range at {
			if t != 0 {
				lat = append(lat, time.Unix(0, t).Sub(sent))
				if havePub {
					fanout = append(fanout, time.Unix(0, t).Sub(pub))
				}
			}
		}
		time.Sleep(interval)
	}
	stopSampling()
	<-sampled
	for i, in := range insts {
		used := cpuTime(in.cmd.Process.Pid) - cpuBefore[i]
		log.Printf("instance %d CPU during the timed events: %s, %.1f µs per delivery (%d events to %d subscribers)",
			i, used, float64(used.Microseconds())/float64(nEvents*(nSubs/nInst)), nEvents, nSubs/nInst)
	}
	<-cpuDone
	for i, in := range insts {
		loaded, err := measure(in, 1)
		if err != nil {
			return err
		}
		report(fmt.Sprintf("instance %d after the timed events, GC 1", i), nSubs/nInst, before[i], loaded)
		log.Printf("instance %d under load: peak RSS %.1f MiB, %.1f KiB per connection", i, mib(peak[i].Load()), float64(peak[i].Load()-before[i].rss)/float64(nSubs/nInst)/1024)
	}
	log.Printf("delivery to %d subscribers on %d instances, %d events: p50 %s p90 %s p99 %s max %s; %d of %d deliveries missing; %d reconnects (mutation round trip p50 %s p99 %s)",
		nSubs, nInst, nEvents, pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 100), lost, nSubs*nEvents, clients.reconnects(), pct(rtt, 50), pct(rtt, 99))
	log.Printf("of which mutation to Redis (commit, relay, publish): p50 %s p99 %s max %s; Redis to subscriber (fan-out): p50 %s p99 %s max %s",
		pct(relayed, 50), pct(relayed, 99), pct(relayed, 100), pct(fanout, 50), pct(fanout, 99), pct(fanout, 100))
	return nil
}

// report logs an instance's memory per connection: its growth from before
// (no subscriber) to after, divided by n.
func report(what string, n int, b, after memory) {
	f := float64(n)
	log.Printf("%s, %d subscribers: RSS %.1f -> %.1f MiB, %.1f KiB per connection; heap in use %.1f -> %.1f MiB and goroutine stacks %.1f -> %.1f MiB, together %.1f KiB per connection (heap %.1f + stacks %.1f); %.2f goroutines per connection",
		what, n, mib(b.rss), mib(after.rss), float64(after.rss-b.rss)/f/1024,
		mib(b.heap), mib(after.heap), mib(b.stacks), mib(after.stacks), float64(after.heap+after.stacks-b.heap-b.stacks)/f/1024,
		float64(after.heap-b.heap)/f/1024, float64(after.stacks-b.stacks)/f/1024,
		float64(after.goroutines-b.goroutines)/f)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func mutate(base, token, projectID, title string) (time.Duration, error) {
	start := time.Now()
	err := gql(base, token, `mutation($p:ID!,$t:String!){ createIssue(input:{projectId:$p,title:$t}){ userErrors{message} } }`, map[string]any{"p": projectID, "t": title}, nil)
	return time.Since(start), err
}

func signUp(base, email string) (string, error) {
	var out struct {
		SignUp struct{ Tokens struct{ AccessToken string } }
	}
	err := gql(base, "", `mutation($e:String!){ signUp(input:{email:$e,password:"correct horse battery",name:"Bench"}){ tokens{accessToken} } }`, map[string]any{"e": email}, &out)
	return out.SignUp.Tokens.AccessToken, err
}

func gql(base, token, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return err
	}
	if len(r.Errors) > 0 {
		return errors.New(r.Errors[0].Message)
	}
	if out != nil {
		return json.Unmarshal(r.Data, out)
	}
	return nil
}

// freeAddr returns a loopback address no one listens on now.
func freeAddr() (string, error) {
	if nextPort > 0 {
		nextPort++
		return fmt.Sprintf("127.0.0.1:%d", nextPort-1), nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startInstance(bin, dbURL, redisURL, prefix string) (*instance, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	metrics, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"ISSUEGRAPH_ADDR="+addr, "ISSUEGRAPH_DATABASE_URL="+dbURL, "ISSUEGRAPH_REDIS_URL="+redisURL,
		"ISSUEGRAPH_REDIS_PREFIX="+prefix, "ISSUEGRAPH_DEMO_DATA=false", "ISSUEGRAPH_LOG_LEVEL=warn",
		"ISSUEGRAPH_METRICS_ADDR="+metrics, "ISSUEGRAPH_PPROF=true")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	in := &instance{url: "http://" + addr, metrics: "http://" + metrics, cmd: cmd}
	for deadline := time.Now().Add(60 * time.Second); ; {
		resp, err := http.Get(in.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return in, nil
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return nil, fmt.Errorf("instance at %s not ready", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// createDatabase returns the URL of a new empty database (the first
// instance migrates it) and a function that drops it.
func createDatabase(server, name string) (string, func(), error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", nil, err
	}
	if err := psql(server, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() { _ = psql(server, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") }, nil
}

func psql(server, stmt string) error {
	out, err := exec.Command("psql", server, "-q", "-c", stmt).CombinedOutput()
	if err != nil {
		return fmt.Errorf("psql %q: %w: %s", stmt, err, out)
	}
	return nil
}

// memory is what an instance holds: its resident memory, and (after a
// garbage collection, so garbage does not count) the Go heap in use, the
// goroutines and their stacks.
type memory struct {
	rss, heap, stacks int64
	goroutines        int64
}

// measure forces a garbage collection on in (the heap profile's gc=1),
// then reads its runtime metrics and resident memory.
// measure reads the instance's memory after gcs forced collections (the
// runtime halves an idle goroutine's stack at most once per collection).
func measure(in *instance, gcs int) (memory, error) {
	for range gcs {
		resp, err := http.Get(in.metrics + "/debug/pprof/heap?gc=1")
		if err != nil {
			return memory{}, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Get(in.metrics + "/metrics")
	if err != nil {
		return memory{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return memory{}, err
	}
	series := map[string]int64{}
	for _, line := range strings.Split(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if f, err := strconv.ParseFloat(value, 64); err == nil {
			series[name] = int64(f)
		}
	}
	m := memory{rss: rss(in.cmd.Process.Pid), heap: series["go_memstats_heap_inuse_bytes"],
		stacks: series["go_memstats_stack_inuse_bytes"], goroutines: series["go_goroutines"]}
	if m.heap == 0 || m.goroutines == 0 {
		return m, fmt.Errorf("%s/metrics has no go_memstats_heap_inuse_bytes or go_goroutines", in.metrics)
	}
	return m, nil
}

// saveProfiles writes in's heap (in use) and goroutine profiles to dir,
// for go tool pprof.
func saveProfiles(in *instance, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"heap", "goroutine"} {
		if err := saveProfile(in, dir, name, name); err != nil {
			return err
		}
	}
	log.Printf("profiles of instance 0 in %s: go tool pprof -sample_index=inuse_space %s/heap.pb.gz; go tool pprof -top %s/goroutine.pb.gz", dir, dir, dir)
	return nil
}

// saveProfile writes in's /debug/pprof/<path> to dir/<name>.pb.gz.
func saveProfile(in *instance, dir, name, path string) error {
	resp, err := http.Get(in.metrics + "/debug/pprof/" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(dir, name+".pb.gz"))
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// loadAverage is the machine's load average over 1, 5 and 15 minutes.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cpuTime is the CPU time a process has used, user and system (the
// kernel counts it in ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after it (utime and stime are the 14th and 15th of the line).
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// rss is the resident memory of a process in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[min(i, len(s))-1].Round(100 * time.Microsecond)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// urls lists the instances' API and metrics (and profiler) addresses.
func urls(insts []*instance) []string {
	out := make([]string, len(insts))
	for i, in := range insts {
		out[i] = in.url + " (metrics " + in.metrics + ")"
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
