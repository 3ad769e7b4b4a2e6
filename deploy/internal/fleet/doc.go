// Package fleet runs Issuegraph processes built from this repository and
// talks to them as clients do: the processes, GraphQL over HTTP, a
// signed-up user with a project, and followers of the project's events
// over graphql-transport-ws or SSE that resume with after:. It serves the
// suites that drive real processes, `make cluster` (deploy/cluster) and
// `make chaos` (deploy/chaos).
package fleet
