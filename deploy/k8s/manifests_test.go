package k8s_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/deploy/k8s/promrule"
	"github.com/issuegraph/issuegraph/server/servertest"
)

// kinds maps apiVersion/kind to the official type a manifest must decode
// into. A manifest of any other kind fails the test: add its type here.
var kinds = map[string]func() any{
	"v1/ConfigMap":                                  func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                                     func() any { return &corev1.Secret{} },
	"v1/Service":                                    func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                            func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                                  func() any { return &batchv1.Job{} },
	"autoscaling/v2/HorizontalPodAutoscaler":        func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":                 func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":            func() any { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1/ServiceMonitor":       func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule":       func() any { return &monitoringv1.PrometheusRule{} },
	"kustomize.config.k8s.io/v1beta1/Kustomization": func() any { return &types.Kustomization{} },
}

// decodeStrict decodes one YAML document into its official type; unknown
// and duplicate fields are errors.
func decodeStrict(doc []byte) (any, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return nil, err
	}
	newObj, ok := kinds[head.APIVersion+"/"+head.Kind]
	if !ok {
		return nil, fmt.Errorf("no known type for %s %s", head.APIVersion, head.Kind)
	}
	obj := newObj()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func splitDocs(raw []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(d, "")) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// TestEveryManifestDecodesStrictly reads every YAML file under base/ and
// overlays/ (patches included) into the official Kubernetes, Prometheus
// Operator and kustomize types.
func TestEveryManifestDecodesStrictly(t *testing.T) {
	var n int
	require.NoError(t, filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		for i, doc := range splitDocs(raw) {
			_, err := decodeStrict(doc)
			assert.NoError(t, err, "%s document %d", path, i+1)
			n++
		}
		return nil
	}))
	assert.Greater(t, n, 12)

	// The decoder is strict: a misspelt field is refused.
	_, err := decodeStrict([]byte("apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 3\n"))
	assert.ErrorContains(t, err, "replica")
}

// built is the output of one kustomize build, decoded.
type built struct {
	deployments []*appsv1.Deployment
	jobs        []*batchv1.Job
	services    []*corev1.Service
	configMaps  []*corev1.ConfigMap
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	pdbs        []*policyv1.PodDisruptionBudget
	policies    []*networkingv1.NetworkPolicy
	monitors    []*monitoringv1.ServiceMonitor
	rules       []*monitoringv1.PrometheusRule
}

func build(t *testing.T, dir string) built {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err, "kustomize build %s", dir)
	var b built
	for _, r := range res.Resources() {
		doc, err := r.AsYAML()
		require.NoError(t, err)
		obj, err := decodeStrict(doc)
		require.NoError(t, err, "built %s %s", r.GetKind(), r.GetName())
		switch o := obj.(type) {
		case *appsv1.Deployment:
			b.deployments = append(b.deployments, o)
		case *batchv1.Job:
			b.jobs = append(b.jobs, o)
		case *corev1.Service:
			b.services = append(b.services, o)
		case *corev1.ConfigMap:
			b.configMaps = append(b.configMaps, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			b.hpas = append(b.hpas, o)
		case *policyv1.PodDisruptionBudget:
			b.pdbs = append(b.pdbs, o)
		case *networkingv1.NetworkPolicy:
			b.policies = append(b.policies, o)
		case *monitoringv1.ServiceMonitor:
			b.monitors = append(b.monitors, o)
		case *monitoringv1.PrometheusRule:
			b.rules = append(b.rules, o)
		default:
			t.Fatalf("unexpected %T in the build", obj)
		}
	}
	return b
}

func secretTemplate(t *testing.T) *corev1.Secret {
	t.Helper()
	raw, err := os.ReadFile("base/secret.template.yaml")
	require.NoError(t, err)
	obj, err := decodeStrict(raw)
	require.NoError(t, err)
	s, ok := obj.(*corev1.Secret)
	require.True(t, ok)
	return s
}

// settingNames are the variables config reads, plus the Go runtime's own.
func settingNames() map[string]bool {
	names := map[string]bool{"GOMEMLIMIT": true, "POD_IP": true}
	for _, s := range config.Settings {
		names[s.Name] = true
	}
	return names
}

// TestKustomizeBuildsAndReferencesHold builds the base and every overlay
// with kustomize's Go library and checks that the parts name each other
// correctly and agree with the program.
func TestKustomizeBuildsAndReferencesHold(t *testing.T) {
	for _, dir := range []string{"base", "overlays/production"} {
		t.Run(dir, func(t *testing.T) {
			b := build(t, dir)
			require.Len(t, b.deployments, 1)
			require.Len(t, b.jobs, 1)
			require.Len(t, b.configMaps, 1)
			require.Len(t, b.hpas, 1)
			require.Len(t, b.pdbs, 1)
			require.Len(t, b.policies, 1)
			require.Len(t, b.monitors, 1)
			require.Len(t, b.rules, 1)
			d, job, cm := b.deployments[0], b.jobs[0], b.configMaps[0]
			pod := labels.Set(d.Spec.Template.Labels)
			secret := secretTemplate(t)
			namespace := d.Namespace
			for _, o := range []string{job.Namespace, cm.Namespace, b.hpas[0].Namespace, b.pdbs[0].Namespace, b.policies[0].Namespace, b.monitors[0].Namespace, b.rules[0].Namespace} {
				assert.Equal(t, namespace, o, "every object in one namespace")
			}

			// Selectors select the API pods.
			sel, err := metaSelector(d.Spec.Selector)
			require.NoError(t, err)
			assert.True(t, sel.Matches(pod), "the Deployment's selector matches its pods")
			assert.Equal(t, int32(3), *d.Spec.Replicas)
			pdbSel, err := metaSelector(b.pdbs[0].Spec.Selector)
			require.NoError(t, err)
			assert.True(t, pdbSel.Matches(pod), "the PodDisruptionBudget covers the API pods")
			npSel, err := metaSelector(&b.policies[0].Spec.PodSelector)
			require.NoError(t, err)
			assert.True(t, npSel.Matches(pod), "the NetworkPolicy covers the API pods")
			for _, c := range d.Spec.Template.Spec.TopologySpreadConstraints {
				s, err := metaSelector(c.LabelSelector)
				require.NoError(t, err)
				assert.True(t, s.Matches(pod), "topology spread over %s counts the API pods", c.TopologyKey)
			}
			hpa := b.hpas[0]
			assert.Equal(t, "Deployment", hpa.Spec.ScaleTargetRef.Kind)
			assert.Equal(t, d.Name, hpa.Spec.ScaleTargetRef.Name)
			assert.GreaterOrEqual(t, *hpa.Spec.MinReplicas, *d.Spec.Replicas)

			// Ports: Services, probes, policy and monitor name ports the
			// container declares.
			require.Len(t, d.Spec.Template.Spec.Containers, 1)
			api := d.Spec.Template.Spec.Containers[0]
			ports := map[string]int32{}
			for _, p := range api.Ports {
				ports[p.Name] = p.ContainerPort
			}
			servicePorts := map[string]map[string]bool{}
			for _, s := range b.services {
				assert.True(t, labels.SelectorFromSet(s.Spec.Selector).Matches(pod), "Service %s selects the API pods", s.Name)
				servicePorts[s.Name] = map[string]bool{}
				for _, p := range s.Spec.Ports {
					assert.Contains(t, ports, p.TargetPort.String(), "Service %s targets a container port", s.Name)
					servicePorts[s.Name][p.Name] = true
				}
			}
			assert.True(t, servicePorts[d.Name]["http"], "the API Service publishes http")
			assert.False(t, servicePorts[d.Name]["metrics"], "the API Service does not publish /metrics")
			for _, r := range b.policies[0].Spec.Ingress {
				for _, p := range r.Ports {
					assert.Contains(t, ports, p.Port.String(), "NetworkPolicy admits a container port")
				}
			}
			mon := b.monitors[0]
			monSel, err := metaSelector(&mon.Spec.Selector)
			require.NoError(t, err)
			var monitored int
			for _, s := range b.services {
				if monSel.Matches(labels.Set(s.Labels)) {
					monitored++
					for _, e := range mon.Spec.Endpoints {
						assert.True(t, servicePorts[s.Name][e.Port], "ServiceMonitor port %s is a port of Service %s", e.Port, s.Name)
					}
				}
			}
			assert.Equal(t, 1, monitored, "the ServiceMonitor selects the metrics Service")
			assert.Equal(t, fmt.Sprintf(":%d", ports["http"]), cm.Data["ISSUEGRAPH_ADDR"])
			// Metrics listen on the pod's own address (a private one).
			podEnv := map[string]corev1.EnvVar{}
			for _, e := range api.Env {
				podEnv[e.Name] = e
			}
			require.NotNil(t, podEnv["POD_IP"].ValueFrom, "POD_IP comes from the pod's status")
			require.NotNil(t, podEnv["POD_IP"].ValueFrom.FieldRef)
			assert.Equal(t, "status.podIP", podEnv["POD_IP"].ValueFrom.FieldRef.FieldPath)
			assert.Equal(t, fmt.Sprintf("$(POD_IP):%d", ports["metrics"]), podEnv["ISSUEGRAPH_METRICS_ADDR"].Value)

			// Probes: readiness and liveness on the server's endpoints.
			require.NotNil(t, api.ReadinessProbe)
			require.NotNil(t, api.LivenessProbe)
			assert.Equal(t, "/readyz", api.ReadinessProbe.HTTPGet.Path)
			assert.Equal(t, "/healthz", api.LivenessProbe.HTTPGet.Path)
			for _, p := range []*corev1.Probe{api.ReadinessProbe, api.LivenessProbe, api.StartupProbe} {
				if p != nil {
					assert.Equal(t, intstr.FromString("http"), p.HTTPGet.Port)
				}
			}

			// Environment: every variable is a setting config reads; the
			// ConfigMap and Secret are the ones built and templated.
			names := settingNames()
			for k := range cm.Data {
				assert.True(t, names[k], "ConfigMap key %s is not a setting in config.Settings", k)
			}
			for k := range secret.StringData {
				assert.True(t, names[k], "Secret key %s is not a setting in config.Settings", k)
			}
			for _, c := range []corev1.Container{api, job.Spec.Template.Spec.Containers[0]} {
				for _, e := range c.Env {
					assert.True(t, names[e.Name], "%s env %s is not a setting", c.Name, e.Name)
				}
				require.Len(t, c.EnvFrom, 2, c.Name)
				assert.Equal(t, cm.Name, c.EnvFrom[0].ConfigMapRef.Name, c.Name)
				assert.Equal(t, secret.Name, c.EnvFrom[1].SecretRef.Name, c.Name)
				assert.Equal(t, api.Image, c.Image, "the Job migrates with the Deployment's image")
				sc := c.SecurityContext
				require.NotNil(t, sc, c.Name)
				assert.True(t, *sc.ReadOnlyRootFilesystem, c.Name)
				assert.False(t, *sc.AllowPrivilegeEscalation, c.Name)
				assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, c.Name)
			}
			for _, spec := range []corev1.PodSpec{d.Spec.Template.Spec, job.Spec.Template.Spec} {
				require.NotNil(t, spec.SecurityContext.RunAsNonRoot)
				assert.True(t, *spec.SecurityContext.RunAsNonRoot)
				assert.Equal(t, int64(65532), *spec.SecurityContext.RunAsUser, "the image's user")
			}
			if dir != "base" {
				assert.Regexp(t, `^ghcr\.io/issuegraph/issuegraph:v[0-9]`, api.Image, "an overlay pins a released image")
			}
			assert.Equal(t, []string{"migrate"}, job.Spec.Template.Spec.Containers[0].Args)
			assert.Equal(t, []string{"serve"}, api.Args)

			// GOMEMLIMIT follows the container's memory limit.
			var memlimit *corev1.EnvVar
			for i := range api.Env {
				if api.Env[i].Name == "GOMEMLIMIT" {
					memlimit = &api.Env[i]
				}
			}
			require.NotNil(t, memlimit, "GOMEMLIMIT is set")
			ref := memlimit.ValueFrom.ResourceFieldRef
			require.NotNil(t, ref)
			assert.Equal(t, "limits.memory", ref.Resource)
			assert.Equal(t, api.Name, ref.ContainerName)
			assert.Equal(t, int64(1), ref.Divisor.Value(), "bytes: Go reads a bare number as bytes")
			assert.False(t, api.Resources.Limits.Memory().IsZero(), "a memory limit to follow")

			// Shutdown: the kubelet's SIGKILL comes after the preStop pause
			// and the server's own shutdown timeout.
			shutdown, err := time.ParseDuration(cm.Data["ISSUEGRAPH_SHUTDOWN_TIMEOUT"])
			require.NoError(t, err)
			require.NotNil(t, api.Lifecycle.PreStop.Sleep, "a preStop pause (the image has no shell to run sleep)")
			pause := time.Duration(api.Lifecycle.PreStop.Sleep.Seconds) * time.Second
			grace := time.Duration(*d.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
			assert.Greater(t, grace, pause+shutdown, "terminationGracePeriodSeconds exceeds preStop pause + ISSUEGRAPH_SHUTDOWN_TIMEOUT")
			assert.Greater(t, pause, time.Duration(0))

			// The ConfigMap and a filled-in Secret pass the production rules.
			env := map[string]string{}
			for k, v := range cm.Data {
				env[k] = v
			}
			for k, v := range secret.StringData {
				env[k] = strings.ReplaceAll(v, "CHANGE_ME_TO_32_OR_MORE_RANDOM_BYTES", strings.Repeat("k", 48))
			}
			for _, e := range api.Env { // as the kubelet expands them, on a pod at 10.0.0.7
				if e.ValueFrom == nil {
					env[e.Name] = strings.ReplaceAll(e.Value, "$(POD_IP)", "10.0.0.7")
				}
			}
			cfg, err := config.Load(func(k string) string { return env[k] })
			require.NoError(t, err, "the shipped settings pass config's checks")
			assert.True(t, cfg.Production())
			assert.NotEmpty(t, cfg.RedisURL, "several instances share Redis")
		})
	}
}

// TestProbePathsAnswer starts a real instance and asks it every path the
// manifests probe: each answers 200 on a healthy instance.
func TestProbePathsAnswer(t *testing.T) {
	b := build(t, "overlays/production")
	api := b.deployments[0].Spec.Template.Spec.Containers[0]
	env := servertest.Start(t)
	for _, p := range []*corev1.Probe{api.ReadinessProbe, api.LivenessProbe, api.StartupProbe} {
		if p == nil {
			continue
		}
		resp, err := http.Get(env.URL + p.HTTPGet.Path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, p.HTTPGet.Path)
	}
}

// TestPrometheusRuleIsGenerated: the PrometheusRule is what the generator
// makes of deploy/prometheus's rules today, and its groups decode into the
// operator's types.
func TestPrometheusRuleIsGenerated(t *testing.T) {
	rules, err := os.ReadFile(promrule.RulesFile)
	require.NoError(t, err)
	want, err := promrule.Manifest(rules)
	require.NoError(t, err)
	got, err := os.ReadFile(promrule.ManifestFile)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got), "%s is stale: run go generate ./... in deploy/k8s", promrule.ManifestFile)

	obj, err := decodeStrict(got)
	require.NoError(t, err)
	pr := obj.(*monitoringv1.PrometheusRule)
	var file struct {
		Groups []monitoringv1.RuleGroup `json:"groups"`
	}
	require.NoError(t, yaml.UnmarshalStrict(rules, &file))
	assert.Equal(t, file.Groups, pr.Spec.Groups)
	var alerts int
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts++
			}
		}
	}
	assert.Equal(t, 4, alerts)
}

func metaSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(s)
}
