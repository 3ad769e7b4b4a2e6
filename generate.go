package main

// Code generation, in order: the ent client from ent/schema, then the
// GraphQL executor and models from graph/schema (gqlgen reads the ent
// types, so ent must come first), then graph/execpatch's rewrite of the
// executor (cheaper equivalents of four gqlgen calls; see its doc), then
// gqlgen's unpatched executor in graph/stockexec, which the tests compare
// the patched one with, and last schema.graphql printed from the
// executable schema (make check-schema compares it with main's).
//go:generate go run ./ent/entc.go
//go:generate go run github.com/99designs/gqlgen generate --config gqlgen.yml
//go:generate go run ./graph/execpatch graph/generated.go
//go:generate go run github.com/99designs/gqlgen generate --config graph/stockexec/gqlgen.yml
//go:generate go run . schema -o schema.graphql
