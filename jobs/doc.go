// Package jobs owns what a cubesync job is: its configuration (jobs.toml), the runner that
// moves a job's tables from their sources into one published dataset, the scheduler, and
// the state a job keeps between runs (runs, watermarks, dataset ids, loaded files).
//
// The state store is an interface declared here; its backends are sibling packages
// (jobs/filestate, jobs/pgstate) that import jobs, never the other way round.
package jobs
