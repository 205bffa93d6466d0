package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/cubesync/cubesync/clock"
	"github.com/cubesync/cubesync/sink"
	"github.com/cubesync/cubesync/sources"
)

// Runner runs jobs: it moves every table of a job from its source into one upload session
// of the job's dataset and publishes it, all or nothing, and records the run in the store.
type Runner struct {
	Store  Store
	Logger *slog.Logger
	// Connect makes a Push API client for a target (not yet logged in). main wires it, so
	// that base_url = "embedded" can point at an in-process emulator.
	Connect func(ctx context.Context, t *Target) (*sink.Client, error)
	// Progress, if set, is shown every attempt as it happens; nil reports nothing live.
	Progress  Progress
	Allocator memory.Allocator
	// Clock stamps the runs and times the waits between attempts and the job's timeout;
	// clock.Wall when nil. A scheduler's Runner takes the scheduler's Clock.
	Clock clock.Clock
	// Tracer, if set, records each run as one trace: a root span per Run, a span per
	// attempt, and below it spans for opening each source, pushing each table (with a span
	// per chunk upload), publishing and each publish status poll. nil records nothing.
	Tracer trace.Tracer
	// Step, if set, is called before and after each write to the state store, with the
	// step's name from Steps: an error from it fails that write (before: not written;
	// after: written, but the run is told it failed). Crash and fault tests set it
	// (cubesync reads CUBESYNC_TEST_DIE_AT and CUBESYNC_TEST_FAIL_AT); nil does nothing.
	Step func(step string) error
	// Scrubber takes the values of the jobs file's ${VAR} references out of the error text
	// recorded for a run (history, the status page and notifications show it); nil keeps
	// the text as it is.
	Scrubber *Scrubber
}

// Steps are the points of a run where Runner.Step is called: before and after each write
// to the state store (the calls to the server are between them).
var Steps = []string{
	"before:start_run", "after:start_run",
	"before:settle_run", "after:settle_run",
	"before:record_dataset", "after:record_dataset",
	"before:record_opening", "after:record_opening",
	"before:record_session", "after:record_session",
	"before:record_pending", "after:record_pending",
	"before:finish_run", "after:finish_run",
}

// write runs the state-store write f between the Step hooks "before:"+step and "after:"+step.
func (r *Runner) write(step string, f func() error) error {
	if r.Step != nil {
		if err := r.Step("before:" + step); err != nil {
			return err
		}
	}
	if err := f(); err != nil {
		return err
	}
	if r.Step != nil {
		return r.Step("after:" + step)
	}
	return nil
}

// RunOptions are the per-invocation choices of a run.
type RunOptions struct {
	Trigger     string    // TriggerManual by default
	Scheduled   time.Time // the cron slot, for scheduled runs
	DryRun      bool      // read and encode everything, push nothing, record nothing
	FullRefresh bool      // ignore the incremental watermarks once
	// ReplaceIncremental pushes incremental tables with policy replace, so rows deleted at
	// the source leave the dataset too (scheduled full refreshes set it with FullRefresh).
	ReplaceIncremental bool
	Tables             []string // only these tables (all when empty)
	Timeout            time.Duration
	// Attempts overrides the job's retry.attempts: how many times the whole run is tried
	// (1 = no retry); 0 keeps the job's setting.
	Attempts int

	attempt int   // set by Run for each try, from 1
	lease   Lease // the job's lock, checked before the publish
}

// Result is what a run did.
type Result struct {
	Run       Run
	DatasetID string
	Tables    []TableResult
	Attempts  int
	DryRun    bool
	// NoChanges: no table had rows and none is replace, so no upload session was opened and
	// nothing was published; the watermarks stay where they were.
	NoChanges bool

	// saved with the run's success, in the same transaction
	watermarks []Watermark
	files      []LoadedFile

	// where the run's upload session stands, for finish
	publishRequested bool     // Publish was called: a failure may still have published
	sessionLeftOpen  bool     // the session's cancel failed
	notes            []string // what the run settled on the way, for its record
}

// TableResult summarises one table of a run.
type TableResult struct {
	Name        string
	Policy      sink.Policy
	Rows        int64
	Bytes       int64 // JSON bytes before base64
	Chunks      int64
	Duration    time.Duration
	NonFinite   int64 // NaN/±Inf sent as null
	InvalidUTF8 int64 // strings with invalid UTF-8 repaired to U+FFFD
	Watermark   string
}

// RowsPerSecond is the table's throughput over its own duration.
func (t TableResult) RowsPerSecond() float64 {
	if t.Duration <= 0 {
		return 0
	}
	return float64(t.Rows) / t.Duration.Seconds()
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func (r *Runner) now() time.Time { return clock.Or(r.Clock).Now() }

func (r *Runner) sleep(ctx context.Context, d time.Duration) error {
	return clock.Or(r.Clock).Sleep(ctx, d)
}

// timeoutError is the cause of a run's cancellation at its job's timeout. It is a
// context.DeadlineExceeded, and the run is recorded failed, not interrupted.
type timeoutError struct {
	job string
	d   time.Duration
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("job %q timed out after %s (raise its timeout if runs need longer)", e.job, e.d)
}
func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// withTimeout cancels ctx with a timeoutError once d has passed on the runner's clock: the
// one place a job's timeout is enforced, for run-job and serve alike.
func (r *Runner) withTimeout(ctx context.Context, job string, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		if clock.Or(r.Clock).Sleep(ctx, d) == nil {
			cancel(&timeoutError{job: job, d: d})
		}
	}()
	return ctx, func() { cancel(nil) }
}

// Run runs job once, now, retrying a failed attempt per the job's retry settings (each
// attempt with a fresh upload session; input errors are not retried). It returns
// ErrLocked, wrapped, when another process is running the job.
func (r *Runner) Run(ctx context.Context, job *Job, opts RunOptions) (res *Result, err error) {
	opts.Trigger = cmp.Or(opts.Trigger, TriggerManual)
	// One trace per run, whatever the caller's context carries: retries are its attempts.
	ctx, span := r.tracer().Start(ctx, "run", trace.WithNewRoot(), trace.WithAttributes(
		attrJob.String(job.Name), attrTrigger.String(opts.Trigger), attrDryRun.Bool(opts.DryRun), attrFull.Bool(opts.FullRefresh)))
	if !opts.Scheduled.IsZero() {
		span.SetAttributes(attrScheduled.String(opts.Scheduled.UTC().Format(time.RFC3339)))
	}
	defer func() {
		if res != nil {
			span.SetAttributes(attrStatus.String(res.Run.Status), attribute.Int("cubesync.attempts", res.Attempts))
		} else if errors.Is(err, ErrLocked) {
			span.SetAttributes(attrStatus.String(StatusSkipped))
		}
		r.endSpan(span, err)
	}()
	timeout := cmp.Or(opts.Timeout, job.Timeout)
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = r.withTimeout(ctx, job.Name, timeout)
		defer cancel()
	}
	if err := checkTableNames(job, opts.Tables); err != nil {
		return nil, err
	}
	if opts.DryRun {
		res, err := r.runOnce(ctx, job, opts)
		if res != nil {
			res.Attempts = 1
		}
		return res, err
	}

	lease, err := r.Store.Lock(ctx, job.Name)
	span.AddEvent("lock", trace.WithAttributes(attribute.Bool("cubesync.locked", err == nil)))
	if err != nil {
		return nil, fmt.Errorf("job %q: %w", job.Name, err)
	}
	defer func() {
		if err := lease.Unlock(); err != nil {
			r.logger().Warn("unlock job", "job", job.Name, "err", err)
		}
	}()
	// A lock lost while the run goes on (its connection killed, its file removed) stops
	// the run: another process may be running the job. The check before the publish
	// catches what this watch has not seen yet.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go func() {
		select {
		case <-lease.Lost():
			err := lease.Check(context.Background()) // returns at once: the lease is lost
			r.logger().Error("the job's lock was lost: stopping the run, its upload session is cancelled and nothing is published", "job", job.Name, "err", err)
			stop(err)
		case <-ctx.Done():
		}
	}()
	opts.lease = lease

	attempts := max(cmp.Or(opts.Attempts, job.Retry.Attempts), 1)
	delay := job.Retry.InitialDelay
	for attempt := 1; ; attempt++ {
		opts.attempt = attempt
		res, err := r.runOnce(ctx, job, opts)
		if res != nil {
			res.Attempts = attempt
		}
		if err == nil || attempt >= attempts || !retryable(ctx, err) {
			if err != nil {
				err = fmt.Errorf("job %q: %w", job.Name, err)
			}
			return res, err
		}
		wait := jitter(delay)
		r.logger().Warn("run failed, retrying", "job", job.Name, "attempt", attempt, "of", attempts,
			"next_attempt", r.now().Add(wait).Format(time.RFC3339), "in", wait.Round(time.Millisecond).String(), "reason", err)
		if serr := r.sleep(ctx, wait); serr != nil {
			return res, err
		}
		delay = min(delay*2, cmp.Or(job.Retry.MaxDelay, delay*2))
	}
}

// retryable says whether a failed attempt may succeed when run again.
func retryable(ctx context.Context, err error) bool {
	// Refused credentials stay refused: retrying only risks locking the account.
	return ctx.Err() == nil && !IsInputError(err) && !sink.Permanent(err) && !errors.Is(err, ErrLocked) && !sink.IsLoginRefused(err) &&
		!errors.Is(err, ErrLockLost) && !isUnrecorded(err)
}

// explain puts the reason a run's context ended (e.g. "job "sales" timed out after 2h") in
// front of an error that the ending caused, which would otherwise only say "context
// deadline exceeded".
func explain(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	cause := context.Cause(ctx)
	if cause == nil || errors.Is(cause, context.Canceled) || errors.Is(err, cause) {
		return err
	}
	return fmt.Errorf("%w: %w", cause, err)
}

// jitter spreads d by ±20% so replicas retrying together do not hit the server at once.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

func checkTableNames(job *Job, names []string) error {
	for _, n := range names {
		if !slices.ContainsFunc(job.Tables, func(t *Table) bool { return t.Name == n }) {
			var have []string
			for _, t := range job.Tables {
				have = append(have, t.Name)
			}
			return inputError(fmt.Errorf("job %q has no table %q (tables: %v)", job.Name, n, have))
		}
	}
	return nil
}

// openTable is a table whose source is open and whose pushed shape is known.
type openTable struct {
	table   *Table
	reader  sources.Reader
	shape   *tableShape
	tracker *maxTracker
	files   []LoadedFile // parquet files this run loads, for incremental files = "new"
	// readErrorsRecur: a read error fails the run again if it is tried again (a corrupt
	// file stays corrupt), so it is an input error, not retried.
	readErrorsRecur bool
	live            *liveTable
	policy          sink.Policy // the table's policy, or replace on a full refresh that replaces
}

// runOnce is one attempt: one upload session, every table, one publish.
func (r *Runner) runOnce(ctx context.Context, job *Job, opts RunOptions) (res *Result, err error) {
	ctx, span := r.tracer().Start(ctx, "attempt", trace.WithAttributes(attrJob.String(job.Name), attrAttempt.Int(max(opts.attempt, 1))))
	defer func() { r.endSpan(span, err) }() // the last to run: err is final
	log := r.logger().With("job", job.Name)
	res = &Result{DryRun: opts.DryRun, Run: Run{Job: job.Name, Trigger: opts.Trigger, Scheduled: opts.Scheduled, TraceID: traceID(ctx)}}
	if res.Run.TraceID != "" {
		log = log.With("trace_id", res.Run.TraceID)
	}
	live := newLive(job.Name, max(opts.attempt, 1), opts.DryRun, r.now)
	if r.Progress != nil {
		r.Progress.RunStarted(live)
		defer func() { r.Progress.RunEnded(live, err) }() // the last to run: err is final
	}

	var client *sink.Client
	if !opts.DryRun {
		// Recorded first, so that a run failing as early as its login is in the history.
		res.Run.Started = r.now()
		res.Run.Host = HostID()
		res.Run.Attempt = max(opts.attempt, 1)
		run := res.Run
		if err = r.write("start_run", func() (err error) { res.Run, err = r.Store.StartRun(ctx, run); return err }); err != nil {
			// Not known to be recorded: nothing to finish. A run the store did record stays
			// running, and the next run records it abandoned.
			return res, fmt.Errorf("record run start: %w", err)
		}
		log = log.With("run", res.Run.ID)
		span.SetAttributes(attrRunID.Int64(res.Run.ID))
		live.setRunID(res.Run.ID)
		defer func() { err = r.finish(ctx, res, err, log) }()
		defer func() { err = explain(ctx, err) }() // runs before finish records err

		if client, err = r.Connect(ctx, job.Target); err != nil {
			return res, fmt.Errorf("target %q: %w", job.Target.Name, err)
		}
		if err = client.Login(ctx); err != nil {
			return res, fmt.Errorf("target %q: %w", job.Target.Name, err)
		}
		defer func() {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if lerr := client.Logout(lctx); lerr != nil {
				log.Warn("logout failed", "target", job.Target.Name, "err", lerr)
			}
		}()
		if err = r.settleEarlierRuns(ctx, client, job, res.Run.ID, log); err != nil {
			return res, err
		}
	}
	log.Info("run started", "trigger", opts.Trigger, "dry_run", opts.DryRun)

	tables, err := r.openTables(ctx, job, opts, live)
	defer func() {
		for _, t := range tables {
			if cerr := t.reader.Close(); cerr != nil {
				log.Warn("close source", "table", t.table.Name, "err", cerr)
			}
		}
	}()
	if err != nil {
		return res, err
	}
	if err = linkTables(tables); err != nil {
		return res, err
	}

	var session *lazySession
	if !opts.DryRun {
		if res.DatasetID, err = r.dataset(ctx, client, job, tables, opts, log); err != nil {
			return res, err
		}
		res.Run.DatasetID = res.DatasetID
		span.SetAttributes(attrDataset.String(res.DatasetID))
		st := make([]sink.SessionTable, len(tables))
		for i, t := range tables {
			st[i] = sink.SessionTable{Name: t.table.Name, UpdatePolicy: t.policy, Orientation: "COLUMN", ColumnHeaders: t.shape.headers()}
		}
		session = &lazySession{open: func(ctx context.Context) (*sink.Session, error) {
			return r.openSession(ctx, client, res, st, log)
		}}
		defer func() {
			s := session.session
			if err == nil || s == nil {
				return
			}
			if res.publishRequested {
				// The publish may have completed: cancelling now could not undo it, and
				// would hide what happened. The next run asks the server and settles it.
				log.Warn("upload session left for the next run to settle: its publish may have completed", "session", s.ID())
				return
			}
			if cerr := s.Cancel(); cerr != nil {
				res.sessionLeftOpen = true
				log.Error("cancel upload session failed: the next run cancels it", "session", s.ID(), "err", cerr)
			} else {
				log.Info("upload session cancelled", "session", s.ID())
			}
		}()
	}

	for _, t := range tables {
		tr, err := r.pushTable(ctx, job, t, session, log, live)
		res.Tables = append(res.Tables, tr)
		if err != nil {
			return res, err
		}
		if tr.Watermark != "" {
			res.watermarks = append(res.watermarks, Watermark{Job: job.Name, Table: t.table.Name, Column: t.tracker.column, Kind: t.tracker.kind, Value: tr.Watermark})
		}
		res.files = append(res.files, t.files...)
	}
	if opts.DryRun {
		var rows int64
		for _, t := range res.Tables {
			rows += t.Rows
		}
		log.Info("dry run finished: nothing pushed", "would_push_rows", rows)
		return res, nil
	}
	if session.session == nil && !slices.ContainsFunc(tables, func(t *openTable) bool { return t.policy == sink.Replace }) {
		res.NoChanges = true
		log.Info("no changes: no table has new rows, nothing to publish")
		return res, nil
	}
	// An empty replace table (allow_empty) still empties the table on the server.
	s, err := session.get(ctx)
	if err != nil {
		return res, err
	}
	// What the publish commits is recorded before it: if this process dies or fails from
	// here on, the next run finds the session and commits it once it is published.
	pending := Pending{Watermarks: res.watermarks, Files: res.files}
	pending.Rows, pending.Bytes, pending.Chunks, pending.Tables = runTotals(res.Tables)
	if err = r.write("record_pending", func() error { return r.Store.SetRunPending(ctx, res.Run.ID, pending) }); err != nil {
		return res, fmt.Errorf("record what upload session %s commits, before publishing it: %w", s.ID(), err)
	}
	// Fencing: a run that lost the job's lock publishes nothing (its session is cancelled).
	if err = checkLease(ctx, opts.lease); err != nil {
		return res, fmt.Errorf("not publishing upload session %s: %w", s.ID(), err)
	}
	live.setStage(StagePublishing)
	res.publishRequested = true
	if err = s.Publish(ctx); err != nil {
		return res, r.publishFailed(ctx, s, res, err, log)
	}
	return res, nil
}

// lazySession opens the run's upload session when the first chunk is ready to upload (or at
// publish), so that a run that reads no rows opens none. The tables are pushed one after
// another, so get is never called concurrently.
type lazySession struct {
	open    func(ctx context.Context) (*sink.Session, error)
	session *sink.Session
}

// get returns the session, opening it on first use; nil for a dry run's nil lazySession.
func (l *lazySession) get(ctx context.Context) (*sink.Session, error) {
	if l == nil {
		return nil, nil
	}
	if l.session == nil {
		s, err := l.open(ctx)
		l.session = s // set even with an error: the caller's cleanup cancels it
		if err != nil {
			return nil, err
		}
	}
	return l.session, nil
}

// linkTables settles the roles of column names shared by several tables.
func linkTables(tables []*openTable) error {
	ts := make([]*Table, len(tables))
	shapes := make([]*tableShape, len(tables))
	for i, t := range tables {
		ts[i], shapes[i] = t.table, t.shape
	}
	return linkAttributes(ts, shapes)
}

// finish records the end of a run: on success the watermarks and loaded files go in the
// same transaction as the status, so a watermark only moves with a published run. It
// returns the run's final error: a published run whose record could not be written fails
// with an *UnsettledError, never reports success with its state unsaved.
func (r *Runner) finish(ctx context.Context, res *Result, runErr error, log *slog.Logger) error {
	o := Outcome{Status: StatusSucceeded}
	o.Rows, o.Bytes, o.Chunks, o.Tables = runTotals(res.Tables)
	switch {
	case runErr == nil:
		o.Watermarks, o.Files = res.watermarks, res.files
	case errors.Is(runErr, context.Canceled) && context.Cause(ctx) == context.Canceled:
		o.Status, o.Error = StatusInterrupted, runErr.Error()
	default:
		o.Status, o.Error = StatusFailed, runErr.Error()
	}
	if runErr != nil && (res.publishRequested || res.sessionLeftOpen) {
		o.KeepSession = true // the next run settles the session
		if res.sessionLeftOpen {
			o.Error = "upload session " + res.Run.SessionID + " could not be cancelled, the next run cancels it; " + o.Error
		}
	}
	if len(res.notes) > 0 {
		o.Error = strings.Join(append(slices.Clip(res.notes), o.Error), "; ")
		o.Error = strings.TrimSuffix(o.Error, "; ")
	}
	o.Error = r.Scrubber.Scrub(o.Error)
	// The run's context may have ended (signal, timeout): the record must still be written.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	finishRun := func() error { return r.Store.FinishRun(fctx, res.Run.ID, o) }
	err := r.write("finish_run", finishRun)
	for wait := time.Second; err != nil && runErr == nil && wait <= 4*time.Second; wait *= 2 {
		// A published run's record matters most: a few more tries before giving up on it.
		log.Warn("record run end failed, trying again", "in", wait.String(), "err", err)
		if r.sleep(fctx, wait) != nil {
			break
		}
		if r.recorded(fctx, res.Run) {
			err = nil // an earlier try landed; only its answer was lost
			break
		}
		err = r.write("finish_run", finishRun)
	}
	res.Run.Status, res.Run.Error, res.Run.Ended = o.Status, o.Error, r.now()
	res.Run.Rows, res.Run.Bytes, res.Run.Chunks, res.Run.Tables = o.Rows, o.Bytes, o.Chunks, o.Tables
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attrStatus.String(o.Status), attrRows.Int64(o.Rows), attrBytes.Int64(o.Bytes), attrChunks.Int64(o.Chunks))
	if err != nil {
		log.Error("record run end", "status", o.Status, "err", err)
		if runErr == nil && !res.NoChanges && res.Run.SessionID != "" {
			res.Run.Status = StatusRunning // as the store still has it
			return &UnsettledError{Published: true, DatasetID: res.DatasetID, SessionID: res.Run.SessionID, Err: fmt.Errorf("record run %d: %w", res.Run.ID, err)}
		}
	}
	log.Info("run finished", "status", o.Status, "rows", o.Rows, "bytes", o.Bytes, "chunks", o.Chunks,
		"duration", res.Run.Ended.Sub(res.Run.Started).Round(time.Millisecond))
	return runErr
}

// recorded reports whether the store has run settled already (no longer among the
// unfinished ones).
func (r *Runner) recorded(ctx context.Context, run Run) bool {
	runs, err := r.Store.UnfinishedRuns(ctx, run.Job)
	return err == nil && !slices.ContainsFunc(runs, func(u Run) bool { return u.ID == run.ID })
}

// runTotals sums what the run pushed, per run and per table.
func runTotals(tables []TableResult) (rows, bytes, chunks int64, out []RunTable) {
	for _, t := range tables {
		rows += t.Rows
		bytes += t.Bytes
		chunks += t.Chunks
		out = append(out, RunTable{Name: t.Name, Policy: string(t.Policy), Rows: t.Rows, Bytes: t.Bytes, Chunks: t.Chunks, Duration: t.Duration})
	}
	return rows, bytes, chunks, out
}
