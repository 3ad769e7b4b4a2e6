package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/server"
	"github.com/issuegraph/issuegraph/server/app"
	"github.com/issuegraph/issuegraph/server/telemetry"
)

// Env is one running instance.
type Env struct {
	URL    string // base URL, e.g. http://127.0.0.1:40123
	DB     *database.DB
	Server *server.Server
	Config config.Config
	Logs   *LogBuffer

	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
	stopErr  error
}

// Option changes the configuration before the instance starts.
type Option func(*config.Config)

// WithRedis points the instance at the test Redis (redistest.URL()).
// Several instances started with it share that Redis, like a scaled-out
// deployment.
func WithRedis(url string) Option { return func(c *config.Config) { c.RedisURL = url } }

// WithoutLoaders turns dataloaders off (ISSUEGRAPH_LOADERS=false): one
// statement per parent, as benchmarks compare.
func WithoutLoaders() Option { return func(c *config.Config) { c.Loaders = false } }

// Statements is the number of SQL statements the operation ran, from the
// development-only extensions.dbStatements.
func (r *Response) Statements(tb testing.TB) int {
	tb.Helper()
	n, ok := r.Extensions["dbStatements"].(float64)
	if !ok {
		tb.Fatalf("response has no extensions.dbStatements: %s", r.RawBody)
	}
	return int(n)
}

// WithRedisPrefix sets the Redis key and channel prefix (redistest.Prefix),
// so a test's instances meet each other and nobody else.
func WithRedisPrefix(prefix string) Option { return func(c *config.Config) { c.RedisPrefix = prefix } }

// WithDatabase makes the instance use an existing database, such as
// another instance's Env.Config.DatabaseURL, instead of a fresh one: two
// instances of one deployment. The database's owner drops it.
func WithDatabase(url string) Option { return func(c *config.Config) { c.DatabaseURL = url } }

// Start runs an instance on a fresh database until the test ends.
func Start(tb testing.TB, opts ...Option) *Env {
	tb.Helper()
	return start(tb, nil, opts)
}

// StartTraced is Start with the instance's HTTP, GraphQL, SQL and Redis
// work traced and measured through tel.
func StartTraced(tb testing.TB, tel *telemetry.Telemetry, opts ...Option) *Env {
	tb.Helper()
	return start(tb, tel, opts)
}

func start(tb testing.TB, tel *telemetry.Telemetry, opts []Option) *Env {
	tb.Helper()
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		tb.Fatalf("default config: %v", err)
	}
	cfg.DatabaseURL = ""
	cfg.Addr = "127.0.0.1:0"
	cfg.DemoData = false
	// Tests wait on state changes, so make the real-time fallbacks fast.
	cfg.RelayPollInterval = 200 * time.Millisecond
	// Test packages run side by side, each with a few servers at once, on a
	// PostgreSQL with the default 100 connections: a test server's pool is
	// small (a test that needs more says so with an Option).
	cfg.DBMaxOpenConns = 8
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.DatabaseURL == "" {
		cfg.DatabaseURL = databasetest.URL(tb)
	}
	logs := &LogBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.MetricsAddr = "off" // tests read the metrics from Server.MetricsHandler
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Open(ctx, cfg, log, app.Options{Telemetry: tel, Uninstrumented: tel == nil})
	if err != nil {
		cancel()
		tb.Fatalf("opening the instance: %v", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		cancel()
		a.Close()
		tb.Fatalf("listening: %v", err)
	}
	env := &Env{URL: "http://" + ln.Addr().String(), DB: a.DB, Server: a.Server, Config: cfg, Logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { env.done <- a.Run(ctx, ln) }()
	tb.Cleanup(func() {
		env.Stop()
		a.Close()
		if tb.Failed() {
			tb.Logf("server log:\n%s", logs.String())
		}
	})
	return env
}

// Stop begins a graceful shutdown and returns Serve's result once it ends.
// It may be called more than once.
func (e *Env) Stop() error {
	e.cancel()
	e.stopOnce.Do(func() { e.stopErr = <-e.done })
	return e.stopErr
}

// StopAsync begins a graceful shutdown and returns a channel that receives
// Serve's result.
func (e *Env) StopAsync() <-chan error {
	e.cancel()
	out := make(chan error, 1)
	go func() { out <- e.Stop() }()
	return out
}

// Response is a decoded GraphQL response.
type Response struct {
	Status int
	Header http.Header
	Data   json.RawMessage `json:"data"`
	Errors []Error         `json:"errors"`
	// Extensions holds extensions.dbStatements (development) and others.
	Extensions map[string]any `json:"extensions"`
	RawBody    []byte
}

// Error is one GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code is the error's extensions.code.
func (e Error) Code() string { s, _ := e.Extensions["code"].(string); return s }

// Codes lists the codes of all errors.
func (r *Response) Codes() []string {
	out := make([]string, len(r.Errors))
	for i, e := range r.Errors {
		out[i] = e.Code()
	}
	return out
}

// Decode unmarshals data into v.
func (r *Response) Decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Data, v); err != nil {
		tb.Fatalf("decoding data %s: %v", r.Data, err)
	}
}

// Client sends GraphQL requests to an instance, optionally signed in.
type Client struct {
	Env   *Env
	Token string
}

// Client returns an anonymous client.
func (e *Env) Client() *Client { return &Client{Env: e} }

// As returns a client sending token.
func (e *Env) As(token string) *Client { return &Client{Env: e, Token: token} }

// Do posts a query with variables and decodes the response.
func (c *Client) Do(tb testing.TB, query string, vars map[string]any) *Response {
	tb.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		tb.Fatalf("encoding request: %v", err)
	}
	return c.Post(tb, "application/json", body)
}

// Post sends a raw body to /graphql.
func (c *Client) Post(tb testing.TB, contentType string, body []byte) *Response {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, c.Env.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("building request: %v", err)
	}
	req.Header.Set("Content-Type", contentType)
	return c.Send(tb, req)
}

// Send sends req (adding the token) and decodes a GraphQL response body
// (a JSON array, the answer to a batch, is left in RawBody).
func (c *Client) Send(tb testing.TB, req *http.Request) *Response {
	tb.Helper()
	if c.Token != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := &http.Client{Timeout: 60 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatalf("sending request: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("reading response: %v", err)
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, RawBody: raw}
	// A batch's array stays in RawBody for the test to decode.
	if len(raw) > 0 && raw[0] != '[' {
		if err := json.Unmarshal(raw, out); err != nil {
			tb.Fatalf("response is not JSON (status %d): %s", resp.StatusCode, raw)
		}
	}
	return out
}

// MustOK fails the test unless the response succeeded: status 200, no
// errors, and no userErrors in any mutation payload. A test that expects
// userErrors reads them itself.
func (r *Response) MustOK(tb testing.TB) *Response {
	tb.Helper()
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		tb.Fatalf("want success, got status %d: %s", r.Status, r.RawBody)
	}
	if len(r.Data) > 0 {
		var data any
		if err := json.Unmarshal(r.Data, &data); err != nil {
			tb.Fatalf("decoding data %s: %v", r.Data, err)
		}
		if userErrors(data) {
			tb.Fatalf("want success, got userErrors: %s", r.RawBody)
		}
	}
	return r
}

// MustNoErrors fails the test unless the response is a 200 without
// top-level errors; userErrors may be there, for the test to read.
func (r *Response) MustNoErrors(tb testing.TB) *Response {
	tb.Helper()
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		tb.Fatalf("want no errors, got status %d: %s", r.Status, r.RawBody)
	}
	return r
}

// userErrors reports whether a decoded response holds a non-empty
// userErrors list anywhere.
func userErrors(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for k, f := range v {
			if list, ok := f.([]any); ok && k == "userErrors" && len(list) > 0 {
				return true
			}
			if userErrors(f) {
				return true
			}
		}
	case []any:
		for _, f := range v {
			if userErrors(f) {
				return true
			}
		}
	}
	return false
}

// SignUp creates an account and returns its access token.
func (e *Env) SignUp(tb testing.TB, email, name string) string {
	tb.Helper()
	var out struct {
		SignUp struct {
			Tokens struct{ AccessToken string }
		}
	}
	e.Client().Do(tb, `mutation($e:String!,$n:String!){ signUp(input:{email:$e,password:"correct horse battery",name:$n}){ tokens{accessToken} userErrors{message} } }`,
		map[string]any{"e": email, "n": name}).MustOK(tb).Decode(tb, &out)
	if out.SignUp.Tokens.AccessToken == "" {
		tb.Fatalf("sign-up of %s returned no token", email)
	}
	return out.SignUp.Tokens.AccessToken
}

// LogBuffer collects the instance's log lines.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Lines returns the log lines decoded as JSON objects.
func (l *LogBuffer) Lines() []map[string]any {
	var out []map[string]any
	for _, line := range bytes.Split([]byte(l.String()), []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal(line, &m); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// String formats a GraphQL error for test messages.
func (e Error) String() string { return fmt.Sprintf("%s (%s)", e.Message, e.Code()) }
