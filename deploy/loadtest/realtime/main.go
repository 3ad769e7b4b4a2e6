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
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
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
	flag.Parse()
	log.Printf("load average at start: %s", loadAverage())
	defer func() { log.Printf("load average at end: %s", loadAverage()) }()
	if err := run(*bin, *instances, *subscribers, *users, *events, *interval, *pg, *redisURL); err != nil {
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

func run(bin string, nInst, nSubs, nUsers, nEvents int, interval time.Duration, pg, redisURL string) error {
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
		if err := gql(setup, owner, `mutation($o:ID!,$e:String!){ addMember(input:{organizationId:$o,email:$e}){ userErrors{message} } }`, map[string]any{"o": org.CreateOrganization.Organization.ID, "e": email}, nil); err != nil {
			return err
		}
	}

	before := make([]memory, nInst)
	for i, in := range insts {
		if before[i], err = measure(in, 1); err != nil {
			return err
		}
	}
	subs := make([]*subscriber, nSubs)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200)
	var failed atomic.Int64
	for i := range subs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			s, err := subscribe(insts[i%nInst].url, tokens[i%nUsers], projectID)
			if err != nil {
				if failed.Add(1) <= 3 {
					log.Printf("subscriber %d: %v", i, err)
				}
				return
			}
			subs[i] = s
		}(i)
	}
	wg.Wait()
	if failed.Load() > 0 {
		return fmt.Errorf("%d subscribers failed to connect", failed.Load())
	}
	// Warm-up events until one reaches everyone prove every subscription
	// is live (a subscription without a cursor starts with the events
	// committed after it is established).
	for i := 0; ; i++ {
		title := fmt.Sprintf("warm-up-%d", i)
		if _, err := mutate(setup, owner, projectID, title); err != nil {
			return err
		}
		err := waitAll(subs, title, 5*time.Second)
		if err == nil {
			break
		}
		if i == 30 {
			return err
		}
	}
	time.Sleep(2 * time.Second) // let the servers settle before measuring memory
	for i, in := range insts {
		n := float64(nSubs / nInst)
		b := before[i]
		for gcs := 1; gcs <= 2; gcs++ {
			after, err := measure(in, 1)
			if err != nil {
				return err
			}
			log.Printf("instance %d with %d subscribers, GC %d: RSS %.1f -> %.1f MiB, %.1f KiB per connection; heap in use %.1f -> %.1f MiB and goroutine stacks %.1f -> %.1f MiB, together %.1f KiB per connection (heap %.1f + stacks %.1f); %.2f goroutines per connection",
				i, nSubs/nInst, gcs, mib(b.rss), mib(after.rss), float64(after.rss-b.rss)/n/1024,
				mib(b.heap), mib(after.heap), mib(b.stacks), mib(after.stacks), float64(after.heap+after.stacks-b.heap-b.stacks)/n/1024,
				float64(after.heap-b.heap)/n/1024, float64(after.stacks-b.stacks)/n/1024,
				float64(after.goroutines-b.goroutines)/n)
		}
		if i == 0 && profileDir != "" {
			if err := saveProfiles(in, profileDir); err != nil {
				return err
			}
		}
	}

	// Timed mutations, one at a time; latency is from sending the mutation
	// (its commit is inside the round trip) to each subscriber's receipt.
	var lat, rtt []time.Duration
	for k := 0; k < nEvents; k++ {
		title := fmt.Sprintf("bench-%d", k)
		sent := time.Now()
		took, err := mutate(setup, owner, projectID, title)
		if err != nil {
			return err
		}
		rtt = append(rtt, took)
		if err := waitAll(subs, title, 60*time.Second); err != nil {
			return err
		}
		for _, s := range subs {
			lat = append(lat, s.at(title).Sub(sent))
		}
		time.Sleep(interval)
	}
	log.Printf("delivery to %d subscribers on %d instances, %d events: p50 %s p99 %s max %s (mutation round trip p50 %s p99 %s)",
		nSubs, nInst, nEvents, pct(lat, 50), pct(lat, 99), pct(lat, 100), pct(rtt, 50), pct(rtt, 99))
	for _, s := range subs {
		s.conn.CloseNow()
	}
	return nil
}

// subscriber is one WebSocket following the project; it records when each
// issue title first arrives.
type subscriber struct {
	conn *websocket.Conn
	mu   sync.Mutex
	seen map[string]time.Time
	cond chan struct{}
}

func (s *subscriber) at(title string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[title]
}

func subscribe(base, token, projectID string) (*subscriber, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil, err
	}
	write := func(v any) error {
		b, _ := json.Marshal(v)
		return conn.Write(ctx, websocket.MessageText, b)
	}
	if err := write(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}); err != nil {
		return nil, err
	}
	_, ack, err := conn.Read(ctx)
	if err != nil || !bytes.Contains(ack, []byte("connection_ack")) {
		return nil, fmt.Errorf("no ack: %s %v", ack, err)
	}
	if err := write(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{
		"query":     `subscription($p:ID!){ projectEvents(projectId:$p){ cursor type issue{ title } } }`,
		"variables": map[string]any{"p": projectID},
	}}); err != nil {
		return nil, err
	}
	s := &subscriber{conn: conn, seen: map[string]time.Time{}, cond: make(chan struct{}, 1)}
	go s.read()
	return s, nil
}

func (s *subscriber) read() {
	for {
		_, data, err := s.conn.Read(context.Background())
		if err != nil {
			return
		}
		now := time.Now()
		var m struct {
			Type    string
			Payload struct {
				Data struct {
					ProjectEvents struct{ Issue *struct{ Title string } }
				}
			}
		}
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		switch m.Type {
		case "ping":
			_ = s.conn.Write(context.Background(), websocket.MessageText, []byte(`{"type":"pong"}`))
		case "next":
			if i := m.Payload.Data.ProjectEvents.Issue; i != nil {
				s.mu.Lock()
				if _, ok := s.seen[i.Title]; !ok {
					s.seen[i.Title] = now
				}
				s.mu.Unlock()
			}
		}
	}
}

func waitAll(subs []*subscriber, title string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		missing := 0
		for _, s := range subs {
			if s.at(title).IsZero() {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d subscribers did not receive %q", missing, len(subs), title)
		}
		time.Sleep(5 * time.Millisecond)
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
		resp, err := http.Get(in.metrics + "/debug/pprof/" + name)
		if err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(dir, name+".pb.gz"))
		if err != nil {
			resp.Body.Close()
			return err
		}
		_, err = io.Copy(f, resp.Body)
		resp.Body.Close()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	log.Printf("profiles of instance 0 in %s: go tool pprof -sample_index=inuse_space %s/heap.pb.gz; go tool pprof -top %s/goroutine.pb.gz", dir, dir, dir)
	return nil
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
