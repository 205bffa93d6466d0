package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
)

// twoHourlyJobs are jobs a and b, both due on the hour, with the keys keys.
func twoHourlyJobs(keys string) string {
	keys = "schedule = \"0 * * * *\"\n" + keys
	return scheduledJob("a", keys) + scheduledJob("b", keys)
}

// TestSchedulerMaxConcurrentRuns: with one run place, of two jobs due together one runs;
// the other runs when the place frees within catchup_window, and is recorded as missed,
// with the reason, when it does not.
func TestSchedulerMaxConcurrentRuns(t *testing.T) {
	start, due := utc("2024-05-01T11:59:30Z"), utc("2024-05-01T12:00:00Z")
	for _, tc := range []struct {
		name      string
		window    string        // catchup_window
		within    time.Duration // how long after the slot it may start
		freeAfter time.Duration // when the first run ends, after the slot
		wantRuns  int
		reason    string // in a missed run's error
	}{
		{"place frees within the window", "10m", 10 * time.Minute, 5 * time.Minute, 2, ""},
		{"no place within the window", "10m", 10 * time.Minute, 15 * time.Minute, 1, "catchup_window (10m0s)"},
		// No catching up: a slot that cannot start on time is missed all the same.
		{"catchup_window = 0, no place on time", "0s", 10 * time.Second, time.Minute, 1, "on time (catchup_window = 0: within 10s of its time)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t)
			clock := testutil.NewFakeClock(start).Hold(0)
			fr := newFakeRunner()
			rec := newRecorder()
			logs := &testutil.SyncBuffer{}
			got := make(chan jobs.Message, 10)
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var m jobs.Message
				if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
					t.Errorf("notification body: %v", err)
				}
				got <- m
			}))
			defer hook.Close()
			body := fmt.Sprintf("[notify.ops]\nurl = %q\non = [\"missed\"]\n", hook.URL) +
				twoHourlyJobs(`catchup_window = "`+tc.window+`"`+"\nnotify = [\"ops\"]")
			ja, jb := loadTwo(t, b, body)
			notify := &jobs.Notifications{Store: b.store}
			sched := &jobs.Scheduler{Store: b.store, Runner: fr, Clock: clock, Observer: rec,
				Logger: slog.New(slog.NewJSONHandler(logs, nil)), MaxConcurrentRuns: 1, Notify: notify}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- sched.Run(ctx, []*jobs.Job{ja, jb}) }()
			defer func() {
				cancel()
				for {
					clock.Advance(time.Hour)
					select {
					case <-done:
						return
					case <-time.After(10 * time.Millisecond):
					}
				}
			}()
			clock.AwaitSleepers(t, due, 2)
			clock.Set(due)
			first := fr.next(t)
			// The other job waits for a place until its catchup_window ends.
			clock.AwaitSleepUntil(t, due.Add(tc.within))
			fr.none(t)

			clock.Set(due.Add(tc.freeAfter))
			if tc.wantRuns == 1 { // the window has passed: the slot is recorded missed first
				testutil.WaitFor(t, 10*time.Second, "the slot to be recorded missed", func() bool { return len(rec.skips(jobs.SkipMissed)) > 0 })
			}
			first.release <- nil
			ran := 1
			if tc.wantRuns == 2 {
				second := fr.next(t)
				if !second.opts.Scheduled.Equal(due) {
					t.Errorf("second run has slot %v, want %v", second.opts.Scheduled, due)
				}
				second.release <- nil
				ran++
			}
			rec.nextEnd(t)
			fr.none(t)
			if ran != tc.wantRuns {
				t.Fatalf("%d runs, want %d", ran, tc.wantRuns)
			}
			missed := rec.skips(jobs.SkipMissed)
			if tc.wantRuns == 2 {
				if len(missed) != 0 {
					t.Errorf("slots reported missed: %v, want none", missed)
				}
				return
			}
			if len(missed) != 1 || !missed[0].Equal(due) {
				t.Fatalf("slots reported missed: %v, want [%v]", missed, due)
			}
			select {
			case m := <-got:
				if m.Event != jobs.EventMissed || m.Status != jobs.StatusMissed || m.Scheduled == nil || !m.Scheduled.Equal(due) ||
					!strings.Contains(m.Error, "max_concurrent_runs") || !strings.Contains(m.Text, "missed its slot") {
					t.Errorf("missed notification = %+v, want event missed for slot %v with the reason", m, due)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no notification of the missed slot within 10s")
			}
			notify.Wait(context.Background())
			other := "b"
			if first.job == "b" {
				other = "a"
			}
			runs, err := b.store.Runs(context.Background(), other, 5)
			if err != nil || len(runs) != 1 {
				t.Fatalf("history of job %s: %+v (%v), want one missed run", other, runs, err)
			}
			r := runs[0]
			if r.Status != jobs.StatusMissed || !r.Scheduled.Equal(due) || !strings.Contains(r.Error, "max_concurrent_runs = 1") || !strings.Contains(r.Error, tc.reason) {
				t.Errorf("missed run recorded as %+v, want status missed for slot %v with a reason naming max_concurrent_runs and %q", r, due, tc.reason)
			}
		})
	}
}

// loadTwo parses body and returns its jobs a and b.
func loadTwo(t *testing.T, b *testBundle, body string) (*jobs.Job, *jobs.Job) {
	t.Helper()
	a := b.job(t, "a", body)
	return a, b.job(t, "b", body)
}

// TestSchedulerJitter: a job with jitter starts each slot at a fixed offset after it, the
// same for every scheduler, and records the slot itself.
func TestSchedulerJitter(t *testing.T) {
	fr := newFakeRunner()
	h := newSched(t, utc("2024-05-01T11:59:30Z"), "h", scheduledJob("h", "schedule = \"0 * * * *\"\njitter = \"10m\""), fr)
	off := h.job.JitterOffset()
	if off <= 0 || off >= 10*time.Minute || off%time.Second != 0 {
		t.Fatalf("jitter offset %v, want whole seconds in (0, 10m) for this name", off)
	}
	again := h.job.JitterOffset()
	other := *h.job
	other.Name = "h2"
	if again != off || other.JitterOffset() == off {
		t.Errorf("offsets: %v then %v for h, %v for h2: want stable per name and different between names", off, again, other.JitterOffset())
	}
	h.start(t)
	slot := utc("2024-05-01T12:00:00Z")
	h.clock.AwaitSleepUntil(t, slot.Add(off))
	if st := h.sched.Status()[0]; !st.Next.Equal(slot.Add(off)) {
		t.Errorf("status next = %v, want the slot plus the jitter %v", st.Next, slot.Add(off))
	}
	h.clock.Set(slot.Add(off - time.Second))
	fr.none(t)
	h.clock.Set(slot.Add(off))
	r := fr.next(t)
	if !r.opts.Scheduled.Equal(slot) {
		t.Errorf("run recorded slot %v, want the cron slot %v", r.opts.Scheduled, slot)
	}
	r.release <- nil
}

// TestSchedulerFullRefreshSlots: the slots of full_refresh run as full refreshes that
// replace, recorded with trigger full_refresh; the others are ordinary.
func TestSchedulerFullRefreshSlots(t *testing.T) {
	fr := newFakeRunner()
	h := newSched(t, utc("2024-05-01T11:59:30Z"), "h", scheduledJob("h", "schedule = \"0 * * * *\"\nfull_refresh = \"30 12 * * *\""), fr)
	h.start(t)
	for _, want := range []struct {
		at   time.Time
		full bool
	}{
		{utc("2024-05-01T12:00:00Z"), false},
		{utc("2024-05-01T12:30:00Z"), true},
		{utc("2024-05-01T13:00:00Z"), false},
	} {
		h.clock.AwaitSleepUntil(t, want.at)
		h.clock.Set(want.at)
		r := fr.next(t)
		trigger := jobs.TriggerSchedule
		if want.full {
			trigger = jobs.TriggerFullRefresh
		}
		if !r.opts.Scheduled.Equal(want.at) || r.opts.Trigger != trigger || r.opts.FullRefresh != want.full || r.opts.ReplaceIncremental != want.full {
			t.Errorf("run at %v: %+v, want trigger %s, full refresh and replace %v", want.at, r.opts, trigger, want.full)
		}
		r.release <- nil
		h.rec.nextEnd(t)
	}
}
