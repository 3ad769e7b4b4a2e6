package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Environments.
const (
	Development = "development"
	Production  = "production"
)

// DevJWTSecret is the development signing key. Production refuses it.
const DevJWTSecret = "issuegraph-development-secret-do-not-use-in-production"

// DevDatabaseURL is the development database; production has no default.
const DevDatabaseURL = "postgres://postgres@127.0.0.1:5432/issuegraph?sslmode=disable"

// Config is every setting of an Issuegraph instance.
type Config struct {
	Env  string // development | production
	Addr string // listen address of the API

	DatabaseURL    string
	DBMaxOpenConns int
	// DBStatementCache is how many statements each database connection
	// keeps prepared (0: none).
	DBStatementCache int
	StatementTimeout time.Duration
	RedisURL         string // empty: single instance, in-process equivalents
	// RedisPrefix starts every Redis key and pub/sub channel name, so
	// deployments (and test runs) can share one Redis.
	RedisPrefix string

	JWTSecret       string
	JWTIssuer       string
	JWTAudience     string
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration

	CORSOrigins     []string
	BodyLimit       int64
	RequestTimeout  time.Duration
	ShutdownTimeout time.Duration

	// Limits refuse costly or oversized operations before they run (see
	// the README's limits section).
	Limits Limits
	// RateLimit meters the cost of operations per viewer.
	RateLimit RateLimit
	// PersistedMode is off, allow or enforce (see PersistedOff...).
	PersistedMode string
	// APQTTL is how long an automatic persisted query stays registered.
	APQTTL time.Duration
	// PersistedGetMaxAge is the private max-age of a successful GET of a
	// persisted operation (0: not cacheable).
	PersistedGetMaxAge time.Duration
	// PersistedExemptAPIKeys are the database ids of API keys that run any
	// document in enforce mode, as in allow mode (operators' tools).
	PersistedExemptAPIKeys []int64
	// BatchMax is how many operations one POST may carry as a JSON array;
	// 0 refuses arrays.
	BatchMax int
	// IdempotencyRetention is how long the answer to a request sent with an
	// Idempotency-Key is kept for replay.
	IdempotencyRetention time.Duration

	// MetricsAddr serves /metrics on its own listener; "off" disables it.
	MetricsAddr string
	// Pprof also serves the Go profiler (/debug/pprof/) on the metrics
	// listener, for load tests and incidents; never on the API port.
	Pprof bool
	// SlowOperation logs operations that take longer at warn level.
	SlowOperation time.Duration
	// TraceStdout prints every span to stderr (development).
	TraceStdout bool
	// Real-time delivery (subscriptions).
	WSInitTimeout           time.Duration
	WSKeepAlive             time.Duration
	WSMaxSubscriptions      int
	SubscriptionBuffer      int
	SubscriptionSendTimeout time.Duration
	EventRetention          time.Duration
	RelayPollInterval       time.Duration

	// DemoData loads the demo organization into an empty database at start.
	DemoData bool
	// AutoMigrate applies pending migrations at start (development only by
	// default; production runs `issuegraph migrate` as a deploy step).
	AutoMigrate bool
	// Loaders batches the reads of field resolvers; false (benchmarks only)
	// fetches one parent per statement, to measure what batching saves.
	Loaders bool
	// ExecutionBudget bounds the requested cost of the operations one
	// instance executes at once (0: unbounded); OperationQueueTimeout is
	// how long the rest may wait for room.
	ExecutionBudget       int
	OperationQueueTimeout time.Duration
	// LoaderWait is how long a dataloader collects keys before one batch.
	LoaderWait time.Duration
	LogLevel   string

	// SignInFailuresPerAccount and SignInFailuresPerAddress are how many
	// failed logIn attempts an email, and a client address, may make in a
	// row; SignInLockout is how long an exhausted allowance takes to come
	// back in full (it refills evenly over that time).
	SignInFailuresPerAccount int
	SignInFailuresPerAddress int
	SignInLockout            time.Duration
	// TrustedProxyHops is how many reverse proxies in front of the server
	// append to X-Forwarded-For; 0 uses the connection's address.
	TrustedProxyHops int
}

// Persisted-operation modes.
const (
	// PersistedOff ignores persisted-query extensions: every request sends its text.
	PersistedOff = "off"
	// PersistedAllow runs any document, registered or not, and accepts APQ registrations.
	PersistedAllow = "allow"
	// PersistedEnforce runs only trusted documents imported ahead of time.
	PersistedEnforce = "enforce"
)

// Limits bounds one operation. Every check runs before any resolver.
type Limits struct {
	MaxCost          int // requested cost of one operation
	MaxDepth         int
	MaxAliases       int
	MaxRootFields    int
	MaxDirectives    int
	MaxTokens        int // lexical tokens of the document
	MaxDocumentBytes int // size of the document text
	MaxSelections    int // fields of one selection set, fragments expanded
	MaxRepeats       int // times one response name is selected in one selection set
}

// RateLimit sizes the cost buckets per kind of viewer.
type RateLimit struct {
	UserCapacity    int
	UserRestoreRate float64 // points per second
	AnonCapacity    int
	AnonRestoreRate float64
	// APIKeyCapacity and APIKeyRestoreRate size the bucket of each API key,
	// apart from the bucket of the user who created it.
	APIKeyCapacity    int
	APIKeyRestoreRate float64
	// OnRedisError is "open" (run unmetered, log a warning) or "closed"
	// (refuse with 503) while the bucket store is unreachable.
	OnRedisError string
}

// Setting documents one environment variable; the README table is built
// from the same list so the two cannot drift apart. Production is the rule
// production mode enforces on it: the table prints the rule's text and
// Config.check runs the rule's own check, so the two cannot drift either.
type Setting struct {
	Name, Default string
	Production    Rule
	Help          string
}

// Settings lists every environment variable Issuegraph reads.
var Settings = []Setting{
	{"ISSUEGRAPH_ENV", Development, Rule{}, "`development` serves GraphiQL and introspection and relaxes checks; `production` enforces every rule of the Production column, naming each one broken."},
	{"ISSUEGRAPH_ADDR", "127.0.0.1:8080", Rule{}, "Address the HTTP server listens on (in production e.g. `:8080`)."},
	{"ISSUEGRAPH_DATABASE_URL", DevDatabaseURL, required(func(c Config) string { return c.DatabaseURL }), "PostgreSQL connection URL."},
	{"ISSUEGRAPH_DB_MAX_OPEN_CONNS", "20", Rule{}, "Connection pool size per instance."},
	{"ISSUEGRAPH_DB_STATEMENT_CACHE", "64", Rule{}, "Statements each database connection keeps prepared, so PostgreSQL plans them once instead of on every run; 0 prepares none (for a pooler in transaction mode that cannot carry prepared statements)."},
	{"ISSUEGRAPH_STATEMENT_TIMEOUT", "5s", Rule{}, "PostgreSQL statement_timeout for every connection."},
	{"ISSUEGRAPH_REDIS_URL", "(empty)", Rule{}, "Redis URL (`redis://host:6379/0`). Empty: one instance with in-process equivalents; required when running more than one instance."},
	{"ISSUEGRAPH_REDIS_PREFIX", "issuegraph:", Rule{}, "Prefix of every Redis key and pub/sub channel, so several deployments can share one Redis."},
	{"ISSUEGRAPH_WS_INIT_TIMEOUT", "10s", Rule{}, "How long a WebSocket may wait before `connection_init` (then closed with 4408)."},
	{"ISSUEGRAPH_WS_KEEPALIVE", "25s", Rule{}, "WebSocket keep-alive: `ping` (graphql-transport-ws, a missing `pong` for twice this long ends the connection) or `ka` (graphql-ws) this often; SSE comments too."},
	{"ISSUEGRAPH_WS_MAX_SUBSCRIPTIONS", "20", Rule{}, "Active subscriptions allowed per WebSocket connection; more are refused with an `error` message."},
	{"ISSUEGRAPH_SUBSCRIPTION_BUFFER", "64", Rule{}, "Events buffered per subscriber between the broker and the subscription; a burst beyond it is caught up from the event log."},
	{"ISSUEGRAPH_SUBSCRIPTION_SEND_TIMEOUT", "10s", Rule{}, "A subscriber that does not take an event within this time is ended with UNAVAILABLE and its last cursor, so it can resume."},
	{"ISSUEGRAPH_EVENT_RETENTION", "720h", Rule{}, "How long published events stay in the log; an older `after` cursor is refused with BAD_USER_INPUT. `0` keeps them forever."},
	{"ISSUEGRAPH_RELAY_POLL_INTERVAL", "1s", Rule{}, "How often the event relay looks for events when no LISTEN/NOTIFY wake-up arrives, and how often a standby relay tries to take over."},
	{"ISSUEGRAPH_JWT_SECRET", "(development key)", signingKey(func(c Config) string { return c.JWTSecret }), "HMAC key that signs access tokens."},
	{"ISSUEGRAPH_JWT_ISSUER", "issuegraph", Rule{}, "`iss` of issued access tokens, checked on the way in."},
	{"ISSUEGRAPH_JWT_AUDIENCE", "issuegraph-api", Rule{}, "`aud` of issued access tokens, checked on the way in."},
	{"ISSUEGRAPH_ACCESS_TOKEN_TTL", "15m", atMost(time.Hour, "1h", func(c Config) time.Duration { return c.AccessTokenTTL }), "Lifetime of an access token."},
	{"ISSUEGRAPH_REFRESH_TOKEN_TTL", "720h", Rule{}, "Lifetime of a refresh token."},
	{"ISSUEGRAPH_CORS_ORIGINS", "http://localhost:3000,http://127.0.0.1:3000", noWildcard(func(c Config) []string { return c.CORSOrigins }), "Comma-separated origins allowed to call the API from a browser."},
	{"ISSUEGRAPH_BODY_LIMIT", "1048576", Rule{}, "Largest request body in bytes (413 above it)."},
	{"ISSUEGRAPH_REQUEST_TIMEOUT", "10s", Rule{}, "Deadline of one HTTP request (subscriptions excepted)."},
	{"ISSUEGRAPH_SHUTDOWN_TIMEOUT", "20s", Rule{}, "How long SIGTERM waits for in-flight requests."},
	{"ISSUEGRAPH_METRICS_ADDR", "127.0.0.1:9464", privateAddress(func(c Config) string { return c.MetricsAddr }), "Where `/metrics` (Prometheus format) is served, apart from the API; `off` turns it off."},
	{"ISSUEGRAPH_PPROF", "false", is(false, func(c Config) bool { return c.Pprof }), "Also serve the Go profiler (`/debug/pprof/`) on the metrics listener (load tests, incidents); never on the API port."},
	{"ISSUEGRAPH_SLOW_OPERATION", "500ms", Rule{}, "Operations slower than this are logged again at warn level as `slow operation`."},
	{"ISSUEGRAPH_TRACE_STDOUT", "false", is(false, func(c Config) bool { return c.TraceStdout }), "Print every span to stderr (development). Export to a collector with the standard `OTEL_*` variables instead."},
	{"ISSUEGRAPH_MAX_COST", "10000", Rule{}, "Largest requested cost of one operation (COST_LIMIT_EXCEEDED above it)."},
	{"ISSUEGRAPH_MAX_DEPTH", "10", Rule{}, "Deepest nesting of data in one operation, through fragments (Relay `edges`/`node` wrappers add no level)."},
	{"ISSUEGRAPH_MAX_ALIASES", "30", Rule{}, "Most aliases written in one document (`__typename` excepted)."},
	{"ISSUEGRAPH_MAX_ROOT_FIELDS", "20", Rule{}, "Most fields selected at the root of one operation."},
	{"ISSUEGRAPH_MAX_DIRECTIVES", "50", Rule{}, "Most directives written in one document."},
	{"ISSUEGRAPH_MAX_TOKENS", "5000", Rule{}, "Most lexical tokens in one document (checked while parsing)."},
	{"ISSUEGRAPH_MAX_DOCUMENT_BYTES", "51200", Rule{}, "Largest document text in bytes, checked before parsing."},
	{"ISSUEGRAPH_MAX_SELECTIONS", "200", Rule{}, "Most fields one selection set may hold with its fragments expanded (checked before validation, which compares them in pairs)."},
	{"ISSUEGRAPH_MAX_FIELD_REPEATS", "50", Rule{}, "Most times one response name may be selected in one selection set (checked before validation)."},
	{"ISSUEGRAPH_RATE_LIMIT_USER", "20000", Rule{}, "Cost bucket of a signed-in user: capacity in points (at least ISSUEGRAPH_MAX_COST)."},
	{"ISSUEGRAPH_RATE_LIMIT_USER_RATE", "1000", Rule{}, "Points per second a signed-in user's bucket gets back."},
	{"ISSUEGRAPH_RATE_LIMIT_ANONYMOUS", "10000", Rule{}, "Cost bucket of an anonymous client address: capacity in points (at least ISSUEGRAPH_MAX_COST)."},
	{"ISSUEGRAPH_RATE_LIMIT_ANONYMOUS_RATE", "200", Rule{}, "Points per second an anonymous client's bucket gets back."},
	{"ISSUEGRAPH_RATE_LIMIT_API_KEY", "20000", Rule{}, "Cost bucket of each API key, apart from its creator's: capacity in points (at least ISSUEGRAPH_MAX_COST)."},
	{"ISSUEGRAPH_RATE_LIMIT_API_KEY_RATE", "1000", Rule{}, "Points per second an API key's bucket gets back."},
	{"ISSUEGRAPH_RATE_LIMIT_ON_REDIS_ERROR", "open", Rule{}, "`open` runs requests unmetered (logged as a warning) while Redis is unreachable; `closed` refuses them with 503 UNAVAILABLE."},
	{"ISSUEGRAPH_PERSISTED_MODE", "allow", Rule{}, "`off` ignores persisted queries; `allow` runs any document and accepts APQ registrations; `enforce` runs only trusted documents."},
	{"ISSUEGRAPH_PERSISTED_EXEMPT_API_KEYS", "(empty)", Rule{}, "Comma-separated IDs of API keys (their `id` in the API) that run any document in `enforce` mode, as in `allow` mode."},
	{"ISSUEGRAPH_BATCH_MAX", "0", Rule{}, "Most operations one POST may carry as a JSON array, answered with an array in the same order; 0 refuses batches."},
	{"ISSUEGRAPH_IDEMPOTENCY_RETENTION", "24h", Rule{}, "How long the answer to a POST sent with an `Idempotency-Key` header is kept: a retry within it gets the stored answer (`Idempotent-Replayed: true`) instead of running again."},
	{"ISSUEGRAPH_APQ_TTL", "24h", Rule{}, "How long an automatic persisted query stays registered after its last registration."},
	{"ISSUEGRAPH_PERSISTED_GET_MAX_AGE", "30s", Rule{}, "A successful GET of a persisted operation is `Cache-Control: private, max-age=` this (`Vary: Authorization`); 0 disables it."},
	{"ISSUEGRAPH_DEMO_DATA", "true", is(false, func(c Config) bool { return c.DemoData }), "Load the demo organization into an empty database at start."},
	{"ISSUEGRAPH_AUTO_MIGRATE", "true", is(false, func(c Config) bool { return c.AutoMigrate }), "Apply pending migrations at start; production runs `issuegraph migrate` instead."},
	{"ISSUEGRAPH_EXECUTION_BUDGET", "6000 per CPU", Rule{}, "Requested cost (points) of the operations one instance executes at once (subscriptions excepted); more wait in arrival order. 0: no bound."},
	{"ISSUEGRAPH_OPERATION_QUEUE_TIMEOUT", "5s", Rule{}, "Longest wait for an execution slot before 503 UNAVAILABLE with `Retry-After`."},
	{"ISSUEGRAPH_LOADERS", "true", is(true, func(c Config) bool { return c.Loaders }), "Batch field reads with per-request dataloaders; `false` is for benchmarks only (one statement per parent)."},
	{"ISSUEGRAPH_LOADER_WAIT", "2ms", Rule{}, "How long a dataloader collects keys before it runs one batched statement; keys arriving later cost one more statement. Objects loaded together join one batch without waiting (peers), so the wait only has to cover keys of different parents at one level."},
	{"ISSUEGRAPH_LOG_LEVEL", "info", Rule{}, "debug, info, warn or error."},
	{"ISSUEGRAPH_SIGNIN_FAILURES_PER_ACCOUNT", "5", Rule{}, "Failed `logIn` attempts one email may make before `RATE_LIMITED`."},
	{"ISSUEGRAPH_SIGNIN_FAILURES_PER_ADDRESS", "50", Rule{}, "Failed `logIn` attempts one client address may make before `RATE_LIMITED`."},
	{"ISSUEGRAPH_SIGNIN_LOCKOUT", "15m", Rule{}, "Time for an exhausted sign-in allowance to refill completely (it refills evenly)."},
	{"ISSUEGRAPH_TRUSTED_PROXY_HOPS", "0", Rule{}, "Reverse proxies that append to `X-Forwarded-For` (in production, the number of proxies in front); the client address is the entry that many from the right. 0: the connection's address."},
}

// Load reads the configuration through getenv and validates it.
func Load(getenv func(string) string) (Config, error) {
	r := reader{getenv: getenv}
	env := r.str("ISSUEGRAPH_ENV", Development)
	prod := env == Production
	c := Config{
		Env:  env,
		Addr: r.str("ISSUEGRAPH_ADDR", "127.0.0.1:8080"),
		// Production has no default database or signing key: each must be
		// set explicitly, so a deployment cannot fall back to a developer's.
		DatabaseURL:      r.str("ISSUEGRAPH_DATABASE_URL", devOnly(prod, DevDatabaseURL)),
		DBMaxOpenConns:   r.integer("ISSUEGRAPH_DB_MAX_OPEN_CONNS", 20),
		DBStatementCache: r.integer("ISSUEGRAPH_DB_STATEMENT_CACHE", 64),
		StatementTimeout: r.duration("ISSUEGRAPH_STATEMENT_TIMEOUT", 5*time.Second),
		RedisURL:         r.str("ISSUEGRAPH_REDIS_URL", ""),
		JWTSecret:        r.str("ISSUEGRAPH_JWT_SECRET", devOnly(prod, DevJWTSecret)),
		JWTIssuer:        r.str("ISSUEGRAPH_JWT_ISSUER", "issuegraph"),
		JWTAudience:      r.str("ISSUEGRAPH_JWT_AUDIENCE", "issuegraph-api"),
		AccessTokenTTL:   r.duration("ISSUEGRAPH_ACCESS_TOKEN_TTL", 15*time.Minute),
		RefreshTokenTTL:  r.duration("ISSUEGRAPH_REFRESH_TOKEN_TTL", 30*24*time.Hour),
		CORSOrigins:      r.list("ISSUEGRAPH_CORS_ORIGINS", "http://localhost:3000,http://127.0.0.1:3000"),
		BodyLimit:        int64(r.integer("ISSUEGRAPH_BODY_LIMIT", 1<<20)),
		RequestTimeout:   r.duration("ISSUEGRAPH_REQUEST_TIMEOUT", 10*time.Second),
		ShutdownTimeout:  r.duration("ISSUEGRAPH_SHUTDOWN_TIMEOUT", 20*time.Second),
		MetricsAddr:      r.str("ISSUEGRAPH_METRICS_ADDR", "127.0.0.1:9464"),
		Pprof:            r.boolean("ISSUEGRAPH_PPROF", false),
		SlowOperation:    r.duration("ISSUEGRAPH_SLOW_OPERATION", 500*time.Millisecond),
		TraceStdout:      r.boolean("ISSUEGRAPH_TRACE_STDOUT", false),
		Limits: Limits{
			MaxCost:          r.integer("ISSUEGRAPH_MAX_COST", 10_000),
			MaxDepth:         r.integer("ISSUEGRAPH_MAX_DEPTH", 10),
			MaxAliases:       r.integer("ISSUEGRAPH_MAX_ALIASES", 30),
			MaxRootFields:    r.integer("ISSUEGRAPH_MAX_ROOT_FIELDS", 20),
			MaxDirectives:    r.integer("ISSUEGRAPH_MAX_DIRECTIVES", 50),
			MaxTokens:        r.integer("ISSUEGRAPH_MAX_TOKENS", 5000),
			MaxDocumentBytes: r.integer("ISSUEGRAPH_MAX_DOCUMENT_BYTES", 50<<10),
			MaxSelections:    r.integer("ISSUEGRAPH_MAX_SELECTIONS", 200),
			MaxRepeats:       r.integer("ISSUEGRAPH_MAX_FIELD_REPEATS", 50),
		},
		RateLimit: RateLimit{
			UserCapacity:      r.integer("ISSUEGRAPH_RATE_LIMIT_USER", 20_000),
			UserRestoreRate:   r.number("ISSUEGRAPH_RATE_LIMIT_USER_RATE", 1000),
			AnonCapacity:      r.integer("ISSUEGRAPH_RATE_LIMIT_ANONYMOUS", 10_000),
			AnonRestoreRate:   r.number("ISSUEGRAPH_RATE_LIMIT_ANONYMOUS_RATE", 200),
			APIKeyCapacity:    r.integer("ISSUEGRAPH_RATE_LIMIT_API_KEY", 20_000),
			APIKeyRestoreRate: r.number("ISSUEGRAPH_RATE_LIMIT_API_KEY_RATE", 1000),
			OnRedisError:      r.str("ISSUEGRAPH_RATE_LIMIT_ON_REDIS_ERROR", "open"),
		},
		RedisPrefix:            r.str("ISSUEGRAPH_REDIS_PREFIX", "issuegraph:"),
		PersistedMode:          r.str("ISSUEGRAPH_PERSISTED_MODE", PersistedAllow),
		APQTTL:                 r.duration("ISSUEGRAPH_APQ_TTL", 24*time.Hour),
		PersistedGetMaxAge:     r.duration("ISSUEGRAPH_PERSISTED_GET_MAX_AGE", 30*time.Second),
		PersistedExemptAPIKeys: r.apiKeyIDs("ISSUEGRAPH_PERSISTED_EXEMPT_API_KEYS"),
		BatchMax:               r.integer("ISSUEGRAPH_BATCH_MAX", 0),
		IdempotencyRetention:   r.duration("ISSUEGRAPH_IDEMPOTENCY_RETENTION", 24*time.Hour),
		DemoData:               r.boolean("ISSUEGRAPH_DEMO_DATA", !prod),
		AutoMigrate:            r.boolean("ISSUEGRAPH_AUTO_MIGRATE", !prod),
		Loaders:                r.boolean("ISSUEGRAPH_LOADERS", true),
		ExecutionBudget:        r.integer("ISSUEGRAPH_EXECUTION_BUDGET", 6000*runtime.GOMAXPROCS(0)),
		OperationQueueTimeout:  r.duration("ISSUEGRAPH_OPERATION_QUEUE_TIMEOUT", 5*time.Second),
		LoaderWait:             r.duration("ISSUEGRAPH_LOADER_WAIT", 2*time.Millisecond),
		LogLevel:               r.str("ISSUEGRAPH_LOG_LEVEL", "info"),

		SignInFailuresPerAccount: r.integer("ISSUEGRAPH_SIGNIN_FAILURES_PER_ACCOUNT", 5),
		SignInFailuresPerAddress: r.integer("ISSUEGRAPH_SIGNIN_FAILURES_PER_ADDRESS", 50),
		SignInLockout:            r.duration("ISSUEGRAPH_SIGNIN_LOCKOUT", 15*time.Minute),
		TrustedProxyHops:         r.integer("ISSUEGRAPH_TRUSTED_PROXY_HOPS", 0),

		WSInitTimeout:           r.duration("ISSUEGRAPH_WS_INIT_TIMEOUT", 10*time.Second),
		WSKeepAlive:             r.duration("ISSUEGRAPH_WS_KEEPALIVE", 25*time.Second),
		WSMaxSubscriptions:      r.integer("ISSUEGRAPH_WS_MAX_SUBSCRIPTIONS", 20),
		SubscriptionBuffer:      r.integer("ISSUEGRAPH_SUBSCRIPTION_BUFFER", 64),
		SubscriptionSendTimeout: r.duration("ISSUEGRAPH_SUBSCRIPTION_SEND_TIMEOUT", 10*time.Second),
		EventRetention:          r.duration("ISSUEGRAPH_EVENT_RETENTION", 720*time.Hour),
		RelayPollInterval:       r.duration("ISSUEGRAPH_RELAY_POLL_INTERVAL", time.Second),
	}
	problems := r.problems
	problems = append(problems, c.check()...)
	if len(problems) > 0 {
		return c, &Error{Problems: problems}
	}
	return c, nil
}

// Production reports whether the production rules apply.
func (c Config) Production() bool { return c.Env == Production }

// check lists every value that is invalid, or unsafe in production.
func (c Config) check() []string {
	var p []string
	if c.ExecutionBudget < 0 || c.OperationQueueTimeout <= 0 {
		p = append(p, "ISSUEGRAPH_EXECUTION_BUDGET must be 0 or more and ISSUEGRAPH_OPERATION_QUEUE_TIMEOUT positive")
	}
	if c.Env != Development && c.Env != Production {
		p = append(p, fmt.Sprintf("ISSUEGRAPH_ENV must be %q or %q, not %q", Development, Production, c.Env))
	}
	if c.DBMaxOpenConns < 1 {
		p = append(p, "ISSUEGRAPH_DB_MAX_OPEN_CONNS must be at least 1")
	}
	if c.DBStatementCache < 0 {
		p = append(p, "ISSUEGRAPH_DB_STATEMENT_CACHE must be 0 or more")
	}
	if c.BodyLimit < 1024 {
		p = append(p, "ISSUEGRAPH_BODY_LIMIT must be at least 1024 bytes")
	}
	if c.AccessTokenTTL <= 0 || c.RefreshTokenTTL <= 0 {
		p = append(p, "token lifetimes must be positive")
	}
	p = append(p, c.checkLimits()...)
	if c.SignInFailuresPerAccount < 1 || c.SignInFailuresPerAddress < 1 {
		p = append(p, "ISSUEGRAPH_SIGNIN_FAILURES_PER_ACCOUNT and ISSUEGRAPH_SIGNIN_FAILURES_PER_ADDRESS must be at least 1")
	}
	if c.SignInLockout < time.Second {
		p = append(p, "ISSUEGRAPH_SIGNIN_LOCKOUT must be at least 1s")
	}
	if c.TrustedProxyHops < 0 {
		p = append(p, "ISSUEGRAPH_TRUSTED_PROXY_HOPS must not be negative")
	}
	if c.WSInitTimeout <= 0 || c.WSKeepAlive <= 0 || c.SubscriptionSendTimeout <= 0 || c.RelayPollInterval <= 0 {
		p = append(p, "ISSUEGRAPH_WS_INIT_TIMEOUT, ISSUEGRAPH_WS_KEEPALIVE, ISSUEGRAPH_SUBSCRIPTION_SEND_TIMEOUT and ISSUEGRAPH_RELAY_POLL_INTERVAL must be positive")
	}
	if c.WSMaxSubscriptions < 1 || c.SubscriptionBuffer < 1 {
		p = append(p, "ISSUEGRAPH_WS_MAX_SUBSCRIPTIONS and ISSUEGRAPH_SUBSCRIPTION_BUFFER must be at least 1")
	}
	if c.IdempotencyRetention < time.Minute {
		p = append(p, "ISSUEGRAPH_IDEMPOTENCY_RETENTION must be at least 1m")
	}
	if c.EventRetention < 0 {
		p = append(p, "ISSUEGRAPH_EVENT_RETENTION must not be negative")
	}
	if c.LogLevel != "debug" && c.LogLevel != "info" && c.LogLevel != "warn" && c.LogLevel != "error" {
		p = append(p, "ISSUEGRAPH_LOG_LEVEL must be debug, info, warn or error")
	}
	if !c.Production() {
		return p
	}
	for _, s := range Settings {
		if s.Production.check == nil {
			continue
		}
		if problem := s.Production.check(c); problem != "" {
			p = append(p, s.Name+" "+problem)
		}
	}
	return p
}

// checkLimits lists invalid limit, rate-limit and persisted-query settings.
func (c Config) checkLimits() []string {
	var p []string
	l := c.Limits
	for name, v := range map[string]int{
		"ISSUEGRAPH_MAX_COST": l.MaxCost, "ISSUEGRAPH_MAX_DEPTH": l.MaxDepth, "ISSUEGRAPH_MAX_ALIASES": l.MaxAliases,
		"ISSUEGRAPH_MAX_ROOT_FIELDS": l.MaxRootFields, "ISSUEGRAPH_MAX_DIRECTIVES": l.MaxDirectives,
		"ISSUEGRAPH_MAX_TOKENS": l.MaxTokens, "ISSUEGRAPH_MAX_DOCUMENT_BYTES": l.MaxDocumentBytes,
		"ISSUEGRAPH_MAX_SELECTIONS": l.MaxSelections, "ISSUEGRAPH_MAX_FIELD_REPEATS": l.MaxRepeats,
	} {
		if v < 1 {
			p = append(p, name+" must be at least 1")
		}
	}
	// A bucket smaller than the largest allowed operation would refuse that
	// operation forever.
	if c.RateLimit.UserCapacity < l.MaxCost {
		p = append(p, "ISSUEGRAPH_RATE_LIMIT_USER must be at least ISSUEGRAPH_MAX_COST")
	}
	if c.RateLimit.AnonCapacity < l.MaxCost {
		p = append(p, "ISSUEGRAPH_RATE_LIMIT_ANONYMOUS must be at least ISSUEGRAPH_MAX_COST")
	}
	if c.RateLimit.APIKeyCapacity < l.MaxCost {
		p = append(p, "ISSUEGRAPH_RATE_LIMIT_API_KEY must be at least ISSUEGRAPH_MAX_COST")
	}
	if c.RateLimit.UserRestoreRate <= 0 || c.RateLimit.AnonRestoreRate <= 0 || c.RateLimit.APIKeyRestoreRate <= 0 {
		p = append(p, "rate-limit restore rates must be positive")
	}
	if c.RateLimit.OnRedisError != "open" && c.RateLimit.OnRedisError != "closed" {
		p = append(p, "ISSUEGRAPH_RATE_LIMIT_ON_REDIS_ERROR must be open or closed")
	}
	switch c.PersistedMode {
	case PersistedOff, PersistedAllow, PersistedEnforce:
	default:
		p = append(p, fmt.Sprintf("ISSUEGRAPH_PERSISTED_MODE must be off, allow or enforce, not %q", c.PersistedMode))
	}
	if c.PersistedGetMaxAge < 0 {
		p = append(p, "ISSUEGRAPH_PERSISTED_GET_MAX_AGE must not be negative")
	}
	if c.APQTTL <= 0 {
		p = append(p, "ISSUEGRAPH_APQ_TTL must be positive")
	}
	if c.BatchMax < 0 {
		p = append(p, "ISSUEGRAPH_BATCH_MAX must not be negative")
	}
	return p
}

// Error lists every problem found in the configuration.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// IsConfigError reports whether err is a configuration error.
func IsConfigError(err error) bool {
	var ce *Error
	return errors.As(err, &ce)
}

// reader parses values and collects every parse problem instead of
// stopping at the first.
type reader struct {
	getenv   func(string) string
	problems []string
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) integer(name string, def int) int {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		r.problems = append(r.problems, fmt.Sprintf("%s must be a whole number, not %q", name, v))
		return def
	}
	return n
}

func (r *reader) number(name string, def float64) float64 {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		r.problems = append(r.problems, fmt.Sprintf("%s must be a number, not %q", name, v))
		return def
	}
	return n
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		r.problems = append(r.problems, fmt.Sprintf("%s must be a duration such as 5s or 15m, not %q", name, v))
		return def
	}
	return d
}

func (r *reader) boolean(name string, def bool) bool {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		r.problems = append(r.problems, fmt.Sprintf("%s must be true or false, not %q", name, v))
		return def
	}
	return b
}

// apiKeyIDs reads a list of API key global IDs, as the API shows them
// (base64url of "APIKey:<id>", the format graph/globalid.go issues), and
// returns their database ids. Operators copy them from the API; a value
// that is not one is named, so a typo cannot silently exempt nothing.
func (r *reader) apiKeyIDs(name string) []int64 {
	var ids []int64
	for _, gid := range r.list(name, "") {
		raw, err := base64.RawURLEncoding.DecodeString(gid)
		num, ok := strings.CutPrefix(string(raw), "APIKey:")
		id, perr := strconv.ParseInt(num, 10, 64)
		if err != nil || !ok || perr != nil || id <= 0 {
			r.problems = append(r.problems, fmt.Sprintf("%s must list API key IDs as the API shows them, and %q is not one", name, gid))
			continue
		}
		ids = append(ids, id)
	}
	return ids
}

func (r *reader) list(name, def string) []string {
	var out []string
	for _, s := range strings.Split(r.str(name, def), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
