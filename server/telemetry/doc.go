// Package telemetry sets up OpenTelemetry for an Issuegraph instance:
// traces exported as the standard OTEL_* environment variables say (none
// configured: a no-op tracer, so tracing costs nothing), metrics always
// collected for the Prometheus /metrics endpoint, and W3C trace context
// propagation.
package telemetry
