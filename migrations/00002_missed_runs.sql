-- A slot that no replica could start within catchup_window (every one was at
-- max_concurrent_runs) is recorded as a run with status missed, so history shows it.

-- +goose Up
ALTER TABLE cubesync.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE cubesync.runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted', 'abandoned', 'skipped', 'missed'));

-- +goose Down
DELETE FROM cubesync.runs WHERE status = 'missed';
ALTER TABLE cubesync.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE cubesync.runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted', 'abandoned', 'skipped'));
