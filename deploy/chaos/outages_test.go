//go:build chaos

package chaos_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/deploy/internal/fleet"
)

// postgresRestart stops PostgreSQL (pg_ctl -m fast, as an operator's
// restart does) under load for outage, starts it again, and measures how
// soon each instance is ready after the database accepts connections,
// what every failed request answered, and how many log lines the outage
// cost per second.
func postgresRestart(s *suite, f fleet.Fixture, outage time.Duration) {
	rc := &recorder{}
	stopLoad := mixedLoad(f, s.urls(), 4, 20*time.Millisecond, "pg", rc)
	// A load balancer's health checks, twice a second per instance.
	stopProbes := workers(len(s.instances), 500*time.Millisecond, func(ctx context.Context, w, _ int) {
		if resp, err := http.Get(s.instances[w].URL() + "/readyz"); err == nil {
			resp.Body.Close()
		}
	})
	time.Sleep(2 * time.Second)

	down := time.Now()
	require.NoError(s.t, s.pg.stop("fast"))
	time.Sleep(outage)

	// From here on, poll the database and the instances' readiness
	// closely, to time the recovery.
	var wg sync.WaitGroup
	var up time.Time
	ready := make([]time.Time, len(s.instances))
	wg.Add(1 + len(s.instances))
	go func() {
		defer wg.Done()
		up = firstTime(func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			return s.db.PingContext(ctx) == nil
		})
	}()
	for i, in := range s.instances {
		go func() {
			defer wg.Done()
			ready[i] = firstTime(func() bool {
				resp, err := http.Get(in.URL() + "/readyz")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK
			})
		}()
	}
	require.NoError(s.t, s.pg.start())
	wg.Wait()
	require.False(s.t, up.IsZero(), "PostgreSQL did not come back")
	time.Sleep(2 * time.Second)
	stopLoad()
	stopProbes()

	var readyAll time.Time
	var delays []string
	ok := true
	for i, in := range s.instances {
		if ready[i].IsZero() {
			delays = append(delays, in.Name+" never")
			ok = false
			continue
		}
		d := ready[i].Sub(up)
		delays = append(delays, fmt.Sprintf("%s %.2f s", in.Name, d.Seconds()))
		ok = ok && d <= time.Second
		if ready[i].After(readyAll) {
			readyAll = ready[i]
		}
	}
	name := fmt.Sprintf("PostgreSQL stopped %s under load (pg_ctl -m fast), started again", outage)
	s.add(name, "ready <= 1 s after it accepts connections", strings.Join(delays, ", "), ok)

	s.answers("  answers from the stop until both are ready", rc.all(), down, readyAll)
	s.logLines(down, readyAll.Add(2*time.Second))
}

// firstTime polls cond every 5 ms and returns when it first held (zero
// when it did not within waitLong).
func firstTime(cond func() bool) time.Time {
	for deadline := time.Now().Add(waitLong); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return time.Now()
		}
	}
	return time.Time{}
}

// answers checks the requests in flight during [from, to]: each either
// succeeded or failed as the spec has it for a dependency that is down
// (503 UNAVAILABLE with Retry-After).
func (s *suite) answers(scenario string, rs []result, from, to time.Time) {
	var during, unavailable int
	var wrong []result
	for _, r := range rs {
		if r.end.Before(from) || r.start.After(to) {
			continue
		}
		during++
		switch {
		case r.ok():
		case r.unavailable():
			unavailable++
		default:
			wrong = append(wrong, r)
		}
	}
	measured := fmt.Sprintf("%d requests: %d ok, %d 503 UNAVAILABLE with Retry-After, %d other",
		during, during-unavailable-len(wrong), unavailable, len(wrong))
	if len(wrong) > 0 {
		measured += " (" + kinds(wrong) + ")"
	}
	s.add(scenario, "every error 503 UNAVAILABLE with Retry-After", measured, len(wrong) == 0)
}

// logLines counts the WARN and ERROR lines of each instance's JSON log
// in [from, to] per message and wall-clock second: the busiest such
// second must hold at most one line. "slow operation" is the request log
// of each operation over ISSUEGRAPH_SLOW_OPERATION, not a failure: it is
// counted apart.
func (s *suite) logLines(from, to time.Time) {
	worst, total, slow := 0, 0, 0
	var worstKind string
	kinds := map[string]bool{}
	for _, in := range s.instances {
		lines, err := fleet.ReadLog(in.LogPath)
		require.NoError(s.t, err)
		perSecond := map[string]int{}
		for _, l := range lines {
			if l.Time.Before(from) || l.Time.After(to) || (l.Level != "WARN" && l.Level != "ERROR") {
				continue
			}
			if l.Msg == "slow operation" {
				slow++
				continue
			}
			total++
			kinds[l.Msg] = true
			k := l.Msg + "@" + l.Time.Truncate(time.Second).String()
			perSecond[k]++
			if perSecond[k] > worst {
				worst, worstKind = perSecond[k], in.Name+" "+l.Msg
			}
		}
	}
	var names []string
	for k := range kinds {
		names = append(names, fmt.Sprintf("%q", k))
	}
	sort.Strings(names)
	s.add("  WARN/ERROR log lines per failure kind", "<= 1 per second per instance",
		fmt.Sprintf("at most %d in a second (%s); %d lines in %.0f s, kinds %s; apart: %d slow operation lines", worst, worstKind, total, to.Sub(from).Seconds(), strings.Join(names, ", "), slow),
		worst <= 1)
}

// redisOutage kills Redis under load while subscribers on both
// transports follow the project on both instances, starts it again
// (empty: it keeps nothing), and checks that every subscriber, resuming
// with after:, got every event once and in order, and that requests kept
// working.
func redisOutage(s *suite, f fleet.Fixture, outage time.Duration) {
	head := s.waitHead(f)
	subs := s.followEverywhere(f, head)
	rc := &recorder{}
	stopLoad := mixedLoad(f, s.urls(), 2, 50*time.Millisecond, "redis", rc)
	time.Sleep(2 * time.Second)
	down := time.Now()
	s.redis.kill()
	time.Sleep(outage)
	require.NoError(s.t, s.redis.start())
	back := time.Now()
	time.Sleep(3 * time.Second)
	stopLoad()

	d := s.settle(f, subs, head)
	s.add(fmt.Sprintf("Redis killed for %s under load; 2 graphql-transport-ws + 2 SSE subscribers resume with after:", outage),
		"0 lost, 0 duplicated, 0 reordered", d.String(), d.ok())

	s.answers("  answers while Redis is away", rc.all(), down, back)
	s.logLines(down, back.Add(2*time.Second))
}
