//go:build ignore

// diff.go writes a new versioned migration to ent/migrate/migrations: the
// SQL that takes a database migrated with the existing files to the current
// ent/schema. Run it through `make migration NAME=add_something`; it needs a
// scratch PostgreSQL database (ISSUEGRAPH_DEV_DATABASE_URL) that it may wipe.
package main

import (
	"context"
	"log"
	"os"

	atlas "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql/schema"
	_ "github.com/lib/pq"

	"github.com/issuegraph/issuegraph/ent/ent/migrate"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatalln("usage: go run ./ent/migrate/diff.go NAME")
	}
	devURL := os.Getenv("ISSUEGRAPH_DEV_DATABASE_URL")
	if devURL == "" {
		log.Fatalln("ISSUEGRAPH_DEV_DATABASE_URL must name a scratch database")
	}
	dir, err := atlas.NewLocalDir("ent/migrate/migrations")
	if err != nil {
		log.Fatalf("opening migration directory: %v", err)
	}
	opts := []schema.MigrateOption{
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(dialect.Postgres),
		schema.WithFormatter(atlas.DefaultFormatter),
	}
	if err := migrate.NamedDiff(context.Background(), devURL, os.Args[1], opts...); err != nil {
		log.Fatalf("generating migration: %v", err)
	}
}
