package deploy_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "github.com/lib/pq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database/databasetest"
)

const dockerfile = "Dockerfile"

// imageUser is the runtime stage's USER: distroless's "nonroot".
const imageUser = "65532:65532"

// maxImageBytes bounds the runtime image: the stripped binary is about
// 42 MB (gqlgen, ent with Atlas, OpenTelemetry exporters with gRPC) and
// the CA bundle 0.2 MB; much more means a base image or a toolchain
// slipped in.
const maxImageBytes = 60 << 20

// stage is one FROM section of the Dockerfile.
type stage struct {
	name  string
	lines []string // instructions, continuation lines joined
}

func parseDockerfile(t *testing.T) map[string]stage {
	t.Helper()
	raw, err := os.ReadFile(dockerfile)
	require.NoError(t, err)
	stages := map[string]stage{}
	var cur *stage
	for _, line := range strings.Split(strings.ReplaceAll(string(raw), "\\\n", " "), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if m := regexp.MustCompile(`(?i)^FROM\s+\S+\s+AS\s+(\S+)$`).FindStringSubmatch(line); m != nil {
			if cur != nil {
				stages[cur.name] = *cur
			}
			cur = &stage{name: m[1]}
			continue
		}
		if cur != nil {
			cur.lines = append(cur.lines, line)
		}
	}
	require.NotNil(t, cur, "the Dockerfile names its stages")
	stages[cur.name] = *cur
	require.Contains(t, stages, "build")
	require.Contains(t, stages, "runtime")
	return stages
}

// TestDockerfileBuildsStaticBinary reads the build stage without building
// anything: the binary is static, trimmed and stripped, and the runtime
// stage starts from scratch as a numeric non-root user.
func TestDockerfileBuildsStaticBinary(t *testing.T) {
	stages := parseDockerfile(t)
	build := strings.Join(stages["build"].lines, "\n")
	assert.Contains(t, build, "CGO_ENABLED=0")
	assert.Contains(t, build, "-trimpath")
	assert.Contains(t, build, `-ldflags="-s -w`)
	raw, err := os.ReadFile(dockerfile)
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^FROM scratch AS runtime$`, string(raw))
	assert.Contains(t, stages["runtime"].lines, "USER "+imageUser)
	assert.Contains(t, stages["runtime"].lines, `ENTRYPOINT ["/issuegraph"]`)
}

// TestImageRunsFromItsOwnFilesystem builds the runtime stage with buildah
// from a binary made by the build stage's own RUN lines, mounts the image
// and runs the binary inside it with chroot as the image's user: it
// answers `version`, and `migrate` applies the embedded migrations to an
// empty database. Registry base images cannot be pulled here, so the
// build stage's commands run on this machine's Go, which is the version
// the Dockerfile pins.
func TestImageRunsFromItsOwnFilesystem(t *testing.T) {
	buildah, err := exec.LookPath("buildah")
	if err != nil {
		t.Skip("buildah is not installed (make test installs Debian's buildah where it can)")
	}
	if os.Geteuid() != 0 {
		t.Skip("mounting an image and chroot need root")
	}
	stages := parseDockerfile(t)
	out := t.TempDir()
	version := "imagetest-" + randomHex(4)
	for _, line := range stages["build"].lines {
		cmd, ok := strings.CutPrefix(line, "RUN ")
		if !ok {
			continue
		}
		cmd = strings.ReplaceAll(cmd, "/out/", out+"/")
		cmd = strings.ReplaceAll(cmd, "${VERSION}", version)
		run := exec.Command("sh", "-c", cmd)
		run.Dir = ".." // the build context is the repository root
		if b, err := run.CombinedOutput(); err != nil {
			t.Fatalf("build stage step %q: %v\n%s", cmd, err, b)
		}
	}

	// The runtime stage as written, except that it copies from the folder
	// the build steps wrote instead of from the build stage.
	var runtime []string
	for _, line := range stages["runtime"].lines {
		runtime = append(runtime, strings.ReplaceAll(line, "COPY --from=build /out/", "COPY "))
	}
	containerfile := filepath.Join(t.TempDir(), "Containerfile")
	require.NoError(t, os.WriteFile(containerfile, []byte("FROM scratch\n"+strings.Join(runtime, "\n")+"\n"), 0o600))

	name := "localhost/issuegraph-imagetest-" + randomHex(6)
	bh := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(buildah, args...)
		cmd.Env = append(os.Environ(), "STORAGE_DRIVER=vfs", "BUILDAH_ISOLATION=chroot")
		b, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("buildah %s: %v\n%s%s", strings.Join(args, " "), err, b, stderr)
		}
		return strings.TrimSpace(string(b))
	}
	bh("bud", "--quiet", "--layers=false", "-f", containerfile, "-t", name, out)
	t.Cleanup(func() { _ = exec.Command(buildah, "rmi", "-f", name).Run() })
	ctr := bh("from", "--pull-never", "--name", "issuegraph-imagetest-"+randomHex(6), name)
	t.Cleanup(func() { _ = exec.Command(buildah, "rm", ctr).Run() })
	root := bh("mount", ctr)
	t.Cleanup(func() { _ = exec.Command(buildah, "umount", ctr).Run() })

	var inspected struct {
		OCIv1 struct {
			Config struct {
				User       string
				Entrypoint []string
			} `json:"config"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(bh("inspect", "--type", "image", name)), &inspected))
	assert.Equal(t, imageUser, inspected.OCIv1.Config.User, "the image runs as a non-root user")
	assert.Equal(t, []string{"/issuegraph"}, inspected.OCIv1.Config.Entrypoint)

	var files []string
	var size int64
	require.NoError(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size += info.Size()
		rel, _ := filepath.Rel(root, path)
		files = append(files, "/"+rel)
		return nil
	}))
	assert.ElementsMatch(t, []string{"/issuegraph", "/etc/ssl/certs/ca-certificates.crt"}, files, "nothing but the binary and CA certificates: no shell, no package manager")
	assert.NoFileExists(t, filepath.Join(root, "bin", "sh"))
	assert.Less(t, size, int64(maxImageBytes), "image content size")
	t.Logf("image %s: %.1f MB in %d files", name, float64(size)/(1<<20), len(files))

	chroot := func(env []string, args ...string) (string, error) {
		cmd := exec.Command("chroot", append([]string{"--userspec=" + imageUser, root, "/issuegraph"}, args...)...)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	got, err := chroot(nil, "version")
	require.NoError(t, err, got)
	assert.Contains(t, got, "issuegraph "+version)

	// The migrations travel inside the binary: migrate an empty database
	// from the image's filesystem, where no migration file exists.
	dbURL := emptyDatabase(t)
	got, err = chroot([]string{"ISSUEGRAPH_DATABASE_URL=" + dbURL, "ISSUEGRAPH_LOG_LEVEL=error"}, "migrate")
	require.NoError(t, err, got)
	assert.Regexp(t, `applied [1-9][0-9]* migration`, got)
	got, err = chroot([]string{"ISSUEGRAPH_DATABASE_URL=" + dbURL, "ISSUEGRAPH_LOG_LEVEL=error"}, "migrate")
	require.NoError(t, err, got)
	assert.Contains(t, got, "applied 0 migration")
}

// emptyDatabase creates a database with no tables on the test server and
// drops it when the test ends.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	server, err := url.Parse(databasetest.ServerURL())
	require.NoError(t, err)
	admin, err := sql.Open("postgres", server.String())
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	name := "issuegraph_test_image_" + randomHex(6)
	_, err = admin.ExecContext(context.Background(), "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u := *server
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
