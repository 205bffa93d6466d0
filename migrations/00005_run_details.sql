-- What the status page shows of each run: which try of its slot it was, and what it did to
-- each table (name, policy, rows, bytes, chunks, duration), as a JSON array.

-- +goose Up
ALTER TABLE cubesync.runs
    ADD COLUMN attempt int   NOT NULL DEFAULT 1,
    ADD COLUMN tables  jsonb NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE cubesync.runs DROP COLUMN tables, DROP COLUMN attempt;
