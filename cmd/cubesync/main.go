// Command cubesync runs ETL jobs that keep MicroStrategy datasets in sync with Postgres
// queries and Parquet files. main only wires: each subcommand lives in its own file as a
// small struct with its own flag.FlagSet.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/cubesync/cubesync/jobs"
)

// Exit codes, as the product contract gives them.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitSkipped     = 3
	exitInterrupted = 130 // SIGINT
	exitTerminated  = 143 // SIGTERM
)

// exitError carries an exit code through an error chain.
type exitError struct {
	code    int
	err     error
	seeHelp bool // a mistake in the command line: Run points to the command's help
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// usageError marks bad flags, arguments or config: exit code 2.
func usageError(err error) error { return &exitError{code: exitUsage, err: err} }

// badArgs marks a mistake in the command line (an unknown job, a missing argument): exit
// code 2, and the error line ends by pointing to the command's help.
func badArgs(err error) error { return &exitError{code: exitUsage, err: err, seeHelp: true} }

// env is what a command sees of the process: streams, environment and working directory.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// signal is set by main once the root context ends because of a signal.
	signal func() os.Signal
	// scrubber, set when a command has read the jobs file (readConfig), takes the values of
	// its ${VAR} references out of the command's logs and of the error Run prints.
	scrubber *jobs.Scrubber
}

// command is one subcommand: what help shows of it, and the function that runs it.
type command struct {
	name    string
	summary string   // one line: what the command does
	usage   []string // synopsis lines, each after "cubesync "
	about   string   // a few lines more
	example []string // command lines a user can paste
	run     func(ctx context.Context, e *env, args []string) error
}

// commandTable lists every subcommand, in the order help shows them. A new command is an
// entry here and a file of its own whose run function parses its flags with newFlagSet and
// parseArgs, so that its help and its usage errors look like every other command's.
func commandTable() []command {
	return []command{
		{
			name:    "run-job",
			summary: "run the named jobs once, now",
			usage:   []string{"run-job [flags] JOB..."},
			about: `Runs each named job once, now: reads its tables, pushes them in one upload session,
publishes them together and prints a summary line per table. Exit code 0 when every job
succeeded, 1 when one failed, 3 when one was skipped because it runs elsewhere, 130 or 143
when interrupted by SIGINT or SIGTERM (nothing published, watermarks untouched).`,
			example: []string{"cubesync run-job demo", "cubesync run-job sales --dry-run --tables orders,stores"},
			run:     runJob,
		},
		{
			name:    "serve",
			summary: "the scheduler daemon: run every job with a schedule, serve /metrics and a status page",
			usage:   []string{"serve [flags]"},
			about: `Runs every job that has a schedule, on its schedule, until SIGTERM or SIGINT. Then no new
run starts, running jobs get [serve] shutdown_grace to finish and are cancelled after it;
a second signal exits at once. Serves /healthz, /readyz, /metrics and a status page at /.`,
			example: []string{"cubesync serve --listen 127.0.0.1:9746"},
			run:     runServe,
		},
		{
			name:    "validate",
			summary: "check the jobs file and print each job's next runs",
			usage:   []string{"validate [--config jobs.toml]"},
			about: `Checks every key, cron spec and ${VAR} of the jobs file, lists every problem, and prints
what serve does (max_concurrent_runs, the admin API), the notifiers, where traces go
(OTEL_EXPORTER_OTLP_* variables), and each job with its tables and next runs. Exit code 2
when the file or a tracing variable is bad.`,
			example: []string{"cubesync validate --config jobs.toml"},
			run:     runValidate,
		},
		{
			name:    "jobs",
			summary: "list jobs: schedule, next run, last run status, rows, watermark",
			usage:   []string{"jobs [flags]"},
			about: `Lists the jobs of the config with their schedule, next run, and last run and watermarks
from the state store (the same state serve and its status page show).`,
			example: []string{"cubesync jobs"},
			run:     runJobs,
		},
		{
			name:    "history",
			summary: "list recent runs from the state store",
			usage:   []string{"history [flags] [JOB]"},
			about: `Lists the most recent runs, newest first: trigger, start, duration, status, rows, bytes,
chunks and error. With JOB, only that job's runs.`,
			example: []string{"cubesync history demo -n 50"},
			run:     runHistory,
		},
		{
			name:    "state",
			summary: "inspect or repair a job's state: state get|set|clear JOB [--table T] [VALUE], state forget-dataset JOB",
			usage:   []string{"state get JOB [--table T]", "state set JOB --table T VALUE", "state clear JOB [--table T]", "state forget-dataset JOB"},
			about: `Reads or repairs the incremental watermarks of a job. VALUE is the greatest value already
loaded: an RFC 3339 timestamp (2024-05-01T10:00:00.123456Z), a timestamp without zone
(2024-05-01T10:00:00), a date (2024-05-01) or an integer. The next run reads rows after it.
forget-dataset drops the dataset id the job remembers, so its next run creates a new
dataset named dataset.name (the old one stays on the server untouched).`,
			example: []string{"cubesync state get sales", "cubesync state set sales --table orders 2024-05-01T00:00:00Z", "cubesync state forget-dataset sales"},
			run:     runState,
		},
		{
			name:    "trigger",
			summary: "run a job now, through the serve replicas that schedule it",
			usage:   []string{"trigger [flags] JOB"},
			about: `Asks the serve replicas sharing the state store to run JOB now: one replica takes the
request, under the job's lock, and records the run in the history with trigger = trigger.
Waits up to --wait for a replica to take it; if none does (is serve running on this state
store?), the request is withdrawn and the exit code is 1.`,
			example: []string{"cubesync trigger sales", "cubesync trigger sales --wait 0"},
			run:     runTrigger,
		},
		{
			name:    "pause",
			summary: "pause a job's schedule on every serve replica",
			usage:   []string{"pause [flags] JOB"},
			about: `Pauses JOB in the state store: every serve replica sharing it skips the job's slots
(they are not caught up later) until cubesync resume JOB. A run in progress finishes;
cubesync trigger still runs a paused job.`,
			example: []string{"cubesync pause sales"},
			run:     runPause,
		},
		{
			name:    "resume",
			summary: "resume a paused job's schedule",
			usage:   []string{"resume [flags] JOB"},
			about:   `Resumes JOB: its next slot runs again on the serve replicas.`,
			example: []string{"cubesync resume sales"},
			run:     runResume,
		},
		{
			name:    "migrate",
			summary: "apply the Postgres state-store migrations",
			usage:   []string{"migrate [--config jobs.toml]"},
			about: `Applies the state-store migrations to the Postgres database of [state] database_url,
creating the cubesync schema if needed. Safe to run from several processes at once.`,
			example: []string{"cubesync migrate --config /etc/cubesync/jobs.toml"},
			run:     runMigrate,
		},
		{
			name:    "emulator",
			summary: "serve the built-in Push Data API emulator",
			usage:   []string{"emulator [flags]"},
			about: `Serves an emulator of the MicroStrategy Push Data API for targets to push to
(base_url = "http://LISTEN/MicroStrategyLibrary"). Datasets are kept in memory, or in
--data-dir, where datasets that other processes publish (run-job with an embedded target)
show up without a restart. Read them back with GET /emulator/datasets; with --user, every
endpoint needs a login, /emulator/ ones too (curl -u NAME:PASSWORD).`,
			example: []string{"cubesync emulator --data-dir .cubesync/emulator", "cubesync emulator --listen 127.0.0.1:8910 --user ci:secret"},
			run:     runEmulator,
		},
		{
			name:    "version",
			summary: "print version and build info",
			usage:   []string{"version"},
			example: []string{"cubesync version"},
			run:     runVersion,
		},
		{
			name:    "help",
			summary: "show the commands, or a command's usage, flags and example",
			usage:   []string{"help [COMMAND]"},
			example: []string{"cubesync help run-job"},
			run:     runHelp,
		},
	}
}

// findCommand returns the command called name.
func findCommand(name string) (command, bool) {
	for _, c := range commandTable() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func main() {
	ctx, sig, stop := signalContext()
	defer stop()
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, signal: sig}
	stopProfile := startCPUProfile(os.Getenv("CUBESYNC_CPU_PROFILE"))
	code := Run(ctx, e, os.Args[1:])
	stopProfile()
	os.Exit(code)
}

// startCPUProfile writes a CPU profile of the whole process to path (for go tool pprof),
// when path is set, until the returned func is called. It is how the process-level
// benchmark (testdata/bench -cpuprofile) profiles run-job as users run it.
func startCPUProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cubesync: CUBESYNC_CPU_PROFILE: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// signalContext returns a context cancelled by the first SIGINT or SIGTERM, and a function
// reporting which signal it was. A second signal exits at once.
func signalContext() (context.Context, func() os.Signal, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var got os.Signal
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			got = s
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-ch:
			fmt.Fprintf(os.Stderr, "cubesync: second %v, exiting now\n", s)
			os.Exit(signalExitCode(s))
		case <-done:
		}
	}()
	which := func() os.Signal {
		if ctx.Err() == nil {
			return nil
		}
		return got
	}
	return ctx, which, func() { close(done); signal.Stop(ch); cancel() }
}

func signalExitCode(s os.Signal) int {
	if s == syscall.SIGTERM {
		return exitTerminated
	}
	return exitInterrupted
}

// Run runs cubesync with args (without the program name) and returns the exit code.
func Run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		printUsage(e.stderr)
		return exitUsage
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "-help" {
		name, args = "help", args[:0]
	} else {
		args = args[1:]
	}
	cmd, ok := findCommand(name)
	if !ok {
		fmt.Fprintf(e.stderr, "cubesync: %v\n", unknownCommand(name))
		return exitUsage
	}
	err := cmd.run(ctx, e, args)
	if err == nil {
		return exitOK
	}
	var help *helpRequest
	if errors.As(err, &help) {
		printHelp(e.stdout, cmd, help.flags)
		return exitOK
	}
	var ee *exitError
	code := exitFailed
	if errors.As(err, &ee) {
		code = ee.code
	}
	switch {
	case ee != nil && ee.err == nil: // logged already
	case ee != nil && ee.seeHelp:
		fmt.Fprintf(e.stderr, "cubesync %s: %s; see 'cubesync %s --help'\n", cmd.name, e.scrubber.Scrub(err.Error()), cmd.name)
	default:
		fmt.Fprintf(e.stderr, "cubesync %s: %s\n", cmd.name, e.scrubber.Scrub(err.Error()))
	}
	return code
}
