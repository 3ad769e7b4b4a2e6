package limits

import (
	"context"

	"go.opentelemetry.io/otel/metric"
)

// metrics counts what rate limiting does: cost charged to buckets,
// requests refused for rate, and requests run unmetered while the bucket
// store was unreachable (the fail-open policy's warning metric). A nil
// *metrics counts nothing.
type metrics struct {
	costCharged metric.Int64Counter
	rateLimited metric.Int64Counter
	unmetered   metric.Int64Counter
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter("github.com/issuegraph/issuegraph/server")
	var a metrics
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
	return &a, nil
}

func (a *metrics) charged(ctx context.Context, points int) {
	if a != nil && points > 0 {
		a.costCharged.Add(ctx, int64(points))
	}
}

func (a *metrics) refused(ctx context.Context) {
	if a != nil {
		a.rateLimited.Add(ctx, 1)
	}
}

func (a *metrics) ranUnmetered(ctx context.Context) {
	if a != nil {
		a.unmetered.Add(ctx, 1)
	}
}
