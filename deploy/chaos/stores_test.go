//go:build chaos

package chaos_test

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// postgresBin is where Debian's PostgreSQL 15 server binaries live.
const postgresBin = "/usr/lib/postgresql/15/bin"

// postgres is a throwaway PostgreSQL cluster of the suite's own, in a
// temporary directory, on its own port.
type postgres struct {
	data string
	port int
	as   []string // runs a command as the cluster's owner (postgres when we are root)
}

// initPostgres creates a cluster under dir and starts it.
func initPostgres(dir string, port int) (*postgres, error) {
	p := &postgres{data: filepath.Join(dir, "pg"), port: port}
	if err := os.MkdirAll(p.data, 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: the cluster belongs to postgres.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chown(p.data, uid, gid); err != nil {
			return nil, err
		}
		p.as = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := p.run("initdb", "-D", p.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return p, p.start()
}

func (p *postgres) run(name string, args ...string) ([]byte, error) {
	argv := append(append(append([]string{}, p.as...), filepath.Join(postgresBin, name)), args...)
	return exec.Command(argv[0], argv[1:]...).CombinedOutput()
}

// url is the connection URL of database name.
func (p *postgres) url(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, name)
}

// start starts the server and waits until it accepts connections.
func (p *postgres) start() error {
	// Durability is not what is tested: fsync off keeps a busy machine
	// from spending the suite's time on disk flushes.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200", p.port, p.data)
	if out, err := p.run("pg_ctl", "-D", p.data, "-l", filepath.Join(p.data, "server.log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		return fmt.Errorf("pg_ctl start: %w\n%s", err, out)
	}
	return nil
}

// stop shuts the server down: "fast" ends every session at once, as an
// operator's restart does; "immediate" is a crash.
func (p *postgres) stop(mode string) error {
	if out, err := p.run("pg_ctl", "-D", p.data, "-m", mode, "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// kill ends the server if it runs, by the postmaster's PID, whatever
// state it is in: the suite's clean-up.
func (p *postgres) kill() {
	raw, err := os.ReadFile(filepath.Join(p.data, "postmaster.pid"))
	if err != nil {
		return
	}
	var pid int
	if _, err := fmt.Sscan(string(raw), &pid); err != nil || pid <= 0 {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGQUIT) // immediate shutdown; the backends follow
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// redisServer is a Redis of the suite's own: no persistence, so a restart
// is a Redis that lost everything.
type redisServer struct {
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start() error {
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--loglevel", "warning")
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	r.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.exited)
	return nil
}

// kill ends the server at once (SIGKILL), by its PID.
func (r *redisServer) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Kill()
	<-r.exited
}
