package redistest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the process when the test binary
// dies, so a panicking test leaves no redis-server behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
