-- Every notification cubesync sends (a webhook per [notify.NAME]) is recorded with its
-- outcome, so the history shows who was told about a run and whether it reached them.

-- +goose Up
CREATE TABLE cubesync.deliveries (
    id        bigserial   PRIMARY KEY,
    job       text        NOT NULL,
    run_id    bigint,               -- NULL for a missed slot without a run
    notifier  text        NOT NULL,
    event     text        NOT NULL,
    status    text        NOT NULL CHECK (status IN ('delivered', 'failed')),
    attempts  int         NOT NULL,
    error     text        NOT NULL DEFAULT '',
    at        timestamptz NOT NULL
);
CREATE INDEX deliveries_job_id ON cubesync.deliveries (job, id DESC);

-- +goose Down
DROP TABLE cubesync.deliveries;
