// Package k8s holds Issuegraph's Kubernetes manifests (a kustomize base
// and overlays) and the tests that check them against the program: the
// official API types, kustomize's own build, the server's routes and the
// settings config reads. It is a module of its own so that the Kubernetes
// and kustomize libraries stay out of the server's dependencies.
package k8s
