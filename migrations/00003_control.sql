-- cubesync pause/resume and cubesync trigger act through the state store, so that every
-- serve replica honours a pause and exactly one replica runs a requested run.

-- +goose Up
-- paused lists the jobs whose schedules are paused on every replica.
CREATE TABLE cubesync.paused (
    job       text        PRIMARY KEY,
    since     timestamptz NOT NULL,
    paused_by text        NOT NULL DEFAULT ''
);

-- run_requests are runs asked for now; a replica takes one by setting taken_at (once).
CREATE TABLE cubesync.run_requests (
    id           bigserial   PRIMARY KEY,
    job          text        NOT NULL,
    requested_at timestamptz NOT NULL,
    requested_by text        NOT NULL DEFAULT '',
    taken_at     timestamptz,
    taken_by     text        NOT NULL DEFAULT ''
);
CREATE INDEX run_requests_pending ON cubesync.run_requests (id) WHERE taken_at IS NULL;

-- +goose Down
DROP TABLE cubesync.run_requests;
DROP TABLE cubesync.paused;
