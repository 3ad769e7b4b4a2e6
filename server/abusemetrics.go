package server

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// abuseMetrics counts what abuse control does: cost charged to buckets,
// requests refused for rate, requests run unmetered while the bucket store
// was unreachable (the fail-open policy's warning metric), and persisted
// operation lookups by outcome.
type abuseMetrics struct {
	costCharged metric.Int64Counter
	rateLimited metric.Int64Counter
	unmetered   metric.Int64Counter
	persisted   metric.Int64Counter
}

func newAbuseMetrics(mp metric.MeterProvider) (*abuseMetrics, error) {
	m := mp.Meter("github.com/issuegraph/issuegraph/server")
	var a abuseMetrics
	var err error
	if a.costCharged, err = m.Int64Counter("graphql.cost.charged", metric.WithUnit("{point}"),
		metric.WithDescription("Cost points charged to rate-limit buckets, after refunds.")); err != nil {
		return nil, err
	}
	if a.rateLimited, err = m.Int64Counter("ratelimit.rejections", metric.WithUnit("{request}"),
		metric.WithDescription("Operations refused with RATE_LIMITED.")); err != nil {
		return nil, err
	}
	if a.unmetered, err = m.Int64Counter("ratelimit.unmetered", metric.WithUnit("{request}"),
		metric.WithDescription("Operations run without a charge because the bucket store was unreachable.")); err != nil {
		return nil, err
	}
	if a.persisted, err = m.Int64Counter("persisted.lookups", metric.WithUnit("{lookup}"),
		metric.WithDescription("Persisted-operation lookups by source (trusted, apq) and result (hit, miss, refused).")); err != nil {
		return nil, err
	}
	return &a, nil
}

// persistedLookup counts one lookup; a nil receiver counts nothing.
func (a *abuseMetrics) persistedLookup(ctx context.Context, source, result string) {
	if a != nil {
		a.persisted.Add(ctx, 1, metric.WithAttributes(attribute.String("source", source), attribute.String("result", result)))
	}
}

func (a *abuseMetrics) charged(ctx context.Context, points int) {
	if a != nil && points > 0 {
		a.costCharged.Add(ctx, int64(points))
	}
}

func (a *abuseMetrics) refused(ctx context.Context) {
	if a != nil {
		a.rateLimited.Add(ctx, 1)
	}
}

func (a *abuseMetrics) ranUnmetered(ctx context.Context) {
	if a != nil {
		a.unmetered.Add(ctx, 1)
	}
}
