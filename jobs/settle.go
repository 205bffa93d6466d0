package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cubesync/cubesync/sink"
)

// UnsettledError fails a run whose publish may have completed, or did, but whose outcome
// is not recorded: the store keeps the run's session and pending state, and the next run of
// the job settles it (asks the server, then commits the pending state or cancels the
// session), so nothing is pushed twice and nothing is lost. It is never retried in place.
type UnsettledError struct {
	// Published: the server reported the publish done; the record of it failed.
	Published bool
	DatasetID string
	SessionID string
	Err       error
}

func (e *UnsettledError) Error() string {
	if e.Published {
		return fmt.Sprintf("PUBLISHED upload session %s of dataset %s, but the run could not be recorded (%v): the data is live, its watermarks and loaded files are not saved yet; the next run finds the session published and saves them then, pushing nothing twice",
			e.SessionID, e.DatasetID, e.Err)
	}
	return fmt.Sprintf("publish of upload session %s of dataset %s: outcome unknown (%v): the next run asks the server and records the run as succeeded if it was published, or cancels the session if not, pushing nothing twice",
		e.SessionID, e.DatasetID, e.Err)
}

func (e *UnsettledError) Unwrap() error { return e.Err }

func isUnrecorded(err error) bool {
	ue, ok := errors.AsType[*UnsettledError](err)
	return ok && ue.Published
}

// checkLease checks the job's lock before a publish; a dry run has none.
func checkLease(ctx context.Context, l Lease) error {
	if l == nil {
		return nil
	}
	return l.Check(ctx)
}

// openSession records that the run opens an upload session, opens it, and records its id
// the moment it arrives. A 409 for a session the store does not know (opened by a run that
// died before it could record the id, or by a first POST whose answer was lost) is resolved
// by cancelling that session when the server names it.
func (r *Runner) openSession(ctx context.Context, c *sink.Client, res *Result, tables []sink.SessionTable, log *slog.Logger) (*sink.Session, error) {
	ds := res.DatasetID
	if err := r.write("record_opening", func() error { return r.Store.SetRunSession(ctx, res.Run.ID, ds, "") }); err != nil {
		return nil, fmt.Errorf("record that an upload session is being opened on dataset %s: %w", ds, err)
	}
	s, err := c.OpenSession(ctx, ds, tables)
	if stray, conflict := sink.OpenSessionConflict(err, ds); conflict {
		// Every session a run recorded was settled at the start of this run, under the
		// job's lock: an open one is a session no run knows, and nothing was published
		// from it (a session is recorded before anything is uploaded to it).
		if stray == "" {
			return nil, fmt.Errorf("%w; the state store has no record of the open session (a run that died while opening it, or another program), and the server does not say which it is: cancel it on the server (DELETE /api/datasets/%s/uploadSessions/<id>) or wait for it to expire, then run the job again", err, ds)
		}
		log.Warn("cancelling an upload session no run recorded (opened by a run that died while opening it, or by a request whose answer was lost)", "session", stray, "dataset", ds)
		if cerr := c.CancelSession(ctx, ds, stray); cerr != nil {
			return nil, fmt.Errorf("%w; cancelling that session %s failed: %w", err, stray, cerr)
		}
		res.notes = append(res.notes, fmt.Sprintf("cancelled upload session %s that no run had recorded (nothing of it was published)", stray))
		s, err = c.OpenSession(ctx, ds, tables)
	}
	if err != nil {
		return nil, err // the error names the dataset
	}
	res.Run.SessionID = s.ID()
	if err := r.write("record_session", func() error { return r.Store.SetRunSession(ctx, res.Run.ID, ds, s.ID()) }); err != nil {
		return s, fmt.Errorf("record upload session %s: %w", s.ID(), err)
	}
	return s, nil
}

// publishFailed decides what a failed Publish means. A publish the server reports failed,
// or still at work when the run must stop (its timeout, a signal, the publish timeout),
// is cancelled: nothing is published. When the server cannot be asked (the status poll
// fails), the publish may have completed: the session is left for the next run to settle.
func (r *Runner) publishFailed(ctx context.Context, s *sink.Session, res *Result, perr error, log *slog.Logger) error {
	if _, ok := errors.AsType[*sink.PublishError](perr); ok {
		res.publishRequested = false // nothing published: cancel the session
		return perr
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	status, msg, err := s.PublishStatus(sctx)
	switch {
	case err == nil && status == sink.PublishStatusDone:
		log.Warn("publish confirmed after an error while waiting for it", "session", s.ID(), "err", perr)
		return nil
	case err == nil && status == sink.PublishStatusError:
		res.publishRequested = false
		return fmt.Errorf("%w; the server then reported the publish failed: %s", perr, msg)
	case err == nil:
		res.publishRequested = false // still at work: cancelled, as any unfinished session
		return perr
	}
	return &UnsettledError{DatasetID: s.DatasetID(), SessionID: s.ID(), Err: fmt.Errorf("%w; asking again: %w", perr, err)}
}

// settleEarlierRuns finishes what earlier runs of the job left behind, so that the server
// holds no session of theirs and every publish is recorded once: runs that died (still
// running), and runs that ended leaving their session (cancel failed, publish outcome
// unknown). The caller holds the job's lock, so none of them is alive but self.
func (r *Runner) settleEarlierRuns(ctx context.Context, c *sink.Client, job *Job, self int64, log *slog.Logger) error {
	runs, err := r.Store.UnfinishedRuns(ctx, job.Name)
	if err != nil {
		return fmt.Errorf("look for earlier runs to settle: %w", err)
	}
	for _, run := range runs {
		if run.ID == self {
			continue
		}
		if err := r.settleRun(ctx, c, run, self, log); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) settleRun(ctx context.Context, c *sink.Client, run Run, self int64, log *slog.Logger) error {
	o := Outcome{Status: run.Status, Rows: run.Rows, Bytes: run.Bytes, Chunks: run.Chunks, Error: run.Error, Tables: run.Tables}
	// What became of the session goes first: history shows the start of long errors.
	say := func(s string) {
		if o.Error == "" {
			o.Error = s
		} else {
			o.Error = s + "; " + o.Error
		}
	}
	if run.Status == StatusRunning {
		o.Status, o.Error = StatusAbandoned, ""
	}
	switch run.Phase {
	case PhaseNone:
		say("the process running it died before it finished")
	case PhaseOpening:
		say(fmt.Sprintf("died while opening an upload session on dataset %s (one the server opened is cancelled when the next is opened)", run.DatasetID))
	case PhaseOpen:
		if err := c.CancelSession(ctx, run.DatasetID, run.SessionID); err != nil {
			return fmt.Errorf("cancel upload session %s left open by run %d: %w", run.SessionID, run.ID, err)
		}
		say(fmt.Sprintf("upload session %s cancelled by run %d, nothing of it published", run.SessionID, self))
	case PhasePublishing:
		published, why, err := r.resumePublish(ctx, c, run)
		if err != nil {
			return fmt.Errorf("settle upload session %s of run %d (every chunk uploaded, publish outcome unknown): %w", run.SessionID, run.ID, err)
		}
		if published {
			o.Status = StatusSucceeded
			if p := run.Pending; p != nil {
				o.Watermarks, o.Files = p.Watermarks, p.Files
				o.Rows, o.Bytes, o.Chunks, o.Tables = p.Rows, p.Bytes, p.Chunks, p.Tables
			}
			what := "its process died before recording it"
			if run.Status != StatusRunning {
				what = "it could not tell: " + run.Error
			}
			o.Error = fmt.Sprintf("published upload session %s; recorded late by run %d (%s)", run.SessionID, self, what)
		} else {
			say(fmt.Sprintf("upload session %s not published (%s), settled by run %d; the watermarks stay", run.SessionID, why, self))
		}
	}
	o.Error = r.Scrubber.Scrub(o.Error)
	if err := r.write("settle_run", func() error { return r.Store.FinishRun(ctx, run.ID, o) }); err != nil {
		return fmt.Errorf("record earlier run %d as %s: %w", run.ID, o.Status, err)
	}
	log.Warn("earlier run settled", "settled_run", run.ID, "status", o.Status, "session", run.SessionID, "note", o.Error)
	return nil
}

// resumePublish settles the session of a run that uploaded every chunk and recorded its
// pending state, then died or could not tell whether its publish completed. A session the
// server reports published is published; one still publishing is waited for; one not yet
// published is published now (all of its chunks are there); a failed publish, or a session
// the server no longer knows (cancelled, expired), is not published.
func (r *Runner) resumePublish(ctx context.Context, c *sink.Client, run Run) (published bool, why string, err error) {
	s := c.Reattach(run.DatasetID, run.SessionID)
	status, msg, err := s.PublishStatus(ctx)
	switch {
	case sink.IsNotFound(err):
		return false, "the server no longer knows it", nil
	case err != nil:
		return false, "", err
	case status == sink.PublishStatusDone:
		return true, "", nil
	case status == sink.PublishStatusError:
		_ = s.Cancel() // ends it; a session gone already is fine
		return false, "its publish failed on the server: " + msg, nil
	}
	if err := s.Publish(ctx); err != nil {
		if pe, ok := errors.AsType[*sink.PublishError](err); ok {
			_ = s.Cancel()
			return false, "its publish failed on the server: " + pe.Message, nil
		}
		if sink.IsNotFound(err) {
			return false, "the server no longer knows it", nil
		}
		return false, "", err
	}
	return true, "", nil
}
