-- Where a run stands with its upload session, so that the next run of the job settles what
-- a run that died or failed left behind (README, "How a run works"): phase is '' (nothing
-- left), 'opening' (asking the server for a session), 'open' (session_id open, partly
-- uploaded) or 'publishing' (everything uploaded; pending holds the watermarks and loaded
-- files to commit once the session is published).

-- +goose Up
ALTER TABLE cubesync.runs
    ADD COLUMN phase   text  NOT NULL DEFAULT ''
        CHECK (phase IN ('', 'opening', 'open', 'publishing')),
    ADD COLUMN pending jsonb;
DROP INDEX cubesync.runs_unfinished;
CREATE INDEX runs_unsettled ON cubesync.runs (job, id) WHERE status = 'running' OR phase <> '';

-- +goose Down
DROP INDEX cubesync.runs_unsettled;
CREATE INDEX runs_unfinished ON cubesync.runs (job, id) WHERE status = 'running';
ALTER TABLE cubesync.runs DROP COLUMN pending, DROP COLUMN phase;
