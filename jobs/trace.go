package jobs

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Span attributes a run's spans carry. Names, sizes and counts only: never a DSN, a query,
// a password or a token (the sink's spans keep to the same rule).
const (
	attrJob       = attribute.Key("cubesync.job")
	attrRunID     = attribute.Key("cubesync.run_id")
	attrTrigger   = attribute.Key("cubesync.trigger")
	attrAttempt   = attribute.Key("cubesync.attempt")
	attrTable     = attribute.Key("cubesync.table")
	attrPolicy    = attribute.Key("cubesync.policy")
	attrSource    = attribute.Key("cubesync.source")      // the [sources.NAME] name
	attrKind      = attribute.Key("cubesync.source_kind") // postgres or parquet
	attrFiles     = attribute.Key("cubesync.files")
	attrRows      = attribute.Key("cubesync.rows")
	attrBytes     = attribute.Key("cubesync.bytes")
	attrChunks    = attribute.Key("cubesync.chunks")
	attrDataset   = attribute.Key("cubesync.dataset_id")
	attrStatus    = attribute.Key("cubesync.status")
	attrDryRun    = attribute.Key("cubesync.dry_run")
	attrFull      = attribute.Key("cubesync.full_refresh")
	attrScheduled = attribute.Key("cubesync.scheduled")
)

// noopTracer is the tracer of a Runner without one: spans cost a context lookup, nothing is
// recorded or exported.
var noopTracer = noop.NewTracerProvider().Tracer("")

func (r *Runner) tracer() trace.Tracer {
	if r.Tracer == nil {
		return noopTracer
	}
	return r.Tracer
}

// endSpan ends span, marking it failed with err, its text scrubbed: spans leave the
// process for a tracing backend.
func (r *Runner) endSpan(span trace.Span, err error) {
	if err != nil {
		if msg := r.Scrubber.Scrub(err.Error()); msg != err.Error() {
			err = errors.New(msg)
		}
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// traceID is the id of the trace ctx's span belongs to when that trace is recorded and
// sampled (so it can be looked up in the tracing backend), else "".
func traceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsSampled() {
		return ""
	}
	return sc.TraceID().String()
}
