// Package graph resolves Issuegraph's GraphQL schema (graph/schema) against
// the ent client: queries read through ent, mutations validate their input,
// then change data and record events in one transaction.
package graph
