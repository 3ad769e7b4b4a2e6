package loaders

import (
	"context"
	"errors"
	"strings"

	"github.com/graph-gophers/dataloader/v7"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// batchTracer gives each batch one span, "dataloader.batch <name>", with
// its size, and records the size. Single loads get no span: a batch is the
// unit that does I/O, and thousands of per-key spans would drown a trace.
type batchTracer[V any] struct {
	name   string
	tracer trace.Tracer
	size   metric.Int64Histogram
}

var _ dataloader.Tracer[int64, int] = batchTracer[int]{}

func (t batchTracer[V]) TraceLoad(ctx context.Context, _ int64) (context.Context, dataloader.TraceLoadFinishFunc[V]) {
	return ctx, func(dataloader.Thunk[V]) {}
}

func (t batchTracer[V]) TraceLoadMany(ctx context.Context, _ []int64) (context.Context, dataloader.TraceLoadManyFinishFunc[V]) {
	return ctx, func(dataloader.ThunkMany[V]) {}
}

func (t batchTracer[V]) TraceBatch(ctx context.Context, keys []int64) (context.Context, dataloader.TraceBatchFinishFunc[V]) {
	attrs := []attribute.KeyValue{attribute.String("dataloader.name", t.name)}
	t.size.Record(ctx, int64(len(keys)), metric.WithAttributes(attrs...))
	ctx, span := t.tracer.Start(ctx, "dataloader.batch "+t.name,
		trace.WithAttributes(append(attrs, attribute.Int("dataloader.batch_size", len(keys)))...))
	return ctx, func(results []*dataloader.Result[V]) {
		for _, r := range results {
			if r != nil && r.Error != nil && !isNotFound(r.Error) {
				span.RecordError(r.Error)
				break
			}
		}
		span.End()
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
