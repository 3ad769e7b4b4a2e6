package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"time"
)

// instance is one Issuegraph process the tool started.
type instance struct {
	url     string
	metrics string // the metrics listener, with the profiler
	cmd     *exec.Cmd
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

// urls lists the instances' API and metrics (and profiler) addresses.
func urls(insts []*instance) []string {
	out := make([]string, len(insts))
	for i, in := range insts {
		out[i] = in.url + " (metrics " + in.metrics + ")"
	}
	return out
}

// randomHex is n random bytes in hex, to name the run's database and keys.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
