package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/ent/membership"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/server/auth"
	"github.com/issuegraph/issuegraph/server/redistest"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// The shape of one instance of the realtime load test's 2 × 500 run
// (deploy/loadtest/realtime): 500 subscribers of one project, signed in as
// 100 distinct members, each with the load test's subscription.
const (
	benchSubscribers = 500
	benchViewers     = 100
	benchQuery       = `subscription($p:ID!){ projectEvents(projectId:$p){ cursor type issue{ title } } }`
)

// BenchmarkEventFanout measures delivering one event to every subscriber
// of a project on one instance, through the real path: a mutation over
// HTTP, the relay, Redis, the feed, the membership re-check, the event's
// loads, gqlgen's executor with every extension, and a WebSocket write per
// subscriber, read by a client that only counts frames (so the process's
// CPU is the server's). An op is one event to all subscribers; the
// per-delivery figures divide by the subscribers:
//
//	go test ./server/ -run '^$' -bench EventFanout -benchmem -benchtime 40x
//
// cpu-ns/delivery is the process's CPU time (user + system) per delivery,
// which depends little on how busy the machine is; allocs/delivery counts
// the whole process's allocations.
func BenchmarkEventFanout(b *testing.B) {
	prefix := redistest.Prefix(b, redistest.Client(b), "fanoutbench")
	env := servertest.Start(b, servertest.WithRedis(redistest.URL()), servertest.WithRedisPrefix(prefix), func(c *config.Config) {
		// The frame-counting clients answer no pings; the run is
		// shorter than this.
		c.WSKeepAlive = time.Hour
	})
	f := newFixture(b, env, "fanout", "FAN")
	tokens := benchMembers(b, env, f.orgID, benchViewers)
	settled(b, env, f.projectID)

	var got, want atomic.Int64
	arrived := make(chan struct{}, 1)
	vars := map[string]any{"p": f.projectID}
	before := env.Server.ActiveSubscriptions()
	for i := range benchSubscribers {
		s := dialCounting(b, env.URL, tokens[i%len(tokens)], vars)
		go s.count(&got, &want, arrived)
	}
	waitSubscribed(b, env, before+benchSubscribers)

	event := func(i int) {
		want.Store(int64(i+1) * benchSubscribers)
		f.createIssue(b, map[string]any{"title": "fan-out " + strconv.Itoa(i)})
		select {
		case <-arrived:
		case <-time.After(time.Minute):
			b.Fatalf("event %d: %d of %d deliveries arrived", i, got.Load()-int64(i)*benchSubscribers, benchSubscribers)
		}
	}
	// Warm-up: the first events grow the delivering goroutines' stacks and
	// fill the caches of documents and statements.
	const warm = 3
	for i := range warm {
		event(i)
	}

	var mem0, mem1 runtime.MemStats
	runtime.ReadMemStats(&mem0)
	cpu0 := processCPU(b)
	b.ResetTimer()
	i := warm
	for b.Loop() {
		event(i)
		i++
	}
	b.StopTimer()
	cpu := processCPU(b) - cpu0
	runtime.ReadMemStats(&mem1)
	deliveries := float64((i - warm) * benchSubscribers)
	b.ReportMetric(float64(cpu.Nanoseconds())/deliveries, "cpu-ns/delivery")
	b.ReportMetric(float64(mem1.Mallocs-mem0.Mallocs)/deliveries, "allocs/delivery")
	b.ReportMetric(float64(mem1.TotalAlloc-mem0.TotalAlloc)/deliveries, "B/delivery")
}

// benchMembers adds n members to organization orgGID straight in the
// database (no password hashing: nobody signs in with one) and returns an
// access token for each.
func benchMembers(tb testing.TB, env *servertest.Env, orgGID string, n int) []string {
	tb.Helper()
	orgID := dbIDOf(tb, orgGID)
	ctx := viewer.SystemContext(context.Background())
	cfg := env.Config
	tokens := auth.NewService(env.DB.Client, auth.Options{
		Secret: cfg.JWTSecret, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, AccessTTL: time.Hour, RefreshTTL: time.Hour,
	})
	out := make([]string, n)
	for i := range n {
		u, err := env.DB.Client.User.Create().SetEmail(fmt.Sprintf("member%d@fanout.example.com", i)).
			SetName(fmt.Sprintf("Member %d", i)).SetPasswordHash("unusable").Save(ctx)
		require.NoError(tb, err)
		_, err = env.DB.Client.Membership.Create().SetOrganizationID(orgID).SetUserID(u.ID).SetRole(membership.RoleMEMBER).Save(ctx)
		require.NoError(tb, err)
		t, err := tokens.Start(ctx, u.ID)
		require.NoError(tb, err)
		out[i] = t.AccessToken
	}
	return out
}

// countingSubscriber is a graphql-transport-ws client that reads frames
// off the socket by hand (server frames are not masked) into one buffer,
// so reading costs the process almost nothing.
type countingSubscriber struct {
	conn net.Conn
	r    *bufio.Reader
	buf  []byte
}

// dialCounting opens a WebSocket, initialises it with token and subscribes
// to benchQuery with vars.
func dialCounting(tb testing.TB, baseURL, token string, vars map[string]any) *countingSubscriber {
	tb.Helper()
	host := strings.TrimPrefix(baseURL, "http://")
	conn, err := net.Dial("tcp", host)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = conn.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	_, err = fmt.Fprintf(conn, "GET /graphql HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
		host, base64.StdEncoding.EncodeToString(key), servertest.TransportWS)
	require.NoError(tb, err)
	s := &countingSubscriber{conn: conn, r: bufio.NewReaderSize(conn, 4096), buf: make([]byte, 0, 4096)}
	resp, err := http.ReadResponse(s.r, nil)
	require.NoError(tb, err)
	require.Equal(tb, http.StatusSwitchingProtocols, resp.StatusCode)
	s.send(tb, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
	msg, err := s.next()
	require.NoError(tb, err)
	require.Contains(tb, string(msg), `"connection_ack"`)
	s.send(tb, map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{"query": benchQuery, "variables": vars}})
	return s
}

// send writes v as one masked text frame (the zero mask key: the payload
// goes as is).
func (s *countingSubscriber) send(tb testing.TB, v any) {
	tb.Helper()
	p, err := json.Marshal(v)
	require.NoError(tb, err)
	require.Less(tb, len(p), 1<<16)
	frame := []byte{0x81}
	if len(p) < 126 {
		frame = append(frame, 0x80|byte(len(p)))
	} else {
		frame = append(frame, 0x80|126)
		frame = binary.BigEndian.AppendUint16(frame, uint16(len(p)))
	}
	frame = append(frame, 0, 0, 0, 0)
	_, err = s.conn.Write(append(frame, p...))
	require.NoError(tb, err)
}

// next reads the next text message, skipping control frames.
func (s *countingSubscriber) next() ([]byte, error) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(s.r, h[:]); err != nil {
			return nil, err
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var l [2]byte
			if _, err := io.ReadFull(s.r, l[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			if _, err := io.ReadFull(s.r, l[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(l[:])
		}
		if uint64(cap(s.buf)) < n {
			s.buf = make([]byte, n)
		}
		s.buf = s.buf[:n]
		if _, err := io.ReadFull(s.r, s.buf); err != nil {
			return nil, err
		}
		switch h[0] & 0x0f {
		case 0x8:
			return nil, errors.New("closed by the server: " + string(s.buf))
		case 0x1:
			if h[0]&0x80 == 0 {
				return nil, errors.New("fragmented message")
			}
			return s.buf, nil
		}
	}
}

// count counts the events that arrive whole, signalling arrived when the
// count reaches want; it returns when the connection ends.
func (s *countingSubscriber) count(got, want *atomic.Int64, arrived chan<- struct{}) {
	ok := []byte(`"type":"next","id":"1","payload":{"data":{"projectEvents":{"cursor":`)
	for {
		msg, err := s.next()
		if err != nil {
			return
		}
		if !bytes.Contains(msg, ok) {
			continue // an error: the event is missing, and the benchmark fails waiting for it
		}
		if got.Add(1) == want.Load() {
			arrived <- struct{}{}
		}
	}
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	require.NoError(tb, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
