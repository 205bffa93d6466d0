package sink

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Spans of the sink are children of the span in the caller's context, made by that span's
// tracer provider: a caller that traces (jobs.Runner with a tracer) gets them, any other
// gets the no-op span of an untraced context and pays next to nothing. Their attributes
// are ids, sizes and counts: never a token, a password or a URL with credentials.
const tracerName = "github.com/cubesync/cubesync/sink"

func startSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	tp := trace.SpanFromContext(ctx).TracerProvider()
	return tp.Tracer(tracerName).Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endSpan ends span, marking it failed with err.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
