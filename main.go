// Command issuegraph serves the Issuegraph GraphQL API.
//
//	issuegraph [serve]   run the API (default)
//	issuegraph migrate   apply pending database migrations
//	issuegraph seed      load the demo organization into an empty database
//	issuegraph seed --scale N   generate a large organization (benchmarks)
//
// Every setting comes from the environment; see the README.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/server"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "issuegraph:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		return server.Run(ctx, cfg, log)
	case "migrate":
		if _, err := database.EnsureExists(ctx, cfg.DatabaseURL); err != nil {
			return err
		}
		db, err := database.Open(ctx, cfg.DatabaseURL, database.Options{})
		if err != nil {
			return err
		}
		defer db.Close()
		applied, err := database.Migrate(ctx, db.SQL)
		if err != nil {
			return err
		}
		fmt.Printf("applied %d migration(s) %v\n", len(applied), applied)
		return nil
	case "seed":
		fs := flag.NewFlagSet("seed", flag.ContinueOnError)
		scale := fs.Float64("scale", 0, "generate a large organization instead of the demo one: at 1, 1,000 users, 50 projects, 100,000 issues, 500,000 comments")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		cfg.AutoMigrate = true
		db, err := server.OpenDatabase(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer db.Close()
		if *scale > 0 {
			return server.SeedScale(ctx, db, *scale, log)
		}
		return server.SeedDemo(ctx, db, log)
	case "help", "-h", "--help":
		fmt.Println("usage: issuegraph [serve|migrate|seed [--scale N]]")
		return nil
	}
	return fmt.Errorf("unknown command %q (want serve, migrate or seed)", cmd)
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
