//go:build chaos

package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/deploy/internal/fleet"
)

// sigterm sends SIGTERM to an instance while clients keep it busy: every
// request it had accepted must be answered. Requests sent after it
// stopped listening are refused and go to the other instance.
func sigterm(s *suite, f fleet.Fixture) {
	a := s.instances[0]
	b := s.other(a)
	var signalled atomic.Int64 // unix nanoseconds of the SIGTERM, 0 before
	first, retried := &recorder{}, &recorder{}
	stopLoad := workers(6, time.Millisecond, func(ctx context.Context, w, i int) {
		key := fmt.Sprintf("term-%d-%d", w, i)
		send := func(base string) result {
			if i%4 == 0 {
				return create(ctx, f, base, key, key)
			}
			return read(ctx, f, base)
		}
		r := send(a.URL())
		first.add(r)
		if r.ok() || ctx.Err() != nil {
			return
		}
		// Not answered by api1 (refused, or closed before it read the
		// request): a client tries the other instance.
		if r.err != nil && signalled.Load() != 0 {
			retried.add(send(b.URL()))
		}
	})
	time.Sleep(2 * time.Second)
	at := time.Now()
	signalled.Store(at.UnixNano())
	a.Stop(syscall.SIGTERM, waitLong)
	took := time.Since(at)
	time.Sleep(time.Second)
	stopLoad()

	var inFlight, failedInFlight []result
	var before int
	for _, r := range first.all() {
		switch {
		case r.end.Before(at):
			before++
			if !r.ok() {
				failedInFlight = append(failedInFlight, r) // not in flight, but a failure all the same
			}
		case r.start.Before(at) && !r.refused():
			inFlight = append(inFlight, r)
			if !r.ok() {
				failedInFlight = append(failedInFlight, r)
			}
		}
	}
	var retriedFailed []result
	for _, r := range retried.all() {
		if !r.ok() {
			retriedFailed = append(retriedFailed, r)
		}
	}
	measured := fmt.Sprintf("%d answered before, %d in flight at the signal: %d failed; exit after %.1f s; %d later requests retried on %s, %d failed there",
		before, len(inFlight), len(failedInFlight), took.Seconds(), len(retried.all()), b.Name, len(retriedFailed))
	if bad := append(failedInFlight, retriedFailed...); len(bad) > 0 {
		measured += " (" + kinds(bad) + ")"
	}
	s.add(fmt.Sprintf("SIGTERM %s under load (6 clients, no pause)", a.Name), "0 failed in-flight requests", measured,
		len(failedInFlight) == 0 && len(retriedFailed) == 0)
	s.restart(a)
}

// kill9Idempotent kills an instance outright while clients create issues
// through it, each under its own Idempotency-Key; a client retries every
// request that got no answer, with the same key, until it gets one. Every
// issue must exist exactly once.
func kill9Idempotent(s *suite, f fleet.Fixture) {
	a := s.instances[0]
	b := s.other(a)
	var acked sync.Map // title -> true
	var unanswered, replayed, killedAt atomic.Int64
	stopLoad := workers(8, time.Millisecond, func(ctx context.Context, w, i int) {
		title := fmt.Sprintf("k9-%d-%d", w, i)
		r := create(ctx, f, a.URL(), title, title)
		if k := killedAt.Load(); r.err != nil && k != 0 && r.start.UnixNano() < k {
			unanswered.Add(1) // sent before the kill, never answered
		}
		for try := 1; !r.ok() && retryable(r) && try < 100; try++ {
			time.Sleep(50 * time.Millisecond)
			base := a.URL()
			if !a.Running() {
				base = b.URL()
			}
			r = create(ctx, f, base, title, title)
			if r.resp != nil && r.resp.Header.Get("Idempotent-Replayed") == "true" {
				replayed.Add(1)
			}
		}
		if r.ok() {
			acked.Store(title, true)
		}
	})
	time.Sleep(2 * time.Second)
	killedAt.Store(time.Now().UnixNano())
	a.Stop(syscall.SIGKILL, waitLong)
	time.Sleep(2 * time.Second)
	stopLoad()

	rows := map[string]int{}
	q, err := s.db.Query(`SELECT title, count(*) FROM issues WHERE project_id = $1 AND title LIKE 'k9-%' GROUP BY title`, f.ProjectDBID)
	require.NoError(s.t, err)
	for q.Next() {
		var title string
		var n int
		require.NoError(s.t, q.Scan(&title, &n))
		rows[title] = n
	}
	require.NoError(s.t, q.Err())
	q.Close()
	var total, dups, lost, creates int
	for _, n := range rows {
		total += n
		dups += n - 1
	}
	acked.Range(func(k, _ any) bool {
		creates++
		if rows[k.(string)] == 0 {
			lost++
		}
		return true
	})
	s.add(fmt.Sprintf("kill -9 %s during createIssue; 8 clients retry unanswered requests with the same Idempotency-Key", a.Name),
		"0 duplicate effects",
		fmt.Sprintf("%d issues acknowledged, %d requests unanswered at the kill and retried on %s (%d replays); %d rows for %d titles: %d duplicates, %d lost",
			creates, unanswered.Load(), b.Name, replayed.Load(), total, len(rows), dups, lost),
		dups == 0 && lost == 0 && unanswered.Load() > 0)
	s.restart(a)
}

// expectedVersion has 50 clients, spread over both instances, increment
// a counter kept in one issue's body by read-modify-write with
// expectedVersion, retrying on CONFLICT: the counter must end at the
// number of increments acknowledged.
func expectedVersion(s *suite, f fleet.Fixture) {
	const clients, each = 50, 2
	id := newIssue(s, f, "counter")
	readCounter := func(base string) (counter, version int, err error) {
		resp, err := fleet.GQL(base, f.Token, `query($id:ID!){ node(id:$id){ ... on Issue { body version } } }`, map[string]any{"id": id}, nil)
		if err != nil {
			return 0, 0, err
		}
		var d struct {
			Body    string
			Version int
		}
		if len(resp.Errors) > 0 || json.Unmarshal(resp.Data["node"], &d) != nil {
			return 0, 0, fmt.Errorf("reading the counter: status %d %v", resp.Status, resp.Errors)
		}
		counter, _ = strconv.Atoi(d.Body)
		return counter, d.Version, nil
	}
	var acked, conflicts, failures atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := s.instances[c%len(s.instances)].URL()
			for done := 0; done < each; {
				counter, version, err := readCounter(base)
				if err != nil {
					failures.Add(1)
					continue
				}
				resp, err := fleet.GQL(base, f.Token, `mutation($in:UpdateIssueInput!){ updateIssue(input:$in){ issue{ version } userErrors{ code } } }`,
					map[string]any{"in": map[string]any{"id": id, "body": strconv.Itoa(counter + 1), "expectedVersion": version}}, nil)
				if err != nil || resp.Status != http.StatusOK || len(resp.Errors) > 0 {
					failures.Add(1)
					continue
				}
				var p struct {
					UpdateIssue struct{ UserErrors []struct{ Code string } }
				}
				raw, _ := json.Marshal(resp.Data)
				_ = json.Unmarshal(raw, &p)
				if len(p.UpdateIssue.UserErrors) > 0 {
					conflicts.Add(1) // CONFLICT: read again
					continue
				}
				acked.Add(1)
				done++
			}
		}()
	}
	wg.Wait()
	counter, version, err := readCounter(s.instances[0].URL())
	require.NoError(s.t, err)
	lost := int(acked.Load()) - counter
	s.add(fmt.Sprintf("%d clients read-modify-write one issue with expectedVersion, %d increments each, both instances", clients, each),
		"0 lost updates",
		fmt.Sprintf("%d increments acknowledged; counter %d, version %d; %d conflicts retried, %d failed requests; %d lost", acked.Load(), counter, version, conflicts.Load(), failures.Load(), lost),
		lost == 0 && version == counter+1 && failures.Load() == 0)
}

// relayLeaderKilled kills (SIGKILL) the instance whose event relay holds
// the relay lock: the other instance's relay must take over and its
// subscribers miss nothing.
func relayLeaderKilled(s *suite, f fleet.Fixture) {
	var leader *fleet.Instance
	var latest time.Time
	for _, in := range s.instances {
		if at, ok := fleet.LastLeading(in.LogPath); ok && at.After(latest) {
			latest, leader = at, in
		}
	}
	require.NotNil(s.t, leader, "no relay says it leads")
	other := s.other(leader)
	head := s.waitHead(f)
	subs := []*fleet.Follower{fleet.Follow(other.URL(), f, fleet.WebSocket, head), fleet.Follow(other.URL(), f, fleet.SSE, head)}
	time.Sleep(500 * time.Millisecond) // subscribed
	killed := time.Now()
	leader.Stop(syscall.SIGKILL, waitLong)
	const n = 5
	for i := 0; i < n; i++ {
		require.NoError(s.t, f.CreateIssue(other.URL(), fmt.Sprint("after the relay leader died ", i)))
	}
	d := s.settle(f, subs, head)
	delivered := time.Since(killed)
	took := "never"
	at, ok := fleet.LastLeading(other.LogPath)
	ok = ok && at.After(killed)
	if ok {
		took = fmt.Sprintf("%.1f s", at.Sub(killed).Seconds())
	}
	s.add(fmt.Sprintf("relay leader %s killed (SIGKILL); %d issues created on %s", leader.Name, n, other.Name),
		"the other relay leads; 0 lost, duplicated or reordered events",
		fmt.Sprintf("%s leads %s after the kill; WS + SSE subscribers on it, all delivered within %.1f s: %s",
			other.Name, took, delivered.Seconds(), d),
		ok && d.ok())
	s.restart(leader)
}

// soak runs mixed load for d on both instances — reads, creates, updates,
// long-lived subscribers on both transports and subscribers coming and
// going — and samples each instance's resident memory and goroutines.
// Memory must not grow by 10% from the end of the warm-up (a sixth of the
// soak) to the end.
func soak(s *suite, f fleet.Fixture, length time.Duration) {
	head := s.waitHead(f)
	subs := s.followEverywhere(f, head)
	rc := &recorder{}
	stopMixed := mixedLoad(f, s.urls(), 3, 20*time.Millisecond, "soak", rc)
	issueID := newIssue(s, f, "soak updates")
	stopUpdates := workers(1, 100*time.Millisecond, func(ctx context.Context, _, i int) {
		rc.add(call(ctx, s.instances[i%2].URL(), fleet.Request{Token: f.Token,
			Query:     `mutation($in:UpdateIssueInput!){ updateIssue(input:$in){ issue{ version } userErrors{ code } } }`,
			Variables: map[string]any{"in": map[string]any{"id": issueID, "body": fmt.Sprint("soak ", i)}}}))
	})
	stopChurn := workers(1, time.Second, func(ctx context.Context, _, i int) {
		tr := []fleet.Transport{fleet.WebSocket, fleet.SSE}[i%2]
		sub := fleet.Follow(s.instances[(i/2)%2].URL(), f, tr, 0)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
		sub.Close()
	})
	samples := make([][]sample, len(s.instances))
	warm := time.Now().Add(length / 6)
	for end := time.Now().Add(length); time.Now().Before(end); time.Sleep(5 * time.Second) {
		for i, in := range s.instances {
			sm, err := measure(in)
			require.NoError(s.t, err)
			samples[i] = append(samples[i], sm)
		}
	}
	stopChurn()
	stopUpdates()
	stopMixed()

	d := s.settle(f, subs, head)
	var failed []result
	all := rc.all()
	for _, r := range all {
		if !r.ok() {
			failed = append(failed, r)
		}
	}
	measured := fmt.Sprintf("%d requests, %d failed", len(all), len(failed))
	if len(failed) > 0 {
		measured += " (" + kinds(failed) + ")"
	}
	name := fmt.Sprintf("soak %s: reads, creates, updates, 4 subscribers, 1 new subscriber a second", length)
	s.add(name, "0 failed requests", measured, len(failed) == 0)
	s.add("  4 subscribers (WS and SSE on each instance) over the soak", "0 lost, duplicated or reordered events", d.String(), d.ok())
	for i, in := range s.instances {
		base, end, maxG := growth(samples[i], warm)
		pct := 100 * (end.rss - base.rss) / base.rss
		s.add(fmt.Sprintf("  %s resident memory, warm-up to end", in.Name), "growth < 10%",
			fmt.Sprintf("%.1f -> %.1f MiB (%+.1f%%), %d samples", base.rss/(1<<20), end.rss/(1<<20), pct, len(samples[i])), pct < 10)
		s.info(fmt.Sprintf("  %s goroutines, warm-up to end", in.Name),
			fmt.Sprintf("%.0f -> %.0f (at most %.0f)", base.goroutines, end.goroutines, maxG))
	}
}

// newIssue creates an issue titled title and returns its global ID.
func newIssue(s *suite, f fleet.Fixture, title string) string {
	var created struct {
		CreateIssue struct{ Issue struct{ ID string } }
	}
	fleet.MustGQL(s.t, s.instances[0].URL(), f.Token, fleet.CreateIssueMutation, map[string]any{"p": f.ProjectID, "t": title}, &created)
	return created.CreateIssue.Issue.ID
}

// growth is the median sample of the first 15 s after warm (the base),
// the median of the last three (the end), and the most goroutines seen.
func growth(ss []sample, warm time.Time) (base, end sample, maxGoroutines float64) {
	median := func(xs []sample) sample {
		sorted := append([]sample(nil), xs...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].rss < sorted[j].rss })
		return sorted[len(sorted)/2]
	}
	var window []sample
	for _, sm := range ss {
		maxGoroutines = max(maxGoroutines, sm.goroutines)
		if !sm.at.Before(warm) && sm.at.Before(warm.Add(15*time.Second)) {
			window = append(window, sm)
		}
	}
	if len(window) == 0 {
		window = ss[:1]
	}
	return median(window), median(ss[max(0, len(ss)-3):]), maxGoroutines
}

// integrity checks the event log once everything settled: positions
// 1..N with no gap or repeat, every issue with exactly one issue.created
// event, every version step of an issue with its event.
func integrity(s *suite) {
	require.Eventually(s.t, func() bool {
		var pending int
		require.NoError(s.t, s.db.QueryRow(`SELECT count(*) FROM events WHERE position IS NULL OR NOT published`).Scan(&pending))
		return pending == 0
	}, waitLong, pollEvery)
	var n, distinct, lo, hi int64
	require.NoError(s.t, s.db.QueryRow(`SELECT count(*), count(DISTINCT position), coalesce(min(position), 0), coalesce(max(position), 0) FROM events`).Scan(&n, &distinct, &lo, &hi))
	var issues, noCreated, twiceCreated, steps, missingSteps int64
	require.NoError(s.t, s.db.QueryRow(`SELECT count(*),
		count(*) FILTER (WHERE created = 0), count(*) FILTER (WHERE created > 1),
		coalesce(sum(version - 1), 0), coalesce(sum(greatest(version - 1 - changed, 0) + greatest(changed - (version - 1), 0)), 0)
		FROM (SELECT i.version,
			(SELECT count(*) FROM events e WHERE e.subject_id = i.id AND e.type = 'issue.created') AS created,
			(SELECT count(*) FROM events e WHERE e.subject_id = i.id AND e.type IN ('issue.updated', 'issue.closed', 'issue.reopened')) AS changed
			FROM issues i) x`).Scan(&issues, &noCreated, &twiceCreated, &steps, &missingSteps))
	contiguous := n == distinct && lo == 1 && hi == n
	s.add("event log at the end", "positions 1..N without gap or repeat; every issue and every update has its one event",
		fmt.Sprintf("%d events, positions %d..%d, %d distinct; %d issues: %d without issue.created, %d with more than one; %d updates, %d without their event",
			n, lo, hi, distinct, issues, noCreated, twiceCreated, steps, missingSteps),
		contiguous && noCreated == 0 && twiceCreated == 0 && missingSteps == 0)
}
