//go:build ignore

// entc.go generates the ent client from ent/schema. It is run by
// `go generate ./...` (see generate.go at the repository root).
package main

import (
	"log"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

func main() {
	err := entc.Generate("./ent/schema", &gen.Config{
		Target:  "./ent/ent",
		Package: "github.com/issuegraph/issuegraph/ent/ent",
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureIntercept,
			gen.FeatureEntQL,
			gen.FeatureLock,
			gen.FeatureModifier,
			gen.FeatureExecQuery,
			gen.FeatureUpsert,
			gen.FeatureVersionedMigration,
		},
	})
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
