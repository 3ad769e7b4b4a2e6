package realtime

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
)

// meterName is the instrumentation scope of the real-time metrics: the
// server's, as before they had a package of their own, so dashboards and
// alerts that select on otel_scope_name keep matching.
const meterName = "github.com/issuegraph/issuegraph/server"

// newConnectionCounter counts open WebSocket connections by subprotocol
// as they open and close (a no-op counter when it cannot be registered).
func newConnectionCounter(mp metric.MeterProvider, log *slog.Logger) metric.Int64UpDownCounter {
	conns, err := mp.Meter(meterName).Int64UpDownCounter("websocket.connections.active", metric.WithUnit("{connection}"),
		metric.WithDescription("Open WebSocket connections of this instance, by subprotocol."))
	if err != nil {
		log.Error("WebSocket connection metric disabled", "error", err)
		return metricnoop.Int64UpDownCounter{}
	}
	return conns
}

// observe reports, on every collection: the instance's active stream
// subscriptions, and the event relay's lag — events committed but not yet
// published, and the age of the oldest of them. The lag query reads the
// relay's queue index, so a scrape costs one indexed statement.
func (rt *Realtime) observe(mp metric.MeterProvider) error {
	m := mp.Meter(meterName)
	subs, err := m.Int64ObservableGauge("subscriptions.active", metric.WithUnit("{subscription}"),
		metric.WithDescription("Subscriptions this instance delivers events to live."))
	if err != nil {
		return err
	}
	lagRows, err := m.Int64ObservableGauge("event_relay.lag.events", metric.WithUnit("{event}"),
		metric.WithDescription("Committed events the relay has not published yet."))
	if err != nil {
		return err
	}
	lagAge, err := m.Float64ObservableGauge("event_relay.lag.seconds", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest committed event the relay has not published yet (0 when none)."))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		o.ObserveInt64(subs, int64(rt.Active()))
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var rows int64
		var age float64
		err := rt.db.SQL.QueryRowContext(qctx,
			`SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM events WHERE NOT published`).Scan(&rows, &age)
		if err != nil {
			rt.log.WarnContext(ctx, "measuring relay lag", "error", err)
			return nil // report what we have; the scrape itself must not fail
		}
		o.ObserveInt64(lagRows, rows)
		o.ObserveFloat64(lagAge, age)
		return nil
	}, subs, lagRows, lagAge)
	return err
}
