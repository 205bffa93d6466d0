package jobs_test

// Tests of the Scheduler on testutil.FakeClock (held: time moves only when the test moves
// it) with a fake runner: one cohesive thing, overlap, claims across replicas, catch-up,
// DST, timeout, retry and shutdown; scheduler_ops_test.go has the operational ones.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/sink/emulator"
)

// fakeRun is one call of fakeRunner.Run, held until the test releases it.
type fakeRun struct {
	job     string
	opts    jobs.RunOptions
	ctx     context.Context
	release chan error
}

// fakeRunner hands every run to the test and returns what the test says.
type fakeRunner struct {
	calls chan *fakeRun
}

func newFakeRunner() *fakeRunner { return &fakeRunner{calls: make(chan *fakeRun, 100)} }

func (r *fakeRunner) Run(ctx context.Context, job *jobs.Job, opts jobs.RunOptions) (*jobs.Result, error) {
	fr := &fakeRun{job: job.Name, opts: opts, ctx: ctx, release: make(chan error, 1)}
	r.calls <- fr
	select {
	case err := <-fr.release:
		return &jobs.Result{Run: jobs.Run{Job: job.Name, Scheduled: opts.Scheduled}}, err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// next returns the next run the scheduler started.
func (r *fakeRunner) next(t testing.TB) *fakeRun {
	t.Helper()
	select {
	case fr := <-r.calls:
		return fr
	case <-time.After(10 * time.Second):
		t.Fatal("the scheduler started no run within 10s")
		return nil
	}
}

// none checks that no run has started.
func (r *fakeRunner) none(t testing.TB) {
	t.Helper()
	select {
	case fr := <-r.calls:
		t.Fatalf("unexpected run of slot %v (trigger %s)", fr.opts.Scheduled, fr.opts.Trigger)
	default:
	}
}

// recorder is a SchedulerObserver that keeps what it is told.
type recorder struct {
	mu      sync.Mutex
	skipped map[string][]time.Time // by reason
	ended   chan ended
}

type ended struct {
	slot time.Time
	res  *jobs.Result
	err  error
}

func newRecorder() *recorder {
	return &recorder{skipped: map[string][]time.Time{}, ended: make(chan ended, 100)}
}

func (r *recorder) RunStarted(string, time.Time) {}
func (r *recorder) RunEnded(job string, slot time.Time, res *jobs.Result, err error) {
	r.ended <- ended{slot: slot, res: res, err: err}
}
func (r *recorder) SlotSkipped(job string, slot time.Time, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped[reason] = append(r.skipped[reason], slot)
}

func (r *recorder) skips(reason string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.skipped[reason])
}

func (r *recorder) nextEnd(t testing.TB) ended {
	t.Helper()
	select {
	case e := <-r.ended:
		return e
	case <-time.After(20 * time.Second):
		t.Fatal("no run ended within 20s")
		return ended{}
	}
}

// schedHarness is a scheduler on a fake clock running one job.
type schedHarness struct {
	*testBundle
	clock *testutil.FakeClock
	rec   *recorder
	sched *jobs.Scheduler
	logs  *testutil.SyncBuffer
	job   *jobs.Job

	cancel context.CancelFunc
	done   chan error
}

// newSched builds a scheduler for the job named name in body; runner nil means the real
// Runner of the bundle, on the fake clock.
func newSched(t *testing.T, start time.Time, name, body string, runner jobs.JobRunner) *schedHarness {
	t.Helper()
	b := setup(t)
	h := &schedHarness{testBundle: b, clock: testutil.NewFakeClock(start).Hold(0), rec: newRecorder(), logs: &testutil.SyncBuffer{}}
	h.job = b.job(t, name, body)
	if runner == nil {
		b.runner.Clock = h.clock
		runner = b.runner
	}
	h.sched = &jobs.Scheduler{
		Store:         b.store,
		Runner:        runner,
		Logger:        slog.New(slog.NewJSONHandler(h.logs, nil)),
		Clock:         h.clock,
		Observer:      h.rec,
		ShutdownGrace: 25 * time.Second,
	}
	return h
}

func (h *schedHarness) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.sched.Run(ctx, []*jobs.Job{h.job}) }()
	t.Cleanup(func() {
		cancel()
		deadline := time.After(20 * time.Second)
		for {
			h.clock.Advance(time.Hour) // past any grace period
			select {
			case <-h.done:
				return
			case <-time.After(10 * time.Millisecond):
			case <-deadline:
				t.Error("scheduler did not stop within 20s of its context ending")
				return
			}
		}
	})
}

// stop ends scheduling and returns what Run returned.
func (h *schedHarness) stop(t *testing.T) error {
	t.Helper()
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("scheduler did not stop within 20s")
		return nil
	}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// scheduledJob is the job name (its dataset the name in capitals) replacing table t with
// data/none.parquet, scheduled by keys (its schedule and the keys that go with it).
func scheduledJob(name, keys string) string {
	return fmt.Sprintf(`
[jobs.%[1]s]
%[2]s
target = "emu"
dataset = { name = %[3]q }
[[jobs.%[1]s.tables]]
name = "t"
policy = "replace"
parquet = "data/none.parquet"
`, name, keys, strings.ToUpper(name))
}

// minutelyJob is job m, due every minute, with overlap.
func minutelyJob(overlap string) string {
	return scheduledJob("m", fmt.Sprintf("schedule = \"* * * * *\"\noverlap = %q", overlap))
}

func TestSchedulerOverlap(t *testing.T) {
	t0 := utc("2024-05-01T10:00:30Z")
	m1, m2, m3, m4 := utc("2024-05-01T10:01:00Z"), utc("2024-05-01T10:02:00Z"), utc("2024-05-01T10:03:00Z"), utc("2024-05-01T10:04:00Z")

	// firstRun starts the scheduler on job m with overlap and returns it with its runner and
	// the run of slot m1, still running.
	firstRun := func(t *testing.T, overlap string) (*schedHarness, *fakeRunner, *fakeRun) {
		t.Helper()
		fr := newFakeRunner()
		h := newSched(t, t0, "m", minutelyJob(overlap), fr)
		h.start(t)
		h.clock.AwaitSleepUntil(t, m1)
		h.clock.Set(m1)
		return h, fr, fr.next(t)
	}

	t.Run("skip", func(t *testing.T) {
		h, fr, first := firstRun(t, "skip")
		if !first.opts.Scheduled.Equal(m1) || first.opts.Trigger != jobs.TriggerSchedule {
			t.Fatalf("first run: slot %v trigger %q, want slot %v trigger schedule", first.opts.Scheduled, first.opts.Trigger, m1)
		}
		h.clock.AwaitSleepUntil(t, m2)
		h.clock.Set(m2) // the 10:01 run is still going: 10:02 is skipped
		h.clock.AwaitSleepUntil(t, m3)
		fr.none(t)
		if got := h.rec.skips(jobs.SkipRunning); len(got) != 1 || !got[0].Equal(m2) {
			t.Errorf("skipped slots = %v, want [%v]", got, m2)
		}
		if st := h.sched.Status()[0]; st.Skipped != 1 || !st.Running || !st.RunningSlot.Equal(m1) {
			t.Errorf("status = %+v, want running slot %v with 1 skipped", st, m1)
		}
		first.release <- nil
		h.rec.nextEnd(t)
		h.clock.Set(m3)
		if got := fr.next(t).opts.Scheduled; !got.Equal(m3) {
			t.Errorf("run after the skip has slot %v, want %v", got, m3)
		}
		if !strings.Contains(h.logs.String(), "slot skipped: the job's previous run is still running") {
			t.Errorf("no log line says the slot was skipped; logs:\n%s", h.logs)
		}
	})

	t.Run("wait", func(t *testing.T) {
		h, fr, first := firstRun(t, "wait")
		h.clock.AwaitSleepUntil(t, m2)
		h.clock.Set(m2) // waits for the 10:01 run
		h.clock.AwaitSleepUntil(t, m3)
		h.clock.Set(m3) // a slot already waits: skipped, so no backlog builds up
		h.clock.AwaitSleepUntil(t, m4)
		fr.none(t)
		if st := h.sched.Status()[0]; !st.Waiting.Equal(m2) {
			t.Errorf("status: waiting slot %v, want %v", st.Waiting, m2)
		}
		first.release <- nil
		second := fr.next(t)
		if !second.opts.Scheduled.Equal(m2) {
			t.Errorf("the run after the first has slot %v, want the waiting %v", second.opts.Scheduled, m2)
		}
		if got := h.rec.skips(jobs.SkipWaiting); len(got) != 1 || !got[0].Equal(m3) {
			t.Errorf("skipped slots = %v, want [%v]", got, m3)
		}
		second.release <- nil
	})
}

func TestSchedulerSlotClaimedElsewhere(t *testing.T) {
	fr := newFakeRunner()
	h := newSched(t, utc("2024-05-01T10:00:30Z"), "m", minutelyJob("skip"), fr)
	// Another replica claimed 10:01 already (with skewed clocks it may even be early).
	if ok, err := h.store.ClaimSlot(context.Background(), "m", utc("2024-05-01T10:01:00Z")); err != nil || !ok {
		t.Fatalf("claim slot: %v %v", ok, err)
	}
	h.start(t)
	h.clock.AwaitSleepUntil(t, utc("2024-05-01T10:01:00Z"))
	h.clock.Set(utc("2024-05-01T10:01:00Z"))
	h.clock.AwaitSleepUntil(t, utc("2024-05-01T10:02:00Z"))
	fr.none(t)
	h.clock.Set(utc("2024-05-01T10:02:00Z"))
	if got := fr.next(t).opts.Scheduled; !got.Equal(utc("2024-05-01T10:02:00Z")) {
		t.Errorf("ran slot %v, want 10:02 (10:01 belongs to another replica)", got)
	}
}

func TestSchedulerLockedElsewhere(t *testing.T) {
	for _, overlap := range []string{"skip", "wait"} {
		t.Run(overlap, func(t *testing.T) {
			h := newSched(t, utc("2024-05-01T10:00:30Z"), "m", minutelyJob(overlap), nil)
			writeSampleSales(t, h.testBundle, "data/none.parquet")
			// Another process runs the job: it holds the job's lock.
			lease, err := h.store.Lock(context.Background(), "m")
			if err != nil {
				t.Fatal(err)
			}
			h.sched.LockPoll = 5 * time.Second
			h.start(t)
			h.clock.AwaitSleepUntil(t, utc("2024-05-01T10:01:00Z"))
			h.clock.Set(utc("2024-05-01T10:01:00Z"))
			if overlap == "skip" {
				e := h.rec.nextEnd(t)
				if !errors.Is(e.err, jobs.ErrLocked) {
					t.Fatalf("run error = %v, want ErrLocked", e.err)
				}
				if got := h.rec.skips(jobs.SkipLocked); len(got) != 1 {
					t.Errorf("slots skipped as locked = %v, want the 10:01 slot", got)
				}
				holder := jobs.LockHolder(e.err)
				if holder == "another process" || !strings.Contains(h.logs.String(), `"level":"WARN","msg":"slot skipped: already running on `+holder+`"`) {
					t.Errorf("no WARN line says the slot was skipped and where the job runs (%s); logs:\n%s", holder, h.logs)
				}
				lease.Unlock()
				return
			}
			if e := h.rec.nextEnd(t); !errors.Is(e.err, jobs.ErrLocked) {
				t.Fatalf("first try: %v, want ErrLocked", e.err)
			}
			h.clock.AwaitSleepUntil(t, utc("2024-05-01T10:01:05Z")) // polling for the lock
			lease.Unlock()
			h.clock.Set(utc("2024-05-01T10:01:05Z"))
			if e := h.rec.nextEnd(t); e.err != nil || e.res.Run.Status != jobs.StatusSucceeded {
				t.Fatalf("run once the lock was free: %v, want success", e.err)
			}
			if got := h.rec.skips(jobs.SkipLocked); len(got) != 0 {
				t.Errorf("with overlap = wait no slot may be skipped, got %v", got)
			}
		})
	}
}

// writeSampleSales writes a small orders file the test jobs read.
func writeSampleSales(t *testing.T, b *testBundle, name string) {
	t.Helper()
	writeSales(t, b.dir, name, []int64{1, 2, 3}, []string{"north", "south", "north"}, []int32{1, 2, 3}, []float64{10.5, 20, 30})
}

// hourlyJob is job h, due on the hour, with catchup_window window.
func hourlyJob(window string) string {
	return scheduledJob("h", fmt.Sprintf("schedule = \"0 * * * *\"\ncatchup_window = %q", window))
}

func TestSchedulerCatchUp(t *testing.T) {
	now := utc("2024-05-01T12:10:00Z")
	tests := []struct {
		name        string
		window      string
		lastSlot    time.Time // zero: the job never ran
		wantCatchup time.Time // zero: nothing caught up
		wantMissed  int
	}{
		{"never ran", "6h", time.Time{}, time.Time{}, 0},
		{"nothing missed", "6h", utc("2024-05-01T12:00:00Z"), time.Time{}, 0},
		{"one missed", "6h", utc("2024-05-01T11:00:00Z"), utc("2024-05-01T12:00:00Z"), 0},
		{"three missed, latest run once", "6h", utc("2024-05-01T09:00:00Z"), utc("2024-05-01T12:00:00Z"), 2},
		{"down longer than the window", "6h", utc("2024-04-30T22:00:00Z"), utc("2024-05-01T12:00:00Z"), 13},
		{"latest slot older than the window", "5m", utc("2024-05-01T10:00:00Z"), time.Time{}, 2},
		{"catchup_window = 0: nothing caught up, the slot missed", "0s", utc("2024-05-01T11:00:00Z"), time.Time{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := newFakeRunner()
			h := newSched(t, now, "h", hourlyJob(tt.window), fr)
			if !tt.lastSlot.IsZero() {
				if _, err := h.store.ClaimSlot(context.Background(), "h", tt.lastSlot); err != nil {
					t.Fatal(err)
				}
			}
			h.start(t)
			h.clock.AwaitSleepUntil(t, utc("2024-05-01T13:00:00Z")) // catch-up is done by then
			if tt.wantCatchup.IsZero() {
				fr.none(t)
			} else {
				r := fr.next(t)
				if !r.opts.Scheduled.Equal(tt.wantCatchup) || r.opts.Trigger != jobs.TriggerCatchup {
					t.Errorf("caught up slot %v trigger %q, want slot %v trigger catchup", r.opts.Scheduled, r.opts.Trigger, tt.wantCatchup)
				}
				r.release <- nil
				fr.none(t)
			}
			if got := len(h.rec.skips(jobs.SkipMissed)); got != tt.wantMissed {
				t.Errorf("%d slots reported missed, want %d", got, tt.wantMissed)
			}
			if tt.wantMissed > 0 && !strings.Contains(h.logs.String(), fmt.Sprintf(`"count":"%d"`, tt.wantMissed)) {
				t.Errorf("no log line reports %d missed slots; logs:\n%s", tt.wantMissed, h.logs)
			}
			if last, err := h.store.LastSlot(context.Background(), "h"); err != nil || (!tt.wantCatchup.IsZero() && !last.Equal(tt.wantCatchup)) {
				t.Errorf("last slot in the store = %v (%v), want %v", last, err, tt.wantCatchup)
			}
		})
	}
}

func TestSchedulerCatchUpClaimedOnce(t *testing.T) {
	// Two replicas start together after downtime: the missed slot runs on one of them.
	fr := newFakeRunner()
	h := newSched(t, utc("2024-05-01T12:10:00Z"), "h", hourlyJob("6h"), fr)
	ctx := context.Background()
	if _, err := h.store.ClaimSlot(ctx, "h", utc("2024-05-01T11:00:00Z")); err != nil {
		t.Fatal(err)
	}
	other := &jobs.Scheduler{Store: h.store, Runner: fr, Clock: h.clock}
	octx, ocancel := context.WithCancel(ctx)
	odone := make(chan error, 1)
	go func() { odone <- other.Run(octx, []*jobs.Job{h.job}) }()
	h.start(t)
	r := fr.next(t)
	r.release <- nil
	h.clock.AwaitSleepers(t, utc("2024-05-01T13:00:00Z"), 2) // both loops past the catch-up
	fr.none(t)
	ocancel()
	<-odone
}

func TestSchedulerDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04 MST", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// robfig/cron computes slots in the CRON_TZ zone: on the spring-forward day 02:30 does
	// not exist and that day has no slot; on the fall-back day 02:30 happens twice, an
	// hour apart, and both are slots.
	tests := []struct {
		name  string
		start time.Time
		want  []time.Time
	}{
		{"spring forward", at("2024-03-30 12:00 CET"), []time.Time{at("2024-04-01 02:30 CEST"), at("2024-04-02 02:30 CEST")}},
		{"fall back", at("2024-10-26 12:00 CEST"), []time.Time{utc("2024-10-27T00:30:00Z"), utc("2024-10-27T01:30:00Z"), at("2024-10-28 02:30 CET")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := newFakeRunner()
			h := newSched(t, tt.start, "d", scheduledJob("d", `schedule = "CRON_TZ=Europe/Berlin 30 2 * * *"`), fr)
			h.start(t)
			for _, want := range tt.want {
				// The run's 2h timeout waits on the clock too, until the run ends.
				timeout := h.clock.Now().Add(2 * time.Hour)
				next := h.clock.AwaitSleep(t, "the next slot", func(at time.Time) bool { return !at.Equal(timeout) })
				if !next.Equal(want) {
					t.Fatalf("next slot = %v (%v), want %v (%v)", next.In(berlin), next.UTC(), want.In(berlin), want.UTC())
				}
				if st := h.sched.Status()[0]; !st.Next.Equal(want) {
					t.Errorf("status says next run %v, want %v", st.Next, want)
				}
				h.clock.Set(next)
				r := fr.next(t)
				if !r.opts.Scheduled.Equal(want) {
					t.Errorf("ran slot %v, want %v", r.opts.Scheduled, want)
				}
				r.release <- nil
				h.rec.nextEnd(t)
			}
		})
	}
}

// salesScheduled is salesJob due on the hour with a 10m timeout and attempts attempts 5m
// apart, its table loading new files only.
func salesScheduled(attempts int) string {
	return strings.Replace(salesJob, "[jobs.sales]\n", fmt.Sprintf(`[jobs.sales]
schedule = "0 * * * *"
timeout = "10m"
retry = { attempts = %d, initial_delay = "5m", max_delay = "5m" }
`, attempts), 1) + "incremental = { files = \"new\" }\n"
}

// waitRunSession blocks until the job has a run in progress whose upload session is open.
func waitRunSession(t *testing.T, b *testBundle, job string) jobs.Run {
	t.Helper()
	var run jobs.Run
	testutil.WaitFor(t, 10*time.Second, "a run of "+job+" with an open upload session", func() bool {
		runs, err := b.store.UnfinishedRuns(context.Background(), job)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) == 1 && runs[0].SessionID != "" && len(b.emu.OpenSessions()) == 1 {
			run = runs[0]
			return true
		}
		return false
	})
	return run
}

func TestSchedulerTimeout(t *testing.T) {
	h := newSched(t, utc("2024-05-01T09:59:00Z"), "sales", salesScheduled(3), nil)
	writeSampleSales(t, h.testBundle, "data/orders.parquet")
	h.emu.SetPublishDelay(time.Hour) // the publish never completes on its own
	h.start(t)
	slot := utc("2024-05-01T10:00:00Z")
	h.clock.AwaitSleepUntil(t, slot)
	h.clock.Set(slot)
	run := waitRunSession(t, h.testBundle, "sales")
	h.clock.AwaitSleepUntil(t, slot.Add(10*time.Minute)) // the run's timeout
	h.clock.Set(slot.Add(10 * time.Minute))
	e := h.rec.nextEnd(t)
	if !errors.Is(e.err, context.DeadlineExceeded) || !strings.Contains(e.err.Error(), `job "sales" timed out after 10m0s`) {
		t.Fatalf("run error = %v, want a timeout naming the job", e.err)
	}
	if e.res == nil || e.res.Attempts != 1 {
		t.Errorf("a timed-out run must not be retried (result %+v)", e.res)
	}
	runs, err := h.store.Runs(context.Background(), "sales", 10)
	if err != nil || len(runs) != 1 || runs[0].ID != run.ID || runs[0].Status != jobs.StatusFailed || !strings.Contains(runs[0].Error, `job "sales" timed out after 10m0s`) {
		t.Fatalf("recorded runs = %+v (%v), want the one run failed with the timeout (a timeout is not an interruption)", runs, err)
	}
	if n := strings.Count(e.err.Error(), "timed out"); n != 1 {
		t.Errorf("run error %q says %d times that it timed out, want once", e.err, n)
	}
	if !strings.Contains(h.logs.String(), `timed out after 10m0s`) {
		t.Errorf("no log line says the run timed out; logs:\n%s", h.logs)
	}
	if open := h.emu.OpenSessions(); len(open) != 0 {
		t.Errorf("upload sessions still open after the timeout: %+v", open)
	}
	if files, _ := h.store.LoadedFiles(context.Background(), "sales", "orders"); len(files) != 0 {
		t.Errorf("a timed-out run recorded loaded files %v", files)
	}
}

func TestSchedulerRetry(t *testing.T) {
	h := newSched(t, utc("2024-05-01T09:59:00Z"), "sales", salesScheduled(2), nil)
	writeSampleSales(t, h.testBundle, "data/orders.parquet")
	// The first attempt's upload fails on every call retry (the bundle's client retries twice).
	for range 3 {
		h.emu.FailNth(emulator.CallPut, 1, 503, "")
	}
	h.start(t)
	slot := utc("2024-05-01T10:00:00Z")
	h.clock.AwaitSleepUntil(t, slot)
	h.clock.Set(slot)
	// The retry waits 5m ±20% on the scheduler's clock.
	wake := h.clock.AwaitSleep(t, "the retry backoff", func(at time.Time) bool {
		return !at.Before(slot.Add(4*time.Minute)) && !at.After(slot.Add(6*time.Minute))
	})
	runs, err := h.store.Runs(context.Background(), "sales", 10)
	if err != nil || len(runs) != 1 || runs[0].Status != jobs.StatusFailed {
		t.Fatalf("after the first attempt runs = %+v (%v), want one failed", runs, err)
	}
	if open := h.emu.OpenSessions(); len(open) != 0 {
		t.Errorf("the failed attempt left its session open: %+v", open)
	}
	h.clock.Set(wake)
	e := h.rec.nextEnd(t)
	if e.err != nil || e.res.Attempts != 2 {
		t.Fatalf("run: %v (attempts %d), want success on the second attempt", e.err, e.res.Attempts)
	}
	runs, _ = h.store.Runs(context.Background(), "sales", 10)
	if len(runs) != 2 || runs[0].Status != jobs.StatusSucceeded || runs[1].Status != jobs.StatusFailed {
		t.Fatalf("runs = %+v, want failed then succeeded", runs)
	}
	if runs[0].SessionID == runs[1].SessionID || !runs[0].Scheduled.Equal(slot) || !runs[1].Scheduled.Equal(slot) {
		t.Errorf("attempts: sessions %q and %q, slots %v and %v; want two sessions for the one slot %v",
			runs[1].SessionID, runs[0].SessionID, runs[1].Scheduled, runs[0].Scheduled, slot)
	}
	if got := h.rows(t, e.res.DatasetID, "orders"); len(got) != 3 {
		t.Errorf("published %d rows, want 3", len(got))
	}
}

func TestSchedulerShutdown(t *testing.T) {
	t.Run("runs finish within the grace period", func(t *testing.T) {
		fr := newFakeRunner()
		h := newSched(t, utc("2024-05-01T10:00:30Z"), "m", minutelyJob("skip"), fr)
		h.start(t)
		h.clock.AwaitSleepUntil(t, utc("2024-05-01T10:01:00Z"))
		h.clock.Set(utc("2024-05-01T10:01:00Z"))
		r := fr.next(t)
		h.cancel()
		h.clock.AwaitSleepUntil(t, utc("2024-05-01T10:01:25Z")) // the grace period
		if p := h.sched.Phase(); p != jobs.PhaseStopping {
			t.Errorf("phase = %q, want stopping", p)
		}
		h.clock.Set(utc("2024-05-01T10:01:24Z")) // within the grace period
		if r.ctx.Err() != nil {
			t.Fatal("the run was cancelled within the grace period")
		}
		r.release <- nil
		if err := h.stop(t); err != nil {
			t.Errorf("Run = %v, want nil after a clean shutdown", err)
		}
		h.clock.Set(utc("2024-05-01T10:05:00Z"))
		fr.none(t) // no run after shutdown
	})

	t.Run("runs cancelled after the grace period", func(t *testing.T) {
		h := newSched(t, utc("2024-05-01T09:59:00Z"), "sales", salesScheduled(3), nil)
		writeSampleSales(t, h.testBundle, "data/orders.parquet")
		h.emu.SetPublishDelay(time.Hour)
		h.start(t)
		slot := utc("2024-05-01T10:00:00Z")
		h.clock.AwaitSleepUntil(t, slot)
		h.clock.Set(slot)
		run := waitRunSession(t, h.testBundle, "sales")
		h.cancel()
		h.clock.AwaitSleepUntil(t, slot.Add(25*time.Second))
		h.clock.Set(slot.Add(25 * time.Second))
		err := h.stop(t)
		if !errors.Is(err, jobs.ErrRunsCancelled) || !strings.Contains(err.Error(), "sales") {
			t.Fatalf("Run = %v, want ErrRunsCancelled naming the job", err)
		}
		runs, _ := h.store.Runs(context.Background(), "sales", 10)
		if len(runs) != 1 || runs[0].ID != run.ID || runs[0].Status != jobs.StatusInterrupted {
			t.Fatalf("runs = %+v, want the one run interrupted", runs)
		}
		if open := h.emu.OpenSessions(); len(open) != 0 {
			t.Errorf("upload session left open after the shutdown: %+v", open)
		}
		if files, _ := h.store.LoadedFiles(context.Background(), "sales", "orders"); len(files) != 0 {
			t.Errorf("an interrupted run recorded loaded files %v", files)
		}
	})
}
