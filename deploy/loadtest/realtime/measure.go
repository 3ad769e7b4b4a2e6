package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// memory is what an instance holds: its resident memory, and (after a
// garbage collection, so garbage does not count) the Go heap in use, the
// goroutines and their stacks.
type memory struct {
	rss, heap, stacks int64
	goroutines        int64
}

// measure reads the instance's runtime metrics and resident memory after
// gcs forced collections (the heap profile's gc=1), so garbage does not
// count (the runtime halves an idle goroutine's stack at most once per
// collection).
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

// pct is the p-th percentile of ds.
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

// mib is b in MiB.
func mib(b int64) float64 { return float64(b) / (1 << 20) }
