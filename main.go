package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/graph/schemadiff"
	"github.com/redis/go-redis/v9"

	"github.com/issuegraph/issuegraph/ent/seed"
	"github.com/issuegraph/issuegraph/server"
	"github.com/issuegraph/issuegraph/server/app"
	"github.com/issuegraph/issuegraph/server/persisted"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "issuegraph:", err)
		os.Exit(1)
	}
}

// defaultGCPercent replaces Go's GOGC=100 for the server. A GraphQL response
// allocates a little for every field it resolves, all of it garbage once
// the response is written, on a live heap of a few tens of MB; at 100 the
// collector runs every few requests and took a third of the CPU of a deep
// query under load. At 400 the heap may grow to five times the live heap
// between collections: memory is the cheaper resource here. GOGC and
// GOMEMLIMIT, when set, win.
const defaultGCPercent = 400

func tuneGC(log *slog.Logger) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	debug.SetGCPercent(defaultGCPercent)
	log.Debug("garbage collector", "gogc", defaultGCPercent)
}

// run is the whole program: the command in args, with settings read
// through getenv, until ctx ends (main ends it on SIGINT or SIGTERM).
// Tests call it as main does.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	// version needs no configuration: it answers even where the
	// environment is not set up, such as an image checked without running.
	if len(args) > 0 && args[0] == "version" {
		fmt.Fprintf(stdout, "issuegraph %s %s\n", version(), runtime.Version())
		return nil
	}
	if len(args) > 0 && args[0] == "schema" {
		return schemaCommand(args[1:]) // needs no settings: it never connects
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, stderr)

	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		tuneGC(log)
		return serve(ctx, cfg, log)
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
		fmt.Fprintf(stdout, "applied %d migration(s) %v\n", len(applied), applied)
		return nil
	case "seed":
		fs := flag.NewFlagSet("seed", flag.ContinueOnError)
		scale := fs.Float64("scale", 0, "generate a large organization instead of the demo one: at 1, 1,000 users, 50 projects, 100,000 issues, 500,000 comments")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		cfg.AutoMigrate = true
		db, err := app.OpenDatabase(ctx, cfg, log, nil)
		if err != nil {
			return err
		}
		defer db.Close()
		if *scale > 0 {
			return app.SeedScale(ctx, db, *scale, log)
		}
		return app.SeedDemo(ctx, db, log)
	case "persisted":
		return persistedCommand(ctx, cfg, log, args[1:], stdout)
	case "healthcheck":
		return healthcheck(ctx, cfg.Addr, args[1:])
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: issuegraph [serve|migrate|seed [--scale N]|schema [-o FILE | diff OLD.graphql]|persisted import FILE --client NAME|healthcheck [URL]|version]")
		return nil
	}
	return fmt.Errorf("unknown command %q (want serve, migrate, seed, schema, persisted, healthcheck or version)", cmd)
}

// serve runs the API until ctx ends: the instance is built by app.Open
// (server/app), in the order its parts depend on each other.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	// go-redis keeps one logger per process: its lines (reconnects, pool
	// problems) join the JSON log, throttled.
	redis.SetLogger(server.NewRedisLogger(log))
	a, err := app.Open(ctx, cfg, log, app.Options{Version: version()})
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	base := "http://" + ln.Addr().String()
	log.Info("issuegraph is serving", "api", base+"/graphql", "env", cfg.Env)
	if !cfg.Production() {
		fmt.Printf("\nIssuegraph is running.\n  GraphiQL:  %s/\n  API:       %s/graphql\n  Sign in:   mutation { logIn(input: {email: %q, password: %q}) { tokens { accessToken } } }\n\n",
			base, base, seed.DemoUsers[0], seed.DemoPassword)
	}
	return a.Run(ctx, ln)
}

// schemaCommand prints the executable schema as SDL (`schema`, or
// `schema -o FILE`), or lists what changed since OLD that breaks clients
// (`schema diff OLD.graphql`, failing when anything does).
func schemaCommand(args []string) error {
	current := graph.NewExecutableSchema(graph.Config{}).Schema()
	if len(args) > 0 && args[0] == "diff" {
		if len(args) != 2 {
			return errors.New("usage: issuegraph schema diff OLD.graphql")
		}
		text, err := os.ReadFile(args[1])
		if err != nil {
			return fmt.Errorf("reading the old schema: %w", err)
		}
		old, err := schemadiff.Load(args[1], string(text))
		if err != nil {
			return err
		}
		breaking := schemadiff.Breaking(old, current)
		for _, b := range breaking {
			fmt.Println("breaking:", b)
		}
		if len(breaking) > 0 {
			return fmt.Errorf("%d change(s) break clients of %s", len(breaking), args[1])
		}
		return nil
	}
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	out := fs.String("o", "", "write the SDL to this file instead of standard output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sdl := schemadiff.Print(current)
	if *out == "" {
		_, err := os.Stdout.Write(sdl)
		return err
	}
	header := []byte("# The GraphQL schema of Issuegraph, printed from the executable schema by\n# `go generate` (issuegraph schema -o schema.graphql): do not edit; edit graph/schema/.\n\n")
	return os.WriteFile(*out, append(header, sdl...), 0o644)
}

// persistedCommand imports a manifest: `persisted import FILE --client NAME`.
// Every operation must validate against this binary's schema, so a manifest
// built for another API version is refused whole.
func persistedCommand(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "import" {
		return errors.New("usage: issuegraph persisted import FILE --client NAME")
	}
	fs := flag.NewFlagSet("persisted import", flag.ContinueOnError)
	clientName := fs.String("client", "", "name of the client app the manifest belongs to, e.g. ios")
	var files []string
	rest := args[1:]
	for len(rest) > 0 { // accept FILE before or after the flags
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 || *clientName == "" {
		return errors.New("usage: issuegraph persisted import FILE --client NAME")
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		return fmt.Errorf("reading manifest: %w", err)
	}
	ops, err := persisted.ParseManifest(data)
	if err != nil {
		return fmt.Errorf("%s: %w", files[0], err)
	}
	if err := persisted.Validate(graph.NewExecutableSchema(graph.Config{}).Schema(), ops); err != nil {
		return fmt.Errorf("%s: %w", files[0], err)
	}
	db, err := app.OpenDatabase(ctx, cfg, log, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	added, err := persisted.Import(ctx, db.Client, *clientName, ops)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "registered %d new operation(s) of %d for client %q\n", added, len(ops), *clientName)
	return nil
}

// healthcheck asks url (default: this instance's /readyz, from
// ISSUEGRAPH_ADDR) and fails unless it answers 200.
func healthcheck(ctx context.Context, addr string, args []string) error {
	var url string
	if len(args) > 0 {
		url = args[0]
	} else {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("ISSUEGRAPH_ADDR %q: %w", addr, err)
		}
		url = "http://" + net.JoinHostPort("127.0.0.1", port) + "/readyz"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("health check: %s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// buildVersion is set at link time (-X main.buildVersion=v1.2.3) by image
// builds, which have no module version to read.
var buildVersion string

// version is the version the binary was built as: buildVersion, else the
// module version ("devel" for a working tree).
func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}
