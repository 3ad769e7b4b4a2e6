package main

// Code generation, in order: the ent client from ent/schema, then the
// GraphQL executor and models from graph/schema (gqlgen reads the ent
// types, so ent must come first).
//go:generate go run ./ent/entc.go
//go:generate go run github.com/99designs/gqlgen generate --config gqlgen.yml
