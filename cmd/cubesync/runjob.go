package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/cubesync/cubesync/clock"
	"github.com/cubesync/cubesync/jobs"
)

func runJob(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("run-job")
	configPath := configFlag(fs, e)
	dryRun := fs.Bool("dry-run", false, "read and encode everything, push nothing, record nothing")
	fullRefresh := fs.Bool("full-refresh", false, "read everything, ignoring the incremental watermarks, and push incremental tables with replace")
	tables := fs.String("tables", "", "comma-separated `tables` to run (default: all of the job's tables)")
	timeout := fs.Duration("timeout", 0, "overall deadline of each job (default: the job's timeout)")
	retries := fs.Int("retries", -1, "retry a failed run `N` times, overriding retry.attempts (0 = one try, no retry)")
	progress := fs.String("progress", "auto", "live progress `mode`: auto (bars on a terminal, a line every 10s otherwise), plain or none")
	logFormat := fs.String("log-format", "auto", "log `format`: auto (text on a terminal, json otherwise), text or json")
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return badArgs(errors.New("name at least one job to run"))
	}
	attempts := 0 // the job's retry.attempts
	if *retries >= 0 {
		attempts = *retries + 1
	} else if *retries != -1 {
		return badArgs(fmt.Errorf("--retries: must not be negative (got %d; 0 = one try)", *retries))
	}
	switch *progress {
	case "auto", "plain", "none":
	default:
		return badArgs(fmt.Errorf("--progress: unknown mode %q (want auto, plain or none)", *progress))
	}

	cfg, err := loadConfig(e, *configPath)
	if err != nil {
		return err
	}
	var selected []*jobs.Job
	for _, n := range names {
		j, err := findJob(cfg, n)
		if err != nil {
			return err
		}
		selected = append(selected, j)
	}

	prog := newProgress(e.stderr, *progress)
	if prog.interval, err = progressInterval(e); err != nil {
		return usageError(err)
	}
	format := *logFormat
	if format == "auto" && isTerminal(e.stderr) {
		format = "text" // decided on stderr itself: the writer below only routes around the bars
	}
	log, err := newLogger(prog.logWriter(), format, e.scrubber)
	if err != nil {
		return err
	}
	prog.setLogger(log)
	store, err := openStore(ctx, cfg, log, clock.Wall{})
	if err != nil {
		return err
	}
	defer store.Close()
	runner, ts, closeRunner, err := newRunner(ctx, e, log, store, prog, clock.Wall{})
	if err != nil {
		return err
	}
	defer closeRunner() // after the runs and their notifications

	notify := &jobs.Notifications{Store: store, Logger: log, Scrubber: e.scrubber, Client: &http.Client{Timeout: 30 * time.Second}}
	defer func() {
		// The deliveries about these runs go out before the process exits, for a bounded
		// time; they never change the exit code.
		nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		notify.Wait(nctx)
	}()

	var failed error
	for _, job := range selected {
		res, err := runner.Run(ctx, job, jobs.RunOptions{
			DryRun: *dryRun, FullRefresh: *fullRefresh, ReplaceIncremental: *fullRefresh, Tables: splitList(*tables), Timeout: *timeout, Attempts: attempts,
		})
		prog.stop()
		// The root context ends only by SIGINT or SIGTERM (a job's timeout is its own).
		interrupted := err != nil && ctx.Err() != nil
		locked := errors.Is(err, jobs.ErrLocked)
		if !*dryRun && !locked {
			notify.RunEnded(ctx, job, res)
		}
		if locked {
			msg := "skipped: already running on " + jobs.LockHolder(err)
			fmt.Fprintf(e.stdout, "job %s: %s\n", job.Name, msg)
			log.Warn(msg, "job", job.Name)
		} else if res != nil {
			printSummary(e.stdout, job, res, err, interrupted)
			if err == nil && !res.DryRun && job.Target.Embedded() && ts.emu != nil {
				printPreview(e.stdout, ts.emu, job, res.DatasetID)
			}
		}
		if err != nil {
			if jobs.IsInputError(err) && res == nil {
				return usageError(err) // e.g. --tables naming a table the job lacks
			}
			// One line per event: an interruption is the runner's "run finished" line with
			// status interrupted (and the summary above), a skip the warning above.
			if !locked && !interrupted {
				log.Error("job failed", "job", job.Name, "err", err)
			}
			if failed == nil || errors.Is(failed, jobs.ErrLocked) {
				failed = err // a failure outranks a skip in the exit code
			}
			if ctx.Err() != nil {
				break
			}
		}
	}
	if failed != nil {
		return &exitError{code: exitCodeFor(e, failed)} // said above, logged once
	}
	return nil
}

// The crash and fault tests name a step of a run (one of jobs.Steps) in these variables:
// at CUBESYNC_TEST_DIE_AT run-job and serve kill themselves with SIGKILL; at
// CUBESYNC_TEST_FAIL_AT that state-store write fails, every time it is reached.
const (
	dieAtEnv  = "CUBESYNC_TEST_DIE_AT"
	failAtEnv = "CUBESYNC_TEST_FAIL_AT"
)

// At CUBESYNC_TEST_NOW (an RFC 3339 time) serve's clock starts at that instant instead of
// now and runs at its normal pace, so an end-to-end test can watch a weekly or daily slot
// come (the scheduler, the runner, notifications and the state store all read it).
const nowEnv = "CUBESYNC_TEST_NOW"

// processClock is the clock the variable asks for, else the wall clock.
func processClock(getenv func(string) string) (clock.Clock, error) {
	v := getenv(nowEnv)
	if v == "" {
		return clock.Wall{}, nil
	}
	at, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: want an RFC 3339 time such as 2024-06-02T03:59:55+02:00", nowEnv, v)
	}
	return clock.Offset{D: time.Until(at)}, nil
}

// testSteps returns the Runner.Step the two variables ask for, or nil when neither is set.
func testSteps(getenv func(string) string) func(string) error {
	die, fail := getenv(dieAtEnv), getenv(failAtEnv)
	if die == "" && fail == "" {
		return nil
	}
	return func(step string) error {
		switch step {
		case die:
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		case fail:
			return fmt.Errorf("state store write failed at step %s (%s is set)", step, failAtEnv)
		}
		return nil
	}
}

// printSummary writes one line per table: rows, bytes, chunks, duration, rows/s.
func printSummary(w io.Writer, job *jobs.Job, res *jobs.Result, err error, interrupted bool) {
	status := "published"
	switch {
	case interrupted:
		status = "interrupted, nothing published"
	case res.DryRun && err == nil:
		var rows int64
		for _, t := range res.Tables {
			rows += t.Rows
		}
		status = fmt.Sprintf("dry run, would push %d rows (nothing pushed)", rows)
	case res.NoChanges && err == nil:
		status = "no changes, nothing published"
	case err != nil:
		status = "FAILED, nothing published"
		if ue, ok := errors.AsType[*jobs.UnsettledError](err); ok {
			status = "FAILED: " + ue.Error() // published, or maybe: never "nothing published"
		}
	}
	fmt.Fprintf(w, "job %s: %s", job.Name, status)
	if res.DatasetID != "" {
		fmt.Fprintf(w, " (dataset %s)", res.DatasetID)
	}
	if res.Attempts > 1 {
		fmt.Fprintf(w, " after %d attempts", res.Attempts)
	}
	fmt.Fprintln(w)
	if len(res.Tables) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  table\tpolicy\trows\tbytes\tchunks\tduration\trows/s\t")
	for _, t := range res.Tables {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%d\t%s\t%.0f\t\n", t.Name, t.Policy, t.Rows, humanBytes(t.Bytes), t.Chunks, t.Duration.Round(time.Millisecond), t.RowsPerSecond())
	}
	tw.Flush()
	for _, t := range res.Tables {
		if t.NonFinite > 0 {
			fmt.Fprintf(w, "  note: table %s: %d NaN/infinite values were sent as null\n", t.Name, t.NonFinite)
		}
		if t.InvalidUTF8 > 0 {
			fmt.Fprintf(w, "  note: table %s: %d strings had invalid UTF-8, replaced with U+FFFD\n", t.Name, t.InvalidUTF8)
		}
	}
}
