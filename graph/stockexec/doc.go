// Package stockexec is gqlgen's own executor for Issuegraph's schema,
// generated from graph/stockexec/gqlgen.yml without graph/execpatch's
// rewrite. Nothing in the server uses it: graph's tests run a corpus of
// operations through both executors and require the same answers, so the
// rewrite can never change a response.
package stockexec
