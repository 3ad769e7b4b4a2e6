package loaders

import (
	"context"
	"errors"
	"strings"

	"github.com/graph-gophers/dataloader/v7"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// batchTracer gives each batch one span, "dataloader.batch <name>", with
// its size, and records the size. Single loads get no span: a batch is the
// unit that does I/O, and thousands of per-key spans would drown a trace.
//
// It wraps the batch function rather than using dataloader's Tracer hook:
// the hook's finish runs after the results reach the waiting resolvers, so
// a response could be written (and a trace read) before its batch span
// ended, and it sees the results slice as it was before the batch ran.
type batchTracer struct {
	name   string
	tracer trace.Tracer
	size   metric.Int64Histogram
}

func wrapTraced[V any](t batchTracer, fn dataloader.BatchFunc[int64, V]) dataloader.BatchFunc[int64, V] {
	return func(ctx context.Context, keys []int64) []*dataloader.Result[V] {
		attrs := []attribute.KeyValue{attribute.String("dataloader.name", t.name)}
		t.size.Record(ctx, int64(len(keys)), metric.WithAttributes(attrs...))
		ctx, span := t.tracer.Start(ctx, "dataloader.batch "+t.name,
			trace.WithAttributes(append(attrs, attribute.Int("dataloader.batch_size", len(keys)))...))
		defer span.End()
		results := fn(ctx, keys)
		for _, r := range results {
			if r != nil && r.Error != nil && !isNotFound(r.Error) {
				span.RecordError(r.Error)
				span.SetStatus(codes.Error, "batch failed")
				break
			}
		}
		return results
	}
}

// listName is the "kind Type.field" part of a list shape, without the
// arguments, so metric labels stay few.
func listName(shape string) string {
	parts := strings.SplitN(shape, " ", 3)
	if len(parts) < 2 {
		return shape
	}
	return parts[0] + " " + parts[1]
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
