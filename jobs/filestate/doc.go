// Package filestate is the local state store of cubesync, the default when jobs.toml has no
// [state] database_url: what jobs remember between runs, kept in files under a directory
// (./.cubesync by default).
//
// Layout of the directory:
//
//	meta.json          the next run id, shared by every job
//	jobs/NAME.json     one job's runs (the last 1000 finished, every unfinished one), its
//	                   watermarks, dataset id, loaded Parquet files and claimed slots
//	state.lock         flock(2) held for each read-modify-write
//	locks/NAME.lock    flock(2) held while a run of the job is going on
//	serve.lock         flock(2) held by `cubesync serve` for its whole life
//
// Every file is replaced atomically (temporary file, fsync, rename, fsync of the directory),
// so a reader never sees half a file and a crash leaves the old or the new state, never a
// mix. Everything a finished run changes for its job lives in that job's one file, which
// makes FinishRun all-or-nothing like the Postgres store's transaction. Locks are flock(2)
// locks, which the kernel drops when their process dies: a killed run never leaves its job
// locked. A job lock is a lease: every two seconds, and before a run publishes, the lock path
// is checked to still name the file the run locked (a removed or replaced lock file lets
// another process lock a new one, so the run publishes nothing). Several processes may share a directory; flock does not work on every network
// file system, so keep the directory on a local disk.
//
// It implements jobs.Store and imports jobs; it must not import jobs/pgstate, sources or sink.
package filestate
