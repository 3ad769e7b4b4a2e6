// Command gen writes base/prometheusrule.yaml from the Prometheus rules
// file; `go generate ./...` in deploy/k8s runs it.
package main
