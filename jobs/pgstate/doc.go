// Package pgstate is the Postgres state store of cubesync, used when jobs.toml sets
// [state] database_url: runs, watermarks, dataset ids, loaded Parquet files and claimed
// schedule slots live in a cubesync schema, so several `cubesync serve` replicas can share
// them.
//
// The schema is made by the SQL files of package migrations, applied with pressly/goose
// (Migrate, and Open on every start) under a session advisory lock, so processes starting
// together do not trip over each other; goose keeps its version table in the cubesync schema.
//
// Across replicas a scheduled slot runs once because ClaimSlot inserts (job, time) into a
// table keyed by both; a job's runs never overlap because Lock holds a session advisory lock
// on a connection of its own, which Postgres releases when that connection ends, so a
// replica that dies cannot leave its jobs locked. The lock is a lease: every two seconds, and
// before a run publishes, the lock's connection is asked whether it still holds the advisory
// lock; a connection that was terminated lost it, and its run publishes nothing. FinishRun writes a run's status, watermarks
// and loaded files in one transaction. Each held lock uses one server connection besides
// the pool, and session advisory locks need a direct connection or a session-mode pooler
// (PgBouncer in transaction mode would hand the lock to whichever client comes next).
//
// It implements jobs.Store and imports jobs, migrations and pgx; it must not import
// jobs/filestate, sources or sink.
package pgstate
