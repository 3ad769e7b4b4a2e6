package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// check lists every value that is invalid, or unsafe in production.
func (c Config) check() []string {
	var p []string
	if c.OperationsAtOnce < 0 {
		p = append(p, "ISSUEGRAPH_OPERATIONS_AT_ONCE must be 0 or more")
	}
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
