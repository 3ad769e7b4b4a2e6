package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLogThrottle: one line per kind per interval, each standing for the
// occurrences since the previous line; kinds do not hold each other back.
func TestLogThrottle(t *testing.T) {
	now := time.Unix(1000, 0)
	th := newLogThrottle(time.Second)
	th.now = func() time.Time { return now }
	logged, total := 0, 0
	for i := range 1000 {
		now = now.Add(5 * time.Millisecond) // 1000 failures over 5 s
		if ok, n := th.allow("database unavailable"); ok {
			logged++
			total += n
		}
		if i == 0 {
			ok, n := th.allow("redis unavailable")
			assert.True(t, ok, "another kind has its own allowance")
			assert.Equal(t, 1, n)
		}
	}
	assert.LessOrEqual(t, logged, 6, "at most one line a second over 5 s")
	assert.GreaterOrEqual(t, logged, 5)
	assert.LessOrEqual(t, total, 1000)
	assert.Greater(t, total, 800, "the lines count what they stand for")
}

// TestDependencyDown tells an unreachable dependency from other errors.
func TestDependencyDown(t *testing.T) {
	for _, err := range []error{
		&net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connection refused")},
		fmt.Errorf("loading: %w", &pq.Error{Code: "57P01"}),
		&pq.Error{Code: "08006"},
	} {
		_, ok := dependencyDown(err)
		assert.True(t, ok, "%v", err)
	}
	for _, err := range []error{
		&pq.Error{Code: "23505"}, // unique violation: a bug or a race, not an outage
		fmt.Errorf("something else"),
		context.Canceled,
	} {
		_, ok := dependencyDown(err)
		assert.False(t, ok, "%v", err)
	}
}

// TestRedisLoggerWritesJSON: go-redis's lines arrive as JSON log records.
func TestRedisLoggerWritesJSON(t *testing.T) {
	var buf bytes.Buffer
	l := NewRedisLogger(slog.New(slog.NewJSONHandler(&buf, nil)))
	l.Printf(context.Background(), "redis: discarding bad PubSub connection: %s", "EOF")
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line), "%s", buf.String())
	assert.Equal(t, "WARN", line["level"])
	assert.Equal(t, "redis: discarding bad PubSub connection: EOF", line["message"])
}
