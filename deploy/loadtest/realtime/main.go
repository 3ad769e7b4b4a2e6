package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
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
