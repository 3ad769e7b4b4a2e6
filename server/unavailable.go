package server

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/lib/pq"
	"github.com/redis/go-redis/v9"
)

// dependencyDown names what failed when err means PostgreSQL or Redis
// could not be reached or is going away, rather than a fault of the
// request or of this program: the client should retry, and is told so
// with UNAVAILABLE and Retry-After instead of an internal error.
func dependencyDown(err error) (kind string, ok bool) {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch {
		case pqErr.Code.Class() == "08", // connection exception
			pqErr.Code == "57P01", // admin_shutdown
			pqErr.Code == "57P02", // crash_shutdown
			pqErr.Code == "57P03", // cannot_connect_now (starting up)
			pqErr.Code == "53300": // too_many_connections
			return "database unavailable", true
		}
		return "", false
	}
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone):
		return "database unavailable", true
	case errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout):
		return "redis unavailable", true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "connection lost", true
	}
	return "", false
}

// logThrottle keeps a failure that hits every request from flooding the
// log: at most one line per kind per interval, carrying how many
// occurrences it stands for.
type logThrottle struct {
	interval time.Duration
	now      func() time.Time
	mu       sync.Mutex
	kinds    map[string]*throttled
}

type throttled struct {
	last time.Time
	held int // occurrences since the last line
}

func newLogThrottle(interval time.Duration) *logThrottle {
	return &logThrottle{interval: interval, now: time.Now, kinds: map[string]*throttled{}}
}

// allow counts one occurrence of kind and reports whether to log it now,
// with the number of occurrences the line stands for (this one and those
// held back since the last line).
func (t *logThrottle) allow(kind string) (ok bool, occurrences int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.kinds[kind]
	if k == nil {
		k = &throttled{}
		t.kinds[kind] = k
	}
	k.held++
	now := t.now()
	if !k.last.IsZero() && now.Sub(k.last) < t.interval {
		return false, 0
	}
	k.last = now
	n := k.held
	k.held = 0
	return true, n
}

// RedisLogger carries go-redis's own log lines (reconnects, pool and
// push-notification problems) into the JSON log as warnings, throttled
// like the request failures they accompany. Install it with
// redis.SetLogger: go-redis keeps one logger per process.
type RedisLogger struct {
	log      *slog.Logger
	throttle *logThrottle
}

// NewRedisLogger returns a go-redis logger writing to log.
func NewRedisLogger(log *slog.Logger) *RedisLogger {
	return &RedisLogger{log: log, throttle: newLogThrottle(time.Second)}
}

// Printf implements go-redis's logging interface.
func (l *RedisLogger) Printf(ctx context.Context, format string, v ...any) {
	if ok, n := l.throttle.allow(format); ok {
		l.log.WarnContext(ctx, "redis client", "message", fmt.Sprintf(format, v...), "occurrences", n)
	}
}
