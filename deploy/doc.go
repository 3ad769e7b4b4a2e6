// Package deploy holds deployment files: the container image, the compose
// file, Prometheus rules and the Grafana dashboard (Kubernetes manifests
// are in deploy/k8s, a module of its own). Its tests check the rules and
// dashboard use only series Issuegraph exports, build the image's runtime
// stage and run it, check the compose file against the settings, and walk
// the backup runbook.
package deploy
