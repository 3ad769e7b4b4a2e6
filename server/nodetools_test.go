package server_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// nodeTools is where deploy/dev/tools.sh installs the Node packages some
// tests drive (deploy/dev/js, pinned by its package-lock.json).
const nodeTools = "../deploy/dev/js"

// requireTool returns the path of a command-line tool a test needs, or
// ends the test: skipped on a developer's machine that lacks it (make
// test installs it), failed in CI, where a missing tool must not pass
// quietly.
func requireTool(t *testing.T, what, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if p, err := exec.LookPath(path); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (%s); make test installs it with deploy/dev/tools.sh", what, path)
	}
	t.Skipf("%s is not installed (%s): run deploy/dev/tools.sh (make test does)", what, path)
	return ""
}

// requireNodePackage returns node's path once the named package of
// deploy/dev/js is installed.
func requireNodePackage(t *testing.T, pkg string) string {
	t.Helper()
	node := requireTool(t, "node", "node")
	requireTool(t, "npm package "+pkg, filepath.Join(nodeTools, "node_modules", pkg, "package.json"))
	return node
}
