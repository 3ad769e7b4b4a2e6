package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"time"
)

// clients are the load-generating processes (runClient) of a run.
type clients struct {
	procs []*clientProc
}

type clientProc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	enc   *json.Encoder
	dec   *json.Decoder
	last  clientReply
	count int
}

// startClients starts ceil(nSubs/perClient) copies of this program as
// load-generating processes, each holding its share of the subscribers,
// and returns once every subscriber is connected and subscribed.
func startClients(insts []*instance, tokens []string, projectID string, nSubs, perClient int, rate float64) (*clients, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	urls := make([]string, len(insts))
	for i, in := range insts {
		urls[i] = in.url
	}
	n := (nSubs + perClient - 1) / perClient
	cs := &clients{}
	for first := 0; first < nSubs; first += perClient {
		count := min(perClient, nSubs-first)
		cmd := exec.Command(self, "-client")
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			cs.close()
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			cs.close()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			cs.close()
			return nil, fmt.Errorf("starting a client process: %w", err)
		}
		p := &clientProc{cmd: cmd, in: in, enc: json.NewEncoder(in), dec: json.NewDecoder(bufio.NewReaderSize(out, 1<<20)), count: count}
		cs.procs = append(cs.procs, p)
		cfg := clientConfig{URLs: urls, Tokens: tokens, ProjectID: projectID, First: first, Count: count, Rate: rate / float64(n)}
		if err := p.enc.Encode(cfg); err != nil {
			cs.close()
			return nil, err
		}
	}
	start := time.Now()
	failed := 0
	for _, p := range cs.procs {
		r, err := p.reply()
		if err != nil {
			cs.close()
			return nil, err
		}
		failed += r.Failed
	}
	if failed > 0 {
		cs.close()
		return nil, fmt.Errorf("%d of %d subscribers failed to connect", failed, nSubs)
	}
	log.Printf("%d subscribers connected by %d processes in %s", nSubs, len(cs.procs), time.Since(start).Round(time.Millisecond))
	return cs, nil
}

func (p *clientProc) reply() (clientReply, error) {
	var r clientReply
	if err := p.dec.Decode(&r); err != nil {
		return r, fmt.Errorf("reading from client process %d: %w", p.cmd.Process.Pid, err)
	}
	if r.Err != "" {
		return r, fmt.Errorf("client process %d: %s", p.cmd.Process.Pid, r.Err)
	}
	p.last = r
	return r, nil
}

// wait returns every subscriber's arrival time of the event titled title
// (0: missing) once all have it or timeout passed, and how many miss it.
func (cs *clients) wait(title string, timeout time.Duration) ([]int64, int, error) {
	for _, p := range cs.procs {
		if err := p.enc.Encode(clientCommand{Title: title, Timeout: timeout}); err != nil {
			return nil, 0, err
		}
	}
	var at []int64
	missing := 0
	for _, p := range cs.procs {
		r, err := p.reply()
		if err != nil {
			return nil, 0, err
		}
		at = append(at, r.At...)
		missing += r.Missing
	}
	return at, missing, nil
}

// reconnects is how many times a server ended a subscriber's connection
// during the run.
func (cs *clients) reconnects() int64 {
	var n int64
	for _, p := range cs.procs {
		n += p.last.Reconnects
	}
	return n
}

// close ends the client processes (closing their input ends them).
func (cs *clients) close() {
	for _, p := range cs.procs {
		_ = p.in.Close()
	}
	for _, p := range cs.procs {
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
	}
}
