package config

import (
	"runtime"
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
	// OperationsAtOnce bounds how many operations one instance executes at
	// once (0: no bound), beside their cost (ExecutionBudget).
	OperationsAtOnce int
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
		OperationsAtOnce:       r.integer("ISSUEGRAPH_OPERATIONS_AT_ONCE", 2*runtime.GOMAXPROCS(0)),
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
