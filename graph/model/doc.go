// Package model holds the GraphQL types that are not ent entities: pages
// of connections, payloads and inputs (generated into models_gen.go), and
// the few hand-written ones here.
package model
