// Package schema is Issuegraph's data model, written by hand: entities,
// fields, edges, indexes, hooks and privacy policies. entc generates the
// client in ent/ent from it (ent/entc.go); ent/migrate holds the versioned
// SQL that takes a database to it.
package schema
