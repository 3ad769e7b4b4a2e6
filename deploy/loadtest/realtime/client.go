package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// A client process holds a share of the subscribers. The coordinator
// starts it (the same binary with -client), writes one clientConfig line
// on its standard input, then one clientCommand line per event to wait
// for; the client answers each line with one clientReply line on its
// standard output. Subscribers are spread over processes because one
// process may hold at most RLIMIT_NOFILE descriptors (20,000 here, and no
// privilege to raise the hard limit), and so the load generator's own
// garbage collection does not pause every subscriber at once.

// clientConfig is what a client process is told to do: subscribers
// first..first+count-1 of the run, subscriber i on instance i%len(URLs)
// as user i%len(Tokens).
type clientConfig struct {
	URLs      []string
	Tokens    []string
	ProjectID string
	First     int
	Count     int
	// Rate is how many connections this process opens per second.
	Rate float64
}

// clientCommand asks for the arrival times of an event (by its issue
// title), waiting up to Timeout for every subscriber to have it; Close
// ends the process's subscribers.
type clientCommand struct {
	Title   string
	Timeout time.Duration
	Close   bool
}

// clientReply answers the config (Connected, Failed) or a command:
// Missing subscribers did not get Title in time; At holds each
// subscriber's arrival time (Unix nanoseconds, 0 when missing).
type clientReply struct {
	Connected  int
	Failed     int
	Reconnects int64
	Title      string
	Missing    int
	At         []int64
	Err        string
}

// runClient is a client process's main: it reads its config and commands
// from in and answers on out.
func runClient(in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(bufio.NewReader(in))
	enc := json.NewEncoder(out)
	var cfg clientConfig
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("reading the client config: %w", err)
	}
	c := newClientPool(cfg)
	connected, failed := c.connectAll()
	if err := enc.Encode(clientReply{Connected: connected, Failed: failed, Reconnects: c.reconnects.Load()}); err != nil {
		return err
	}
	for {
		var cmd clientCommand
		if err := dec.Decode(&cmd); err != nil {
			c.closeAll()
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("reading a command: %w", err)
		}
		if cmd.Close {
			c.closeAll()
			return enc.Encode(clientReply{Reconnects: c.reconnects.Load()})
		}
		at, missing := c.wait(cmd.Title, cmd.Timeout)
		if err := enc.Encode(clientReply{Title: cmd.Title, Missing: missing, At: at, Reconnects: c.reconnects.Load()}); err != nil {
			return err
		}
	}
}

// clientPool is one process's subscribers and the arrivals they record.
type clientPool struct {
	cfg        clientConfig
	subs       []*clientSub
	closing    atomic.Bool
	reconnects atomic.Int64

	mu     sync.Mutex
	events map[string]*arrivals
}

// arrivals records when each subscriber of the pool first got one event.
type arrivals struct {
	at   []atomic.Int64 // by subscriber index within the pool
	n    atomic.Int64   // subscribers that have it
	all  chan struct{}  // closed once every subscriber has it
	once sync.Once
}

func newClientPool(cfg clientConfig) *clientPool {
	return &clientPool{cfg: cfg, subs: make([]*clientSub, cfg.Count), events: map[string]*arrivals{}}
}

// event returns the arrivals of title, created on first use (by a
// subscriber that got it, or by wait).
func (c *clientPool) event(title string) *arrivals {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.events[title]
	if a == nil {
		a = &arrivals{at: make([]atomic.Int64, len(c.subs)), all: make(chan struct{})}
		c.events[title] = a
	}
	return a
}

func (c *clientPool) received(idx int, title string, now int64) {
	a := c.event(title)
	if a.at[idx].CompareAndSwap(0, now) && a.n.Add(1) == int64(len(c.subs)) {
		a.once.Do(func() { close(a.all) })
	}
}

// wait returns every subscriber's arrival time of title once all have it
// or timeout passed, and how many are missing.
func (c *clientPool) wait(title string, timeout time.Duration) ([]int64, int) {
	a := c.event(title)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-a.all:
	case <-t.C:
	}
	at := make([]int64, len(a.at))
	missing := 0
	for i := range a.at {
		if at[i] = a.at[i].Load(); at[i] == 0 {
			missing++
		}
	}
	return at, missing
}

// connectAll opens the pool's subscribers at the configured rate, each
// retried with a growing pause, and reports how many are up.
func (c *clientPool) connectAll() (connected, failed int) {
	var wg sync.WaitGroup
	var up, down atomic.Int64
	sem := make(chan struct{}, 64) // handshakes in flight
	start := time.Now()
	for i := range c.subs {
		if c.cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(i) / c.cfg.Rate * float64(time.Second)))
			time.Sleep(time.Until(due))
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s := &clientSub{pool: c, idx: i, global: c.cfg.First + i}
			var err error
			for attempt := range 6 {
				if err = s.connect(); err == nil {
					break
				}
				time.Sleep(time.Duration(250<<attempt)*time.Millisecond + rand.N(250*time.Millisecond))
			}
			if err != nil {
				if down.Add(1) <= 3 {
					log.Printf("subscriber %d: %v", s.global, err)
				}
				return
			}
			c.subs[i] = s
			up.Add(1)
			// Owned by the subscriber: it reads until the pool closes.
			go s.read()
		}()
	}
	wg.Wait()
	return int(up.Load()), int(down.Load())
}

func (c *clientPool) closeAll() {
	c.closing.Store(true)
	for _, s := range c.subs {
		if s != nil {
			s.mu.Lock()
			if s.conn != nil {
				_ = s.conn.CloseNow()
			}
			s.mu.Unlock()
		}
	}
}

// clientSub is one WebSocket subscribed to the project's events; one
// goroutine (read) serves it.
type clientSub struct {
	pool   *clientPool
	idx    int // within the pool
	global int // within the run

	mu   sync.Mutex
	conn *websocket.Conn
}

// connect dials, initialises and subscribes (graphql-transport-ws).
func (s *clientSub) connect() error {
	cfg := s.pool.cfg
	base := cfg.URLs[s.global%len(cfg.URLs)]
	token := cfg.Tokens[s.global%len(cfg.Tokens)]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/graphql", &websocket.DialOptions{
		Subprotocols:    []string{"graphql-transport-ws"},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return err
	}
	conn.SetReadLimit(1 << 20)
	write := func(v any) error {
		b, _ := json.Marshal(v)
		return conn.Write(ctx, websocket.MessageText, b)
	}
	if err := write(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}); err != nil {
		conn.CloseNow()
		return err
	}
	_, ack, err := conn.Read(ctx)
	if err != nil || !bytes.Contains(ack, []byte("connection_ack")) {
		conn.CloseNow()
		return fmt.Errorf("no ack: %s %v", ack, err)
	}
	if err := write(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{
		"query":     `subscription($p:ID!){ projectEvents(projectId:$p){ cursor type issue{ title } } }`,
		"variables": map[string]any{"p": cfg.ProjectID},
	}}); err != nil {
		conn.CloseNow()
		return err
	}
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	if s.pool.closing.Load() {
		conn.CloseNow()
	}
	return nil
}

// read records every event's arrival until the pool closes; a connection
// the server ends is opened again (the events it missed then count as
// missing: the subscription restarts without a cursor).
func (s *clientSub) read() {
	for {
		s.mu.Lock()
		conn := s.conn
		s.mu.Unlock()
		err := s.readConn(conn)
		if s.pool.closing.Load() {
			return
		}
		if n := s.pool.reconnects.Add(1); n <= 3 {
			log.Printf("subscriber %d: connection ended (%v); reconnecting", s.global, err)
		}
		for attempt := 0; ; attempt++ {
			time.Sleep(time.Duration(250<<min(attempt, 4))*time.Millisecond + rand.N(250*time.Millisecond))
			if s.pool.closing.Load() {
				return
			}
			if s.connect() == nil {
				break
			}
		}
	}
}

var (
	typeNext  = []byte(`"type":"next"`)
	typePing  = []byte(`"type":"ping"`)
	titleAttr = []byte(`"title":"`)
)

// readConn reads one connection's messages until it fails. It looks for
// the few bytes it needs instead of decoding each message: on a machine
// the servers share, the load generator must cost as little as it can.
func (s *clientSub) readConn(conn *websocket.Conn) error {
	for {
		_, data, err := conn.Read(context.Background())
		if err != nil {
			return err
		}
		now := time.Now().UnixNano()
		switch {
		case bytes.Contains(data, typeNext):
			if title, ok := issueTitle(data); ok {
				s.pool.received(s.idx, title, now)
			}
		case bytes.Contains(data, typePing):
			_ = conn.Write(context.Background(), websocket.MessageText, []byte(`{"type":"pong"}`))
		}
	}
}

// issueTitle finds the issue title in a next message (the load test's
// titles have no characters JSON escapes).
func issueTitle(data []byte) (string, bool) {
	i := bytes.Index(data, titleAttr)
	if i < 0 {
		return "", false
	}
	rest := data[i+len(titleAttr):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return string(rest[:j]), true
}
