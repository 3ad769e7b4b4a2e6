package graph

// Resolver is the root of every resolver.
type Resolver struct{}
