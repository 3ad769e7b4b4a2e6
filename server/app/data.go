package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/seed"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/server/auth"
	"github.com/issuegraph/issuegraph/server/telemetry"
)

// OpenDatabase opens the configured database, its statements traced and
// its pool measured through tel (nil: not instrumented). With AutoMigrate
// (the development default) it first creates the database if it is
// missing and applies pending migrations; otherwise it refuses a database
// that lacks a migration this binary needs.
func OpenDatabase(ctx context.Context, cfg config.Config, log *slog.Logger, tel *telemetry.Telemetry) (*database.DB, error) {
	if cfg.AutoMigrate {
		created, err := database.EnsureExists(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, err
		}
		if created {
			log.Info("created database", "url", database.Redact(cfg.DatabaseURL))
		}
	}
	opts := database.Options{
		MaxOpenConns: cfg.DBMaxOpenConns, MaxIdleConns: cfg.DBMaxOpenConns, StatementTimeout: cfg.StatementTimeout,
		StatementCache: cfg.DBStatementCache, WrapDriver: database.CountStatements,
	}
	if tel != nil {
		opts.Tracer, opts.Meter = tel.Tracer, tel.Meter
	}
	db, err := database.Open(ctx, cfg.DatabaseURL, opts)
	if err != nil {
		return nil, err
	}
	if cfg.AutoMigrate {
		applied, err := database.Migrate(ctx, db.SQL)
		if err != nil {
			db.Close()
			return nil, err
		}
		if len(applied) > 0 {
			log.Info("applied migrations", "versions", applied)
		}
		return db, nil
	}
	pending, err := database.Pending(ctx, db.SQL)
	if err != nil {
		db.Close()
		return nil, err
	}
	if len(pending) > 0 {
		db.Close()
		return nil, fmt.Errorf("database lacks migrations %s: run `issuegraph migrate` first", strings.Join(pending, ", "))
	}
	return db, nil
}

// SeedDemo loads the demo organization when the database is empty. It
// lives here rather than in ent/seed because the passwords are hashed the
// way the token service checks them (server/auth).
func SeedDemo(ctx context.Context, db *database.DB, log *slog.Logger) error {
	ctx = viewer.SystemContext(ctx)
	empty, err := seed.IsEmpty(ctx, db.Client)
	if err != nil || !empty {
		return err
	}
	hash, err := auth.HashPassword(seed.DemoPassword)
	if err != nil {
		return err
	}
	if err := seed.Demo(ctx, db.Client, hash); err != nil {
		return err
	}
	log.Info("loaded demo data", "organization", "acme", "users", seed.DemoUsers, "password", seed.DemoPassword)
	return nil
}

// SeedScale fills an empty database with a generated organization of
// seed.SizesAt(scale), for benchmarks.
func SeedScale(ctx context.Context, db *database.DB, scale float64, log *slog.Logger) error {
	hash, err := auth.HashPassword(seed.ScalePassword)
	if err != nil {
		return err
	}
	sizes := seed.SizesAt(scale)
	start := time.Now()
	if err := seed.Generate(ctx, db.SQL, sizes, hash); err != nil {
		return err
	}
	log.Info("generated data", "organization", seed.ScaleOrganization, "sizes", fmt.Sprintf("%+v", sizes),
		"first_user", seed.ScaleUserEmail(1), "password", seed.ScalePassword, "seconds", time.Since(start).Seconds())
	return nil
}
