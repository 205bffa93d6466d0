package storetest

// The conformance suite every jobs.Store runs: one cohesive thing, a subtest per behaviour of
// the interface, so that the stores cannot differ.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cubesync/cubesync/jobs"
)

// Run runs the conformance suite against the Stores that open returns.
//
// open is called one or more times in each subtest. Calls with the same t must return
// Stores sharing one backing storage (the same directory, the same database), the way two
// processes share it; each subtest's t gets fresh, empty storage of its own (PerTest helps).
// The suite closes every Store it opens.
//
// Backends keep times to the microsecond, in UTC, except LoadedFile.ModTime, which is kept
// exactly: it is compared with a file's modification time.
func Run(t *testing.T, open func(t *testing.T) jobs.Store) {
	s := &suite{open: open}
	t.Run("RunLifecycle", s.runLifecycle)
	t.Run("FinishRunRejects", s.finishRunRejects)
	t.Run("UnfinishedRunsFindRecordedSession", s.unfinishedRuns)
	t.Run("OnlySucceededRunSavesWatermarksAndFiles", s.onlySucceededSaves)
	t.Run("SessionPhasesAndPendingState", s.sessionPhases)
	t.Run("FailedRunWithOpenSessionIsSettledLater", s.failedRunSettledLater)
	t.Run("RunsOrderFilterLimit", s.runsOrderFilterLimit)
	t.Run("DatasetID", s.datasetID)
	t.Run("Watermarks", s.watermarks)
	t.Run("LoadedFiles", s.loadedFiles)
	t.Run("ClaimSlotOnce", s.claimSlotOnce)
	t.Run("ClaimSlotConcurrently", s.claimSlotConcurrently)
	t.Run("LastSlot", s.lastSlot)
	t.Run("LockExclusive", s.lockExclusive)
	t.Run("Ping", s.ping)
	t.Run("PauseResume", s.pauseResume)
	t.Run("RunRequestTakenOnce", s.runRequestTakenOnce)
	t.Run("Deliveries", s.deliveries)
}

// PerTest memoises create per test: the first call with a given t creates the value (a
// directory, a database DSN), later calls with the same t return it. It makes an open
// function for Run out of a constructor of fresh storage.
func PerTest[T any](create func(t *testing.T) T) func(t *testing.T) T {
	var mu sync.Mutex
	made := map[*testing.T]T{}
	return func(t *testing.T) T {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if v, ok := made[t]; ok {
			return v
		}
		v := create(t)
		made[t] = v
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			delete(made, t)
		})
		return v
	}
}

type suite struct {
	open func(t *testing.T) jobs.Store
}

// store opens a Store on the subtest's storage and closes it when the subtest ends.
func (s *suite) store(t *testing.T) jobs.Store {
	t.Helper()
	st := s.open(t)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// base is a time with microseconds, as a cron slot or a watermark has them.
var base = time.Date(2024, 5, 1, 10, 11, 12, 123456000, time.UTC)

func (s *suite) runLifecycle(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)

	started := time.Now().Add(-time.Minute) // nanoseconds: the store keeps microseconds
	in := jobs.Run{
		Job:       "sales",
		Trigger:   jobs.TriggerSchedule,
		Scheduled: base.In(time.FixedZone("CEST", 2*3600)),
		Started:   started,
		Status:    jobs.StatusSucceeded, // ignored: a new run is running
		Host:      "host-a:123",
		Attempt:   2,
		TraceID:   "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	run := mustStartRun(t, st, in)
	if run.ID <= 0 {
		t.Fatalf("StartRun returned ID %d, want a positive ID", run.ID)
	}
	want := in
	want.ID = run.ID
	want.Status = jobs.StatusRunning
	want.Started = started.Truncate(time.Microsecond)
	assertRun(t, "StartRun", run, want)
	assertRuns(t, "Runs after StartRun", mustRuns(t, st, "sales", 10), []jobs.Run{want})

	second := mustStartRun(t, st, jobs.Run{Job: "sales", Trigger: jobs.TriggerManual, Started: time.Now()})
	if second.ID <= run.ID {
		t.Errorf("second StartRun returned ID %d, want greater than the first's %d", second.ID, run.ID)
	}
	if !second.Scheduled.IsZero() {
		t.Errorf("manual run: Scheduled = %v, want the zero time", second.Scheduled)
	}

	o := jobs.Outcome{Status: jobs.StatusFailed, Rows: 10, Bytes: 2048, Chunks: 3, Error: `push table "orders": 500`,
		Tables: []jobs.RunTable{{Name: "stores", Policy: "replace", Rows: 10, Bytes: 2048, Chunks: 3, Duration: 1500 * time.Millisecond}, {Name: "orders", Policy: "upsert"}}}
	if err := st.FinishRun(ctx, run.ID, o); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	runs := mustRuns(t, st, "sales", 10)
	if len(runs) != 2 {
		t.Fatalf("Runs after FinishRun: got %d runs, want 2", len(runs))
	}
	got := runs[1]
	if got.Ended.IsZero() || got.Ended.Before(got.Started) {
		t.Errorf("finished run: Ended = %v, want a time at or after Started %v", got.Ended, got.Started)
	}
	want.Status, want.Rows, want.Bytes, want.Chunks, want.Error, want.Tables = o.Status, o.Rows, o.Bytes, o.Chunks, o.Error, o.Tables
	want.Ended = got.Ended
	assertRun(t, "Runs after FinishRun", got, want)
	if !runs[0].Ended.IsZero() || runs[0].Status != jobs.StatusRunning {
		t.Errorf("the other run: status %q ended %v, want running with no end", runs[0].Status, runs[0].Ended)
	}
}

func (s *suite) finishRunRejects(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	run := mustStartRun(t, st, jobs.Run{Job: "sales", Trigger: jobs.TriggerManual, Started: time.Now()})

	if err := st.FinishRun(ctx, run.ID+1000, jobs.Outcome{Status: jobs.StatusSucceeded}); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("FinishRun of an unknown run: err = %v, want ErrNotFound", err)
	}
	for _, status := range []string{"", jobs.StatusRunning, "done"} {
		if err := st.FinishRun(ctx, run.ID, jobs.Outcome{Status: status}); err == nil {
			t.Errorf("FinishRun with status %q: err = nil, want an error", status)
		}
	}
	if err := st.FinishRun(ctx, run.ID, jobs.Outcome{Status: jobs.StatusAbandoned}); err != nil {
		t.Fatalf("FinishRun abandoned: %v", err)
	}
	// A run recorded abandoned by the next run must not be turned into a success by a
	// process that was presumed dead: its session was cancelled, its watermarks are stale.
	late := jobs.Outcome{Status: jobs.StatusSucceeded, Watermarks: []jobs.Watermark{{Job: "sales", Table: "orders", Column: "id", Kind: "int", Value: "9"}}}
	if err := st.FinishRun(ctx, run.ID, late); err == nil {
		t.Errorf("FinishRun of an abandoned run: err = nil, want an error")
	}
	if got := mustRuns(t, st, "sales", 1)[0].Status; got != jobs.StatusAbandoned {
		t.Errorf("after a second FinishRun: status = %q, want %q kept", got, jobs.StatusAbandoned)
	}
	if marks := mustWatermarks(t, st, "sales"); len(marks) != 0 {
		t.Errorf("after a rejected FinishRun: watermarks = %v, want none", marks)
	}
}

func (s *suite) unfinishedRuns(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	older := mustStartRun(t, st, jobs.Run{Job: "sales", Trigger: jobs.TriggerSchedule, Scheduled: base, Started: time.Now()})
	newer := mustStartRun(t, st, jobs.Run{Job: "sales", Trigger: jobs.TriggerManual, Started: time.Now()})
	mustStartRun(t, st, jobs.Run{Job: "stock", Trigger: jobs.TriggerManual, Started: time.Now()})
	done := mustStartRun(t, st, jobs.Run{Job: "sales", Trigger: jobs.TriggerManual, Started: time.Now()})
	if err := st.FinishRun(ctx, done.ID, jobs.Outcome{Status: jobs.StatusSucceeded}); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}

	if err := st.SetRunSession(ctx, older.ID, "DS1", "SESSION-1"); err != nil {
		t.Fatalf("SetRunSession: %v", err)
	}
	if err := st.SetRunSession(ctx, newer.ID+1000, "DS1", "SESSION-X"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("SetRunSession of an unknown run: err = %v, want ErrNotFound", err)
	}

	// The next process (another Store on the same storage) finds the dead runs.
	next := s.store(t)
	got, err := next.UnfinishedRuns(ctx, "sales")
	if err != nil {
		t.Fatalf("UnfinishedRuns: %v", err)
	}
	if len(got) != 2 || got[0].ID != older.ID || got[1].ID != newer.ID {
		t.Fatalf("UnfinishedRuns(sales) = %v, want runs %d and %d, oldest first", runIDs(got), older.ID, newer.ID)
	}
	if got[0].DatasetID != "DS1" || got[0].SessionID != "SESSION-1" {
		t.Errorf("unfinished run %d: dataset %q session %q, want DS1 and SESSION-1", got[0].ID, got[0].DatasetID, got[0].SessionID)
	}
	if got[1].SessionID != "" {
		t.Errorf("unfinished run %d never opened a session: SessionID = %q, want empty", got[1].ID, got[1].SessionID)
	}

	if err := next.FinishRun(ctx, older.ID, jobs.Outcome{Status: jobs.StatusAbandoned, Error: "process died"}); err != nil {
		t.Fatalf("FinishRun abandoned: %v", err)
	}
	got, err = st.UnfinishedRuns(ctx, "sales")
	if err != nil {
		t.Fatalf("UnfinishedRuns: %v", err)
	}
	if len(got) != 1 || got[0].ID != newer.ID {
		t.Errorf("UnfinishedRuns after abandoning %d = %v, want only %d", older.ID, runIDs(got), newer.ID)
	}
	if got, _ := st.UnfinishedRuns(ctx, "nothing"); len(got) != 0 {
		t.Errorf("UnfinishedRuns of a job never run = %v, want none", runIDs(got))
	}
}

// The phases a run records before and after each call to the server reach the next
// process, and the pending state is committed only by a succeeded FinishRun.
func (s *suite) sessionPhases(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	run := mustStartRun(t, st, jobs.Run{Job: "sales", Trigger: jobs.TriggerManual, Started: time.Now()})
	unsettled := func(what string) jobs.Run {
		t.Helper()
		got, err := s.store(t).UnfinishedRuns(ctx, "sales") // as the next process sees it
		if err != nil {
			t.Fatalf("%s: UnfinishedRuns: %v", what, err)
		}
		if len(got) != 1 || got[0].ID != run.ID {
			t.Fatalf("%s: UnfinishedRuns = %v, want run %d", what, runIDs(got), run.ID)
		}
		return got[0]
	}
	if r := unsettled("after StartRun"); r.Phase != jobs.PhaseNone || r.Pending != nil {
		t.Errorf("after StartRun: phase %q pending %v, want none", r.Phase, r.Pending)
	}
	if err := st.SetRunPending(ctx, run.ID, jobs.Pending{}); err == nil {
		t.Errorf("SetRunPending before a session is recorded: err = nil, want an error")
	}

	if err := st.SetRunSession(ctx, run.ID, "DS1", ""); err != nil {
		t.Fatalf("SetRunSession opening: %v", err)
	}
	if r := unsettled("opening"); r.Phase != jobs.PhaseOpening || r.DatasetID != "DS1" || r.SessionID != "" {
		t.Errorf("opening: phase %q dataset %q session %q, want %q, DS1 and none", r.Phase, r.DatasetID, r.SessionID, jobs.PhaseOpening)
	}
	if err := st.SetRunSession(ctx, run.ID, "DS1", "S1"); err != nil {
		t.Fatalf("SetRunSession: %v", err)
	}
	if r := unsettled("open"); r.Phase != jobs.PhaseOpen || r.SessionID != "S1" {
		t.Errorf("open: phase %q session %q, want %q and S1", r.Phase, r.SessionID, jobs.PhaseOpen)
	}

	mod := time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC) // nanoseconds: kept exactly
	pending := jobs.Pending{
		Watermarks: []jobs.Watermark{{Job: "sales", Table: "orders", Column: "updated_at", Kind: "timestamptz", Value: "2024-05-01T10:00:00.123456Z"}},
		Files:      []jobs.LoadedFile{{Job: "sales", Table: "events", Path: "/data/e1.parquet", Size: 42, ModTime: mod}},
	}
	if err := st.SetRunPending(ctx, run.ID, jobs.Pending{Watermarks: []jobs.Watermark{{Job: "stock", Table: "t"}}}); err == nil {
		t.Errorf("SetRunPending with another job's watermark: err = nil, want an error")
	}
	if err := st.SetRunPending(ctx, run.ID, pending); err != nil {
		t.Fatalf("SetRunPending: %v", err)
	}
	r := unsettled("publishing")
	if r.Phase != jobs.PhasePublishing || r.Pending == nil || len(r.Pending.Watermarks) != 1 || len(r.Pending.Files) != 1 {
		t.Fatalf("publishing: phase %q pending %+v, want %q with one watermark and one file", r.Phase, r.Pending, jobs.PhasePublishing)
	}
	if w := r.Pending.Watermarks[0]; w.Table != "orders" || w.Column != "updated_at" || w.Kind != "timestamptz" || w.Value != pending.Watermarks[0].Value {
		t.Errorf("pending watermark = %+v, want %+v", w, pending.Watermarks[0])
	}
	if f := r.Pending.Files[0]; f.Table != "events" || f.Path != "/data/e1.parquet" || f.Size != 42 || !f.ModTime.Equal(mod) {
		t.Errorf("pending file = %+v, want %+v", f, pending.Files[0])
	}
	if marks := mustWatermarks(t, st, "sales"); len(marks) != 0 {
		t.Errorf("pending watermarks were saved before the run succeeded: %v", marks)
	}

	// The next run found the session published: it commits the pending state.
	next := s.store(t)
	o := jobs.Outcome{Status: jobs.StatusSucceeded, Rows: 7, Error: "published; recorded by run 9", Watermarks: r.Pending.Watermarks, Files: r.Pending.Files}
	if err := next.FinishRun(ctx, run.ID, o); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	if got, _ := st.UnfinishedRuns(ctx, "sales"); len(got) != 0 {
		t.Errorf("UnfinishedRuns after the run succeeded = %v, want none", runIDs(got))
	}
	done := mustRuns(t, st, "sales", 1)[0]
	if done.Status != jobs.StatusSucceeded || done.Phase != jobs.PhaseNone || done.Pending != nil || done.SessionID != "S1" || done.Error != o.Error {
		t.Errorf("finished run: status %q phase %q pending %v session %q error %q, want succeeded, no phase, no pending, S1, %q",
			done.Status, done.Phase, done.Pending, done.SessionID, done.Error, o.Error)
	}
	if w := mustWatermarks(t, st, "sales")["orders"]; w.Value != pending.Watermarks[0].Value {
		t.Errorf("watermark after the commit = %q, want %q", w.Value, pending.Watermarks[0].Value)
	}
	if f, ok := mustLoadedFiles(t, st, "sales", "events")["/data/e1.parquet"]; !ok || !f.ModTime.Equal(mod) {
		t.Errorf("loaded file after the commit = %+v (found %v), want mod time %v", f, ok, mod)
	}
	if err := st.FinishRun(ctx, run.ID, jobs.Outcome{Status: jobs.StatusAbandoned}); err == nil {
		t.Errorf("FinishRun of a settled run: err = nil, want an error")
	}
	if err := st.SetRunSession(ctx, run.ID, "DS1", "S2"); err == nil {
		t.Errorf("SetRunSession of a finished run: err = nil, want an error")
	}
	if err := st.SetRunPending(ctx, run.ID, pending); err == nil {
		t.Errorf("SetRunPending of a finished run: err = nil, want an error")
	}
}

// A run that ended failed but could not cancel its session, or could not tell whether its
// publish completed, keeps it for the next run to settle.
func (s *suite) failedRunSettledLater(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	run := mustStartRun(t, st, jobs.Run{Job: "sales", Trigger: jobs.TriggerManual, Started: time.Now()})
	if err := st.SetRunSession(ctx, run.ID, "DS1", "S1"); err != nil {
		t.Fatal(err)
	}
	pending := jobs.Pending{Watermarks: []jobs.Watermark{{Job: "sales", Table: "orders", Column: "id", Kind: "int", Value: "9"}}}
	if err := st.SetRunPending(ctx, run.ID, pending); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishRun(ctx, run.ID, jobs.Outcome{Status: jobs.StatusFailed, Error: "publish status unknown", KeepSession: true}); err != nil {
		t.Fatalf("FinishRun failed keeping the session: %v", err)
	}
	got, err := s.store(t).UnfinishedRuns(ctx, "sales")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Status != jobs.StatusFailed || got[0].Phase != jobs.PhasePublishing || got[0].SessionID != "S1" || got[0].Pending == nil {
		t.Fatalf("UnfinishedRuns = %+v, want the failed run %d with its session S1 and pending state", got, run.ID)
	}
	if marks := mustWatermarks(t, st, "sales"); len(marks) != 0 {
		t.Errorf("a failed run saved watermarks: %v", marks)
	}
	// Its session turned out not published: cancelled, the run stays failed, nothing saved.
	if err := st.FinishRun(ctx, run.ID, jobs.Outcome{Status: jobs.StatusFailed, Error: "publish status unknown; not published, cancelled by run 2"}); err != nil {
		t.Fatalf("FinishRun settling the failed run: %v", err)
	}
	if got, _ := st.UnfinishedRuns(ctx, "sales"); len(got) != 0 {
		t.Errorf("UnfinishedRuns after settling = %v, want none", runIDs(got))
	}
	if r := mustRuns(t, st, "sales", 1)[0]; r.Status != jobs.StatusFailed || r.Phase != jobs.PhaseNone || r.Error != "publish status unknown; not published, cancelled by run 2" {
		t.Errorf("settled run: status %q phase %q error %q", r.Status, r.Phase, r.Error)
	}
	if marks := mustWatermarks(t, st, "sales"); len(marks) != 0 {
		t.Errorf("settling as failed saved watermarks: %v", marks)
	}
}

func (s *suite) onlySucceededSaves(t *testing.T) {
	ctx := context.Background()
	before := jobs.Watermark{Job: "sales", Table: "orders", Column: "updated_at", Kind: "timestamptz", Value: "2024-05-01T10:11:12.123456Z"}
	after := before
	after.Value = "2024-05-02T00:00:00.000001Z"
	file := jobs.LoadedFile{Job: "sales", Table: "stock", Path: "/data/stock/1.parquet", Size: 100, ModTime: base}

	for _, status := range []string{jobs.StatusFailed, jobs.StatusInterrupted, jobs.StatusAbandoned, jobs.StatusSkipped} {
		t.Run(status, func(t *testing.T) {
			st := s.store(t)
			if err := st.SetWatermark(ctx, before); err != nil {
				t.Fatalf("SetWatermark: %v", err)
			}
			run := mustStartRun(t, st, jobs.Run{Job: "sales", Trigger: jobs.TriggerManual, Started: time.Now()})
			o := jobs.Outcome{Status: status, Watermarks: []jobs.Watermark{after}, Files: []jobs.LoadedFile{file}}
			if err := st.FinishRun(ctx, run.ID, o); err != nil {
				t.Fatalf("FinishRun %s: %v", status, err)
			}
			if got := mustWatermarks(t, st, "sales")["orders"].Value; got != before.Value {
				t.Errorf("after a %s run: watermark = %q, want %q unchanged", status, got, before.Value)
			}
			if got := mustLoadedFiles(t, st, "sales", "stock"); len(got) != 0 {
				t.Errorf("after a %s run: loaded files = %v, want none", status, got)
			}
		})
	}

	t.Run(jobs.StatusSucceeded, func(t *testing.T) {
		st := s.store(t)
		if err := st.SetWatermark(ctx, before); err != nil {
			t.Fatalf("SetWatermark: %v", err)
		}
		run := mustStartRun(t, st, jobs.Run{Job: "sales", Trigger: jobs.TriggerManual, Started: time.Now()})
		o := jobs.Outcome{Status: jobs.StatusSucceeded, Rows: 5, Watermarks: []jobs.Watermark{after}, Files: []jobs.LoadedFile{file}}
		if err := st.FinishRun(ctx, run.ID, o); err != nil {
			t.Fatalf("FinishRun succeeded: %v", err)
		}
		if got := mustWatermarks(t, st, "sales")["orders"].Value; got != after.Value {
			t.Errorf("after a succeeded run: watermark = %q, want %q", got, after.Value)
		}
		if got := mustLoadedFiles(t, st, "sales", "stock"); len(got) != 1 {
			t.Errorf("after a succeeded run: loaded files = %v, want %s", got, file.Path)
		}
	})

	t.Run("watermark of another job", func(t *testing.T) {
		st := s.store(t)
		run := mustStartRun(t, st, jobs.Run{Job: "sales", Trigger: jobs.TriggerManual, Started: time.Now()})
		other := after
		other.Job = "stock"
		if err := st.FinishRun(ctx, run.ID, jobs.Outcome{Status: jobs.StatusSucceeded, Watermarks: []jobs.Watermark{other}}); err == nil {
			t.Errorf("FinishRun of a sales run with a stock watermark: err = nil, want an error")
		}
		if marks := mustWatermarks(t, st, "stock"); len(marks) != 0 {
			t.Errorf("after a rejected FinishRun: stock watermarks = %v, want none", marks)
		}
		// All or nothing: the run's status did not change either.
		if runs, err := st.UnfinishedRuns(ctx, "sales"); err != nil || len(runs) != 1 {
			t.Errorf("after a rejected FinishRun: unfinished runs = %v, %v; want run %d still running", runIDs(runs), err, run.ID)
		}
	})
}

func (s *suite) runsOrderFilterLimit(t *testing.T) {
	st := s.store(t)
	var all []jobs.Run
	for i, job := range []string{"a", "b", "a", "a", "b"} {
		all = append(all, mustStartRun(t, st, jobs.Run{Job: job, Trigger: jobs.TriggerSchedule, Scheduled: base.Add(time.Duration(i) * time.Hour), Started: time.Now()}))
	}
	ids := func(idx ...int) []int64 {
		var out []int64
		for _, i := range idx {
			out = append(out, all[i].ID)
		}
		return out
	}
	tests := []struct {
		job   string
		limit int
		want  []int64
	}{
		{"", 0, ids(4, 3, 2, 1, 0)},
		{"", 3, ids(4, 3, 2)},
		{"a", 0, ids(3, 2, 0)},
		{"a", 2, ids(3, 2)},
		{"b", 10, ids(4, 1)},
		{"c", 10, nil},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("job=%q,limit=%d", tc.job, tc.limit), func(t *testing.T) {
			got := runIDs(mustRuns(t, st, tc.job, tc.limit))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Runs(%q, %d) = %v, want %v", tc.job, tc.limit, got, tc.want)
			}
		})
	}
}

func (s *suite) datasetID(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	if _, err := st.DatasetID(ctx, "sales"); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("DatasetID before any was set: err = %v, want ErrNotFound", err)
	}
	if _, err := st.DatasetName(ctx, "sales"); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("DatasetName before any was set: err = %v, want ErrNotFound", err)
	}
	for _, ds := range []struct{ id, name string }{{"A1B2", "Sales"}, {"C3D4", "Sales EU"}, {"C3D4", ""}} {
		if err := st.SetDatasetID(ctx, "sales", ds.id, ds.name); err != nil {
			t.Fatalf("SetDatasetID(%s, %q): %v", ds.id, ds.name, err)
		}
		got, err := s.store(t).DatasetID(ctx, "sales")
		if err != nil || got != ds.id {
			t.Errorf("DatasetID after SetDatasetID(%s) = %q, %v; want %q", ds.id, got, err, ds.id)
		}
		name, err := s.store(t).DatasetName(ctx, "sales")
		if err != nil || name != ds.name {
			t.Errorf("DatasetName after SetDatasetID(%s, %q) = %q, %v; want %q", ds.id, ds.name, name, err, ds.name)
		}
	}
	if _, err := st.DatasetID(ctx, "stock"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("DatasetID of another job: err = %v, want ErrNotFound", err)
	}
	if err := st.SetDatasetID(ctx, "stock", "E5F6", "Stock"); err != nil {
		t.Fatal(err)
	}
	if err := st.ForgetDatasetID(ctx, "sales"); err != nil {
		t.Fatalf("ForgetDatasetID: %v", err)
	}
	if _, err := s.store(t).DatasetID(ctx, "sales"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("DatasetID after ForgetDatasetID: err = %v, want ErrNotFound", err)
	}
	if _, err := s.store(t).DatasetName(ctx, "sales"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("DatasetName after ForgetDatasetID: err = %v, want ErrNotFound", err)
	}
	if name, err := s.store(t).DatasetName(ctx, "stock"); err != nil || name != "Stock" {
		t.Errorf("DatasetName of another job after ForgetDatasetID(sales) = %q, %v; want Stock", name, err)
	}
	if got, err := s.store(t).DatasetID(ctx, "stock"); err != nil || got != "E5F6" {
		t.Errorf("DatasetID of another job after ForgetDatasetID(sales) = %q, %v; want E5F6", got, err)
	}
	if err := st.ForgetDatasetID(ctx, "sales"); err != nil {
		t.Errorf("ForgetDatasetID of a job with no dataset: %v, want nil", err)
	}
}

func (s *suite) watermarks(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	if marks := mustWatermarks(t, st, "sales"); len(marks) != 0 {
		t.Fatalf("Watermarks of a new job = %v, want none", marks)
	}
	set := []jobs.Watermark{
		{Job: "sales", Table: "orders", Column: "updated_at", Kind: "timestamptz", Value: "2024-05-01T10:11:12.123456Z"},
		{Job: "sales", Table: "lines", Column: "changed", Kind: "timestamp", Value: "2024-05-01T10:11:12.000001"},
		{Job: "sales", Table: "days", Column: "day", Kind: "date", Value: "2024-05-01"},
		{Job: "sales", Table: "events", Column: "id", Kind: "int", Value: "9223372036854775807"},
		{Job: "stock", Table: "orders", Column: "id", Kind: "int", Value: "7"},
	}
	for _, w := range set {
		if err := st.SetWatermark(ctx, w); err != nil {
			t.Fatalf("SetWatermark(%s.%s): %v", w.Job, w.Table, err)
		}
	}
	marks := mustWatermarks(t, s.store(t), "sales")
	if len(marks) != 4 {
		t.Errorf("Watermarks(sales) has %d tables, want 4: %v", len(marks), marks)
	}
	for _, w := range set[:4] {
		got, ok := marks[w.Table]
		if !ok {
			t.Errorf("Watermarks(sales) has no table %q", w.Table)
			continue
		}
		if got.Job != w.Job || got.Table != w.Table || got.Column != w.Column || got.Kind != w.Kind || got.Value != w.Value {
			t.Errorf("watermark %s = %+v, want %+v (value kept exactly)", w.Table, got, w)
		}
		if got.Updated.IsZero() {
			t.Errorf("watermark %s: Updated is zero, want the time it was set", w.Table)
		}
	}

	moved := set[0]
	moved.Value = "2024-05-03T00:00:00.5Z"
	if err := st.SetWatermark(ctx, moved); err != nil {
		t.Fatalf("SetWatermark again: %v", err)
	}
	if got := mustWatermarks(t, st, "sales")["orders"].Value; got != moved.Value {
		t.Errorf("after a second SetWatermark: value = %q, want %q", got, moved.Value)
	}

	if err := st.ClearWatermark(ctx, "sales", "orders"); err != nil {
		t.Fatalf("ClearWatermark(sales, orders): %v", err)
	}
	marks = mustWatermarks(t, st, "sales")
	if _, ok := marks["orders"]; ok || len(marks) != 3 {
		t.Errorf("after clearing orders: tables %v, want lines, days and events", keys(marks))
	}
	if err := st.ClearWatermark(ctx, "sales", "orders"); err != nil {
		t.Errorf("clearing a watermark that is not there: %v, want nil", err)
	}
	if err := st.ClearWatermark(ctx, "sales", ""); err != nil {
		t.Fatalf("ClearWatermark(sales, all tables): %v", err)
	}
	if marks := mustWatermarks(t, st, "sales"); len(marks) != 0 {
		t.Errorf("after clearing every table: tables %v, want none", keys(marks))
	}
	if got := mustWatermarks(t, st, "stock")["orders"].Value; got != "7" {
		t.Errorf("clearing sales touched stock: its orders watermark = %q, want 7", got)
	}
}

func (s *suite) loadedFiles(t *testing.T) {
	st := s.store(t)
	// File systems record nanoseconds; a file whose time came back rounded would look
	// rewritten and be loaded again.
	mtime := time.Date(2024, 5, 1, 10, 11, 12, 123456789, time.FixedZone("CEST", 2*3600))
	files := []jobs.LoadedFile{
		{Job: "sales", Table: "stock", Path: "/data/stock/2024/05/01.parquet", Size: 1 << 40, ModTime: mtime},
		{Job: "sales", Table: "stock", Path: "/data/stock/2024/05/02.parquet", Size: 10, ModTime: mtime.Add(time.Nanosecond)},
		{Job: "sales", Table: "prices", Path: "/data/prices.parquet", Size: 20, ModTime: mtime},
	}
	finish(t, st, "sales", jobs.Outcome{Status: jobs.StatusSucceeded, Files: files})

	got := mustLoadedFiles(t, s.store(t), "sales", "stock")
	if len(got) != 2 {
		t.Fatalf("LoadedFiles(sales, stock) = %v, want the two stock files", keys(got))
	}
	for _, f := range files[:2] {
		g, ok := got[f.Path]
		if !ok {
			t.Errorf("LoadedFiles(sales, stock) has no %s", f.Path)
			continue
		}
		if g.Job != f.Job || g.Table != f.Table || g.Path != f.Path || g.Size != f.Size || !g.ModTime.Equal(f.ModTime) {
			t.Errorf("loaded file %s = %+v, want %+v (ModTime to the nanosecond)", f.Path, g, f)
		}
		if g.Loaded.IsZero() {
			t.Errorf("loaded file %s: Loaded is zero, want the time it was recorded", f.Path)
		}
	}

	rewritten := files[0]
	rewritten.Size, rewritten.ModTime = 5, mtime.Add(time.Hour)
	finish(t, st, "sales", jobs.Outcome{Status: jobs.StatusSucceeded, Files: []jobs.LoadedFile{rewritten}})
	got = mustLoadedFiles(t, st, "sales", "stock")
	if g := got[rewritten.Path]; g.Size != 5 || !g.ModTime.Equal(rewritten.ModTime) || len(got) != 2 {
		t.Errorf("after loading a rewritten file: %+v (of %d files), want size 5 and the new time among 2 files", g, len(got))
	}
	if got := mustLoadedFiles(t, st, "stock", "stock"); len(got) != 0 {
		t.Errorf("LoadedFiles of another job = %v, want none", keys(got))
	}
}

func (s *suite) claimSlotOnce(t *testing.T) {
	ctx := context.Background()
	a, b := s.store(t), s.store(t)
	tests := []struct {
		name  string
		store jobs.Store
		job   string
		at    time.Time
		want  bool
	}{
		{"first claim", a, "sales", base, true},
		{"same slot again", a, "sales", base, false},
		{"same slot from another store", b, "sales", base, false},
		{"same instant in another zone", b, "sales", base.In(time.FixedZone("EST", -5*3600)), false},
		{"next slot", b, "sales", base.Add(time.Minute), true},
		{"same time, another job", b, "stock", base, true},
	}
	for _, tc := range tests {
		got, err := tc.store.ClaimSlot(ctx, tc.job, tc.at)
		if err != nil {
			t.Fatalf("%s: ClaimSlot(%s, %v): %v", tc.name, tc.job, tc.at, err)
		}
		if got != tc.want {
			t.Errorf("%s: ClaimSlot(%s, %v) = %v, want %v", tc.name, tc.job, tc.at, got, tc.want)
		}
	}
}

func (s *suite) claimSlotConcurrently(t *testing.T) {
	ctx := context.Background()
	stores := []jobs.Store{s.store(t), s.store(t)}
	const claimers = 16
	for round := range 3 {
		at := base.Add(time.Duration(round) * time.Second)
		var wg sync.WaitGroup
		won := make(chan bool, claimers)
		errs := make(chan error, claimers)
		for i := range claimers {
			wg.Go(func() {
				ok, err := stores[i%len(stores)].ClaimSlot(ctx, "sales", at)
				if err != nil {
					errs <- err
					return
				}
				won <- ok
			})
		}
		wg.Wait()
		close(won)
		close(errs)
		for err := range errs {
			t.Errorf("ClaimSlot: %v", err)
		}
		winners := 0
		for ok := range won {
			if ok {
				winners++
			}
		}
		if winners != 1 {
			t.Errorf("slot %v claimed by %d of %d concurrent claimers, want exactly 1", at, winners, claimers)
		}
	}
}

func (s *suite) lastSlot(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	if got, err := st.LastSlot(ctx, "sales"); err != nil || !got.IsZero() {
		t.Fatalf("LastSlot of a job never scheduled = %v, %v; want the zero time", got, err)
	}
	for _, d := range []time.Duration{0, 2 * time.Hour, time.Hour} {
		if _, err := st.ClaimSlot(ctx, "sales", base.Add(d)); err != nil {
			t.Fatalf("ClaimSlot: %v", err)
		}
	}
	if _, err := st.ClaimSlot(ctx, "stock", base.Add(5*time.Hour)); err != nil {
		t.Fatalf("ClaimSlot: %v", err)
	}
	got, err := s.store(t).LastSlot(ctx, "sales")
	if err != nil {
		t.Fatalf("LastSlot: %v", err)
	}
	if want := base.Add(2 * time.Hour); !got.Equal(want) {
		t.Errorf("LastSlot(sales) = %v, want the latest claimed slot %v", got, want)
	}
}

func (s *suite) lockExclusive(t *testing.T) {
	ctx := context.Background()
	a, b := s.store(t), s.store(t)

	unlockA, err := a.Lock(ctx, "sales")
	if err != nil {
		t.Fatalf("first Lock(sales): %v", err)
	}
	if _, err := b.Lock(ctx, "sales"); !errors.Is(err, jobs.ErrLocked) {
		t.Errorf("Lock(sales) from another store while held: err = %v, want ErrLocked", err)
	}
	if _, err := a.Lock(ctx, "sales"); !errors.Is(err, jobs.ErrLocked) {
		t.Errorf("Lock(sales) from the holding store while held: err = %v, want ErrLocked", err)
	}
	unlockStock, err := b.Lock(ctx, "stock")
	if err != nil {
		t.Errorf("Lock(stock) while sales is held: %v, want another job's lock to be free", err)
	} else if err := unlockStock.Unlock(); err != nil {
		t.Errorf("unlock stock: %v", err)
	}

	if err := unlockA.Check(ctx); err != nil {
		t.Errorf("Check of a held lock: %v, want nil", err)
	}
	select {
	case <-unlockA.Lost():
		t.Errorf("Lost of a held lock is closed")
	default:
	}
	if err := unlockA.Unlock(); err != nil {
		t.Fatalf("unlock sales: %v", err)
	}
	if err := unlockA.Unlock(); err != nil {
		t.Errorf("second unlock of sales: %v, want nil", err)
	}
	unlockB, err := b.Lock(ctx, "sales")
	if err != nil {
		t.Fatalf("Lock(sales) after it was unlocked: %v", err)
	}
	if err := unlockB.Unlock(); err != nil {
		t.Errorf("unlock sales: %v", err)
	}
}

func (s *suite) ping(t *testing.T) {
	if err := s.store(t).Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// finish records one run of job that ended with o.
func finish(t *testing.T, st jobs.Store, job string, o jobs.Outcome) {
	t.Helper()
	run := mustStartRun(t, st, jobs.Run{Job: job, Trigger: jobs.TriggerManual, Started: time.Now()})
	if err := st.FinishRun(context.Background(), run.ID, o); err != nil {
		t.Fatalf("FinishRun(%d, %s): %v", run.ID, o.Status, err)
	}
}

func mustStartRun(t *testing.T, st jobs.Store, r jobs.Run) jobs.Run {
	t.Helper()
	run, err := st.StartRun(context.Background(), r)
	if err != nil {
		t.Fatalf("StartRun(%s): %v", r.Job, err)
	}
	return run
}

func mustRuns(t *testing.T, st jobs.Store, job string, limit int) []jobs.Run {
	t.Helper()
	runs, err := st.Runs(context.Background(), job, limit)
	if err != nil {
		t.Fatalf("Runs(%q, %d): %v", job, limit, err)
	}
	return runs
}

func mustWatermarks(t *testing.T, st jobs.Store, job string) map[string]jobs.Watermark {
	t.Helper()
	marks, err := st.Watermarks(context.Background(), job)
	if err != nil {
		t.Fatalf("Watermarks(%s): %v", job, err)
	}
	return marks
}

func mustLoadedFiles(t *testing.T, st jobs.Store, job, table string) map[string]jobs.LoadedFile {
	t.Helper()
	files, err := st.LoadedFiles(context.Background(), job, table)
	if err != nil {
		t.Fatalf("LoadedFiles(%s, %s): %v", job, table, err)
	}
	return files
}

func runIDs(runs []jobs.Run) []int64 {
	var ids []int64
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	return ids
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func assertRuns(t *testing.T, what string, got, want []jobs.Run) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got runs %v, want %v", what, runIDs(got), runIDs(want))
	}
	for i := range got {
		assertRun(t, what, got[i], want[i])
	}
}

// assertRun compares runs field by field, times as instants.
func assertRun(t *testing.T, what string, got, want jobs.Run) {
	t.Helper()
	norm := func(r jobs.Run) string {
		ts := func(x time.Time) string {
			if x.IsZero() {
				return "zero"
			}
			return x.UTC().Format(time.RFC3339Nano)
		}
		return fmt.Sprintf("id=%d job=%q trigger=%q scheduled=%s started=%s ended=%s status=%q dataset=%q session=%q rows=%d bytes=%d chunks=%d error=%q host=%q attempt=%d tables=%+v trace=%q",
			r.ID, r.Job, r.Trigger, ts(r.Scheduled), ts(r.Started), ts(r.Ended), r.Status, r.DatasetID, r.SessionID, r.Rows, r.Bytes, r.Chunks, r.Error, r.Host, max(r.Attempt, 1), r.Tables, r.TraceID)
	}
	if g, w := norm(got), norm(want); g != w {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func (s *suite) pauseResume(t *testing.T) {
	ctx := context.Background()
	a, b := s.store(t), s.store(t)
	if p, err := b.Paused(ctx); err != nil || len(p) != 0 {
		t.Fatalf("Paused on fresh storage = %v, %v; want none", p, err)
	}
	if err := a.SetPaused(ctx, "sales", true, "alice"); err != nil {
		t.Fatal(err)
	}
	first, err := b.Paused(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := first["sales"]; !ok || p.By != "alice" || p.Since.IsZero() || len(first) != 1 {
		t.Fatalf("Paused seen by another store = %+v, want sales paused by alice", first)
	}
	// Pausing again keeps the first pause.
	if err := b.SetPaused(ctx, "sales", true, "bob"); err != nil {
		t.Fatal(err)
	}
	if p, _ := a.Paused(ctx); p["sales"].By != "alice" || !p["sales"].Since.Equal(first["sales"].Since) {
		t.Errorf("after a second pause: %+v, want the first pause kept", p["sales"])
	}
	if err := b.SetPaused(ctx, "sales", false, "bob"); err != nil {
		t.Fatal(err)
	}
	if p, err := a.Paused(ctx); err != nil || len(p) != 0 {
		t.Errorf("Paused after resume = %v, %v; want none", p, err)
	}
	if err := a.SetPaused(ctx, "sales", false, ""); err != nil {
		t.Errorf("resume of a job that is not paused: %v, want nil", err)
	}
}

func (s *suite) runRequestTakenOnce(t *testing.T) {
	ctx := context.Background()
	stores := []jobs.Store{s.store(t), s.store(t)}
	r1, err := stores[0].RequestRun(ctx, "sales", "cli")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := stores[1].RequestRun(ctx, "orders", "http")
	if err != nil {
		t.Fatal(err)
	}
	if r1.ID == r2.ID || r1.Requested.IsZero() || r1.Job != "sales" || r1.By != "cli" {
		t.Fatalf("requests %+v and %+v, want distinct ids, times, job and by", r1, r2)
	}
	pending, err := stores[1].PendingRequests(ctx)
	if err != nil || len(pending) != 2 || pending[0].ID != r1.ID || pending[1].ID != r2.ID {
		t.Fatalf("PendingRequests = %+v, %v; want both, oldest first", pending, err)
	}
	const takers = 8
	var wg sync.WaitGroup
	won := make(chan bool, takers)
	for i := range takers {
		wg.Go(func() {
			ok, err := stores[i%2].TakeRequest(ctx, r1.ID)
			if err != nil {
				t.Errorf("TakeRequest: %v", err)
			}
			won <- ok
		})
	}
	wg.Wait()
	close(won)
	winners := 0
	for ok := range won {
		if ok {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("request taken by %d of %d concurrent takers, want exactly 1", winners, takers)
	}
	got, err := stores[0].Request(ctx, r1.ID)
	if err != nil || got.Taken.IsZero() || got.TakenBy == "" {
		t.Errorf("Request after taking = %+v, %v; want taken, by a host", got, err)
	}
	if ok, err := stores[0].WithdrawRequest(ctx, r1.ID); err != nil || ok {
		t.Errorf("WithdrawRequest of a taken request = %v, %v; want false", ok, err)
	}
	if ok, err := stores[0].WithdrawRequest(ctx, r2.ID); err != nil || !ok {
		t.Errorf("WithdrawRequest of a pending request = %v, %v; want true", ok, err)
	}
	if pending, err := stores[1].PendingRequests(ctx); err != nil || len(pending) != 0 {
		t.Errorf("PendingRequests at the end = %+v, %v; want none", pending, err)
	}
	if _, err := stores[1].Request(ctx, r2.ID); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("Request of a withdrawn request: %v, want ErrNotFound", err)
	}
	if ok, err := stores[1].TakeRequest(ctx, r2.ID); err != nil || ok {
		t.Errorf("TakeRequest of a withdrawn request = %v, %v; want false", ok, err)
	}
}

func (s *suite) deliveries(t *testing.T) {
	ctx := context.Background()
	a, b := s.store(t), s.store(t)
	first := jobs.Delivery{Job: "sales", RunID: 7, Notifier: "ops", Event: jobs.EventFailure, Status: jobs.DeliveryDelivered, Attempts: 2, At: base}
	second := jobs.Delivery{Job: "sales", Notifier: "ops", Event: jobs.EventMissed, Status: jobs.DeliveryFailed, Attempts: 5, Error: "webhook answered 500", At: base.Add(time.Second)}
	other := jobs.Delivery{Job: "orders", RunID: 8, Notifier: "team", Event: jobs.EventSuccess, Status: jobs.DeliveryDelivered, Attempts: 1, At: base.Add(2 * time.Second)}
	for _, d := range []jobs.Delivery{first, second, other} {
		if err := a.RecordDelivery(ctx, d); err != nil {
			t.Fatalf("RecordDelivery(%+v): %v", d, err)
		}
	}
	got, err := b.Deliveries(ctx, "sales", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Deliveries(sales) = %+v, want 2", got)
	}
	for i, want := range []jobs.Delivery{second, first} {
		g := got[i]
		g.ID = 0
		if g != want {
			t.Errorf("Deliveries(sales)[%d] = %+v, want %+v", i, g, want)
		}
	}
	if all, err := b.Deliveries(ctx, "", 2); err != nil || len(all) != 2 || all[0].Job != "orders" {
		t.Errorf("Deliveries(all, 2) = %+v, %v; want the 2 newest, orders first", all, err)
	}
}
