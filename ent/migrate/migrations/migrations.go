package migrations

import "embed"

// FS holds the migration files and their checksum file.
//
//go:embed *.sql atlas.sum
var FS embed.FS
