package bucket

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// chargeScript refills, charges or refunds one bucket atomically. The bucket is a
// hash {tokens, ts} where ts is the Redis server time in microseconds: reading the
// server's clock, not the caller's, lets instances with skewed clocks agree. A
// full bucket is deleted, since it is the same as one never seen, and any other
// bucket expires when it would be full again, so idle viewers cost no memory.
//
// KEYS[1] bucket; ARGV: capacity, restore rate (points/s), amount, op
// ("charge" | "refund" | "peek"), max idle (ms), and optionally the time in
// microseconds to use instead of the server's (tests, through WithClock).
// Returns {allowed, tokens}, with tokens as a string because Redis truncates
// Lua numbers to integers.
var chargeScript = redis.NewScript(`
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local amount = tonumber(ARGV[3])
local op = ARGV[4]
local max_idle = tonumber(ARGV[5])

local now
if ARGV[6] then
  now = tonumber(ARGV[6])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local tokens = capacity
local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
if s[1] and s[2] then
  local elapsed = now - tonumber(s[2])
  if elapsed < 0 then elapsed = 0 end -- the server clock stepped back (failover)
  tokens = math.min(capacity, tonumber(s[1]) + elapsed * rate / 1000000)
end

local allowed = 0
local changed = false
if op == 'charge' then
  if amount <= tokens then
    allowed = 1
    tokens = tokens - amount
    changed = amount > 0
  end
elseif op == 'refund' then
  tokens = math.min(capacity, tokens + amount)
  changed = amount > 0
end

if changed then
  if tokens >= capacity then
    redis.call('DEL', KEYS[1])
  else
    redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.0f', now))
    local ttl = max_idle
    if rate > 0 then
      ttl = math.min(ttl, math.ceil((capacity - tokens) / rate * 1000))
    end
    redis.call('PEXPIRE', KEYS[1], math.max(ttl, 1))
  end
end

return {allowed, string.format('%.17g', tokens)}
`)

// Redis is a Limiter that keeps buckets in Redis, so that every instance of the
// server draws on one budget per key.
//
// go-redis may retry a command after a network error; a retried charge can be
// counted twice, which errs towards refusing. A client with MaxRetries -1 avoids it.
type Redis struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
	// now replaces the server's clock when a test set one (WithClock).
	now func() time.Time
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a Limiter storing each bucket under prefix+key in Redis. Every
// call returns within WithTimeout (default 100ms); a failure wraps ErrUnavailable.
func NewRedis(client redis.UniversalClient, prefix string, opts ...Option) *Redis {
	c := newConfig(opts)
	return &Redis{client: client, prefix: prefix, timeout: c.timeout, now: c.clock}
}

// Charge takes cost points from the bucket of key if they are all available.
func (r *Redis) Charge(ctx context.Context, key string, cost int, policy Policy) (Result, error) {
	if err := validate(policy, cost); err != nil {
		return Result{}, err
	}
	allowed, tokens, err := r.run(ctx, "charge", key, cost, policy)
	if err != nil {
		return Result{}, err
	}
	return newResult(policy, cost, tokens, allowed), nil
}

// Refund gives points back to the bucket of key, up to its capacity.
func (r *Redis) Refund(ctx context.Context, key string, points int, policy Policy) error {
	if err := validate(policy, points); err != nil {
		return err
	}
	_, _, err := r.run(ctx, "refund", key, points, policy)
	return err
}

// Peek reports the bucket of key without changing it.
func (r *Redis) Peek(ctx context.Context, key string, policy Policy) (Result, error) {
	if err := validate(policy, 0); err != nil {
		return Result{}, err
	}
	_, tokens, err := r.run(ctx, "peek", key, 0, policy)
	if err != nil {
		return Result{}, err
	}
	return newResult(policy, 0, tokens, true), nil
}

type reply struct {
	value any
	err   error
}

// run executes chargeScript and returns once the timeout passes even if Redis has
// not answered: go-redis applies a context deadline to socket reads only when the
// client sets ContextTimeoutEnabled, and a request must never wait on a stalled
// Redis whatever the client's options. The abandoned call ends at the client's
// own read timeout; its result is dropped.
func (r *Redis) run(ctx context.Context, op, key string, amount int, p Policy) (allowed bool, tokens float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()

	done := make(chan reply, 1)
	go func() {
		args := []any{p.Capacity, p.RestoreRate, amount, op, maxIdle.Milliseconds()}
		if r.now != nil {
			args = append(args, r.now().UnixMicro())
		}
		v, err := chargeScript.Run(ctx, r.client, []string{r.prefix + key}, args...).Result()
		done <- reply{value: v, err: err}
	}()

	var rep reply
	select {
	case rep = <-done:
	case <-ctx.Done():
		return false, 0, fmt.Errorf("%w: %s %q: %w", ErrUnavailable, op, key, ctx.Err())
	}
	if rep.err != nil {
		return false, 0, fmt.Errorf("%w: %s %q: %w", ErrUnavailable, op, key, rep.err)
	}
	allowed, tokens, err = parseReply(rep.value)
	if err != nil {
		return false, 0, fmt.Errorf("bucket: %s %q: %w", op, key, err)
	}
	return allowed, tokens, nil
}

// parseReply decodes the {allowed, tokens} array returned by chargeScript.
func parseReply(v any) (allowed bool, tokens float64, err error) {
	values, ok := v.([]any)
	if !ok || len(values) != 2 {
		return false, 0, fmt.Errorf("unexpected script reply %v", v)
	}
	flag, ok := values[0].(int64)
	if !ok {
		return false, 0, fmt.Errorf("unexpected allowed flag %v", values[0])
	}
	text, ok := values[1].(string)
	if !ok {
		return false, 0, fmt.Errorf("unexpected tokens %v", values[1])
	}
	tokens, err = strconv.ParseFloat(text, 64)
	if err != nil {
		return false, 0, fmt.Errorf("parse tokens: %w", err)
	}
	return flag == 1, tokens, nil
}
