package deploy_test

import (
	"bytes"
	"os"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/issuegraph/issuegraph/config"
)

// composeService holds the fields of a Compose service this file uses;
// decoding with KnownFields refuses any other, so a misspelt key fails.
type composeService struct {
	Image           string
	Build           struct{ Context, Dockerfile string }
	ReadOnly        bool `yaml:"read_only"`
	Tmpfs           []string
	Command         []string
	Restart         string
	StopGracePeriod string `yaml:"stop_grace_period"`
	Environment     map[string]string
	Volumes         []string
	Ports           []string
	Healthcheck     struct {
		Test              []string
		Interval, Timeout string
		Retries           int
	}
	DependsOn yaml.Node `yaml:"depends_on"`
}

type composeFile struct {
	Name     string
	Services map[string]composeService
	Volumes  map[string]any
	Extra    map[string]any `yaml:",inline"` // x- extension fields
}

// TestComposeFileParsesAndUsesRealSettings reads deploy/compose.yaml:
// services and their dependencies name each other, the instances set only
// real settings and share their keys, the migration runs once before them,
// and the load balancer balances over exactly the API instances, checking
// /readyz.
func TestComposeFileParsesAndUsesRealSettings(t *testing.T) {
	raw, err := os.ReadFile("compose.yaml")
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var f composeFile
	require.NoError(t, dec.Decode(&f))
	for k := range f.Extra {
		assert.Regexp(t, `^x-`, k, "only x- extensions besides the known keys")
	}
	settings := map[string]bool{}
	for _, s := range config.Settings {
		settings[s.Name] = true
	}

	var apis []string
	for name, s := range f.Services {
		deps := dependencies(t, s.DependsOn)
		for dep := range deps {
			assert.Contains(t, f.Services, dep, "%s depends on a service", name)
		}
		if s.Image != "issuegraph:dev" {
			continue
		}
		assert.Equal(t, "deploy/Dockerfile", s.Build.Dockerfile, name)
		assert.True(t, s.ReadOnly, "%s runs with a read-only root, as in Kubernetes", name)
		for k := range s.Environment {
			assert.True(t, settings[k], "%s sets %s, which is not a setting in config.Settings", name, k)
		}
		cfg, err := config.Load(func(k string) string { return s.Environment[k] })
		require.NoError(t, err, "%s's settings pass config's checks", name)
		assert.NotEmpty(t, cfg.RedisURL, "%s shares Redis with the other instance", name)
		switch s.Command[0] {
		case "migrate":
			assert.Equal(t, "service_healthy", deps["postgres"])
		case "serve":
			apis = append(apis, name)
			assert.Equal(t, "service_completed_successfully", deps["migrate"], "%s starts after the migration", name)
			assert.Equal(t, []string{"CMD", "/issuegraph", "healthcheck"}, s.Healthcheck.Test, name)
			grace, err := time.ParseDuration(s.StopGracePeriod)
			require.NoError(t, err, name)
			assert.Greater(t, grace, cfg.ShutdownTimeout, "%s: Compose kills after stop_grace_period; the server needs ISSUEGRAPH_SHUTDOWN_TIMEOUT", name)
		default:
			t.Errorf("%s runs %v", name, s.Command)
		}
	}
	sort.Strings(apis)
	require.Len(t, apis, 2, "two API instances")
	a, b := f.Services[apis[0]].Environment, f.Services[apis[1]].Environment
	for _, k := range []string{"ISSUEGRAPH_JWT_SECRET", "ISSUEGRAPH_DATABASE_URL", "ISSUEGRAPH_REDIS_URL"} {
		assert.Equal(t, a[k], b[k], "instances agree on %s", k)
	}
	assert.NotEqual(t, a["ISSUEGRAPH_DEMO_DATA"], b["ISSUEGRAPH_DEMO_DATA"], "one instance loads the demo data")
	for _, dep := range []string{"postgres", "redis"} {
		assert.NotEmpty(t, f.Services[dep].Healthcheck.Test, "%s has a health check", dep)
	}

	lb := f.Services["lb"]
	assert.Equal(t, apis, sortedKeys(dependencies(t, lb.DependsOn)), "the load balancer waits for the instances")
	cfg, err := os.ReadFile("compose/haproxy.cfg")
	require.NoError(t, err)
	assert.Contains(t, lb.Volumes, "./compose/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro")
	var backends []string
	for _, m := range regexp.MustCompile(`(?m)^\s*server (\S+) (\S+):8080\s*$`).FindAllStringSubmatch(string(cfg), -1) {
		assert.Equal(t, m[1], m[2])
		backends = append(backends, m[2])
	}
	sort.Strings(backends)
	assert.Equal(t, apis, backends, "HAProxy balances over the API instances")
	assert.Regexp(t, `(?m)^\s*option httpchk GET /readyz$`, string(cfg))
	assert.Regexp(t, `(?m)^\s*default-server check `, string(cfg))
}

// dependencies reads depends_on in either Compose form: a list of names or
// a map of name to condition.
func dependencies(t *testing.T, n yaml.Node) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch n.Kind {
	case 0:
	case yaml.SequenceNode:
		var names []string
		require.NoError(t, n.Decode(&names))
		for _, name := range names {
			out[name] = "service_started"
		}
	case yaml.MappingNode, yaml.AliasNode:
		var m map[string]struct{ Condition string }
		require.NoError(t, n.Decode(&m))
		for name, d := range m {
			out[name] = d.Condition
		}
	default:
		t.Fatalf("depends_on is neither a list nor a map")
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
