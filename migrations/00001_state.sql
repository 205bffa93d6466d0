-- The state store of cubesync: what a job remembers between runs. Every table is keyed by
-- job name; times are timestamptz (UTC instants).

-- +goose Up
CREATE SCHEMA IF NOT EXISTS cubesync;

-- runs is the history of job executions. A run is inserted as running and updated once
-- when it ends; its session_id is set the moment its upload session opens, so a later run
-- can cancel the session of a run that died.
CREATE TABLE cubesync.runs (
    id           bigserial PRIMARY KEY,
    job          text        NOT NULL,
    trigger      text        NOT NULL,
    scheduled_at timestamptz,           -- the cron slot; NULL for manual runs
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz,           -- NULL while running
    status       text        NOT NULL
        CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted', 'abandoned', 'skipped')),
    dataset_id   text        NOT NULL DEFAULT '',
    session_id   text        NOT NULL DEFAULT '',
    rows         bigint      NOT NULL DEFAULT 0,
    bytes        bigint      NOT NULL DEFAULT 0,
    chunks       bigint      NOT NULL DEFAULT 0,
    error        text        NOT NULL DEFAULT '',
    host         text        NOT NULL DEFAULT ''
);
CREATE INDEX runs_job_id ON cubesync.runs (job, id DESC);
CREATE INDEX runs_unfinished ON cubesync.runs (job, id) WHERE status = 'running';

-- watermarks is the incremental position of each table. value keeps the canonical text
-- form (RFC 3339 with microseconds for timestamps) so no precision is lost in a round trip.
CREATE TABLE cubesync.watermarks (
    job         text        NOT NULL,
    table_name  text        NOT NULL,
    column_name text        NOT NULL,
    kind        text        NOT NULL,
    value       text        NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (job, table_name)
);

-- datasets remembers the dataset each job created on its first run.
CREATE TABLE cubesync.datasets (
    job        text        PRIMARY KEY,
    dataset_id text        NOT NULL,
    updated_at timestamptz NOT NULL
);

-- loaded_files lists the Parquet files successful runs loaded. mod_time is the file's
-- modification time as RFC 3339 text with nanoseconds: file systems record nanoseconds and
-- timestamptz keeps only microseconds, which would make every file look rewritten.
CREATE TABLE cubesync.loaded_files (
    job        text        NOT NULL,
    table_name text        NOT NULL,
    path       text        NOT NULL,
    size       bigint      NOT NULL,
    mod_time   text        NOT NULL,
    loaded_at  timestamptz NOT NULL,
    PRIMARY KEY (job, table_name, path)
);

-- slots records every scheduled (job, time) some replica claimed: the primary key is what
-- makes a slot run once across replicas.
CREATE TABLE cubesync.slots (
    job          text        NOT NULL,
    scheduled_at timestamptz NOT NULL,
    claimed_by   text        NOT NULL,
    claimed_at   timestamptz NOT NULL,
    PRIMARY KEY (job, scheduled_at)
);

-- +goose Down
DROP TABLE cubesync.slots;
DROP TABLE cubesync.loaded_files;
DROP TABLE cubesync.datasets;
DROP TABLE cubesync.watermarks;
DROP TABLE cubesync.runs;
