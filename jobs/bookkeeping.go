package jobs

import (
	"fmt"
	"os"
	"time"
)

// What every state store records alike, kept here so that the stores (jobs/filestate,
// jobs/pgstate) cannot drift apart: how times are stamped, which outcomes end a run, whose
// watermarks and files a run may save, and how a process names itself.

// HostID names this process in run records, slot claims, requests and locks: hostname:pid.
func HostID() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// Stamp normalises a time the way every store keeps it: UTC, microseconds (what a Postgres
// timestamptz holds), so a time reads back equal from either store. Zero stays zero.
func Stamp(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// CheckOutcome refuses an outcome whose status does not end a run.
func CheckOutcome(o Outcome) error {
	switch o.Status {
	case StatusSucceeded, StatusFailed, StatusInterrupted, StatusAbandoned, StatusSkipped, StatusMissed:
		return nil
	}
	return fmt.Errorf("status %q does not end a run (want %s, %s, %s, %s, %s or %s)", o.Status,
		StatusSucceeded, StatusFailed, StatusInterrupted, StatusAbandoned, StatusSkipped, StatusMissed)
}

// CheckSameJob checks that a watermark or file of an outcome belongs to the run's job ("" means it).
func CheckSameJob(runJob, job, table string) error {
	if job != "" && job != runJob {
		return fmt.Errorf("table %q of job %q cannot be saved by a run of job %q", table, job, runJob)
	}
	return nil
}
