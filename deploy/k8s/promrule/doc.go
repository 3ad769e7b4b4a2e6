// Package promrule turns deploy/prometheus's rules file into a Prometheus
// Operator PrometheusRule, so the alerts Kubernetes deploys are the ones
// the rules test checks.
package promrule
