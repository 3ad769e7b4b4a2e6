//go:build !linux

package redistest

import "os/exec"

// dieWithParent is Linux-only; elsewhere t.Cleanup alone stops the process.
func dieWithParent(*exec.Cmd) {}
