package fleet

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Build compiles the issuegraph binary from the repository at root into
// dir and returns its path.
func Build(root, dir string) (string, error) {
	bin := filepath.Join(dir, "issuegraph")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// Instance is one `issuegraph serve` process. Its output (the JSON log)
// is appended to LogPath across restarts.
type Instance struct {
	Name    string
	Port    int
	Metrics int // the metrics listener's port
	LogPath string

	cmd    *exec.Cmd
	exited chan struct{}
}

// URL is the instance's API origin.
func (in *Instance) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", in.Port) }

// Start runs `bin serve` with env and the instance's addresses. The
// process is killed if the program that started it dies first.
func (in *Instance) Start(bin string, env []string) error {
	logf, err := os.OpenFile(in.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("opening %s log: %w", in.Name, err)
	}
	in.cmd = exec.Command(bin, "serve")
	in.cmd.Env = append(append([]string{}, env...),
		fmt.Sprintf("ISSUEGRAPH_ADDR=127.0.0.1:%d", in.Port),
		fmt.Sprintf("ISSUEGRAPH_METRICS_ADDR=127.0.0.1:%d", in.Metrics))
	in.cmd.Stdout, in.cmd.Stderr = logf, logf
	in.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := in.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", in.Name, err)
	}
	in.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}(in.cmd, in.exited)
	return nil
}

// PID is the running process's id, 0 when none runs.
func (in *Instance) PID() int {
	if !in.Running() {
		return 0
	}
	return in.cmd.Process.Pid
}

// Running reports whether the process was started and has not ended.
func (in *Instance) Running() bool {
	if in.cmd == nil || in.cmd.Process == nil {
		return false
	}
	select {
	case <-in.exited:
		return false
	default:
		return true
	}
}

// Exited is closed when the process ends.
func (in *Instance) Exited() <-chan struct{} { return in.exited }

// Stop signals the process and waits for it to end; after timeout it is
// killed.
func (in *Instance) Stop(sig syscall.Signal, timeout time.Duration) {
	if !in.Running() {
		return
	}
	_ = in.cmd.Process.Signal(sig)
	select {
	case <-in.exited:
	case <-time.After(timeout):
		_ = in.cmd.Process.Kill()
		<-in.exited
	}
}

// WaitReady polls /readyz every poll until it answers 200.
func (in *Instance) WaitReady(timeout, poll time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(in.URL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(poll)
	}
	log, _ := os.ReadFile(in.LogPath)
	return fmt.Errorf("%s is not ready after %s:\n%s", in.Name, timeout, log)
}

// LogLine is what the suites read of one JSON log line.
type LogLine struct {
	Time  time.Time
	Level string
	Msg   string
}

// ReadLog returns the JSON lines of the log at path (other lines are
// skipped).
func ReadLog(path string) ([]LogLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []LogLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l LogLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && !l.Time.IsZero() {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

// LastLeading is when the log at path last says the event relay started
// leading.
func LastLeading(path string) (time.Time, bool) {
	lines, _ := ReadLog(path)
	var at time.Time
	for _, l := range lines {
		if strings.HasPrefix(l.Msg, "event relay: leading") {
			at = l.Time
		}
	}
	return at, !at.IsZero()
}
