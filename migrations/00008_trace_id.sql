-- Each run records the OpenTelemetry trace it was traced in (32 hex digits, '' when tracing
-- is off), so the history leads to the run's trace in Jaeger, Tempo or any OTLP backend.

-- +goose Up
ALTER TABLE cubesync.runs ADD COLUMN trace_id text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE cubesync.runs DROP COLUMN trace_id;
