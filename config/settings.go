package config

import "time"

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
	{"ISSUEGRAPH_DATABASE_URL", DevDatabaseURL, required(func(c Config) string { return c.DatabaseURL }), "PostgreSQL connection URL. Each connection also plans with `random_page_cost=1.1` and, with the statement cache on, `plan_cache_mode=force_generic_plan`, unless the URL sets them (`...&random_page_cost=4`); see [performance](performance.md)."},
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
	{"ISSUEGRAPH_OPERATIONS_AT_ONCE", "2 per CPU", Rule{}, "Most operations one instance executes at once (subscriptions excepted), beside their cost; more wait in arrival order, so a saturated instance runs a few at a time instead of all of them slowly. Raise it when statements spend long waiting on a distant database. 0: no bound."},
	{"ISSUEGRAPH_OPERATION_QUEUE_TIMEOUT", "5s", Rule{}, "Longest wait for an execution slot before 503 UNAVAILABLE with `Retry-After`."},
	{"ISSUEGRAPH_LOADERS", "true", is(true, func(c Config) bool { return c.Loaders }), "Batch field reads with per-request dataloaders; `false` is for benchmarks only (one statement per parent)."},
	{"ISSUEGRAPH_LOADER_WAIT", "2ms", Rule{}, "How long a dataloader collects keys before it runs one batched statement; keys arriving later cost one more statement. Objects loaded together join one batch without waiting (peers), so the wait only has to cover keys of different parents at one level."},
	{"ISSUEGRAPH_LOG_LEVEL", "info", Rule{}, "debug, info, warn or error."},
	{"ISSUEGRAPH_SIGNIN_FAILURES_PER_ACCOUNT", "5", Rule{}, "Failed `logIn` attempts one email may make before `RATE_LIMITED`."},
	{"ISSUEGRAPH_SIGNIN_FAILURES_PER_ADDRESS", "50", Rule{}, "Failed `logIn` attempts one client address may make before `RATE_LIMITED`."},
	{"ISSUEGRAPH_SIGNIN_LOCKOUT", "15m", Rule{}, "Time for an exhausted sign-in allowance to refill completely (it refills evenly)."},
	{"ISSUEGRAPH_TRUSTED_PROXY_HOPS", "0", Rule{}, "Reverse proxies that append to `X-Forwarded-For` (in production, the number of proxies in front); the client address is the entry that many from the right. 0: the connection's address."},
}
