package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
)

// spreadConfig is a jobs file with n jobs due at the same instant (at, daily), each
// replacing a table of its own dataset with the demo stores, on the Postgres state store
// dsn, with [serve] max_concurrent_runs = limit. extra is appended to [serve], defaults to
// [defaults]; after extra a test may open tables of its own ([notify.NAME]).
func spreadConfig(t testing.TB, dir, baseURL, dsn string, n, limit int, at time.Time, extra, defaults string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(serveHead(dsn, baseURL, "call_retries = 1", `call_backoff = "50ms"`))
	fmt.Fprintf(&b, `shutdown_grace = "20s"
max_concurrent_runs = %d
%s
[defaults]
retry = { attempts = 1 }
%s
`, limit, extra, defaults)
	at = at.UTC()
	for i := range n {
		b.WriteString(storesJob(t, fmt.Sprintf("job%d", i), fmt.Sprintf("Spread %d", i),
			fmt.Sprintf(`schedule = "CRON_TZ=UTC %d %d %d * * *"`, at.Second(), at.Minute(), at.Hour())))
	}
	return writeConfigIn(t, dir, b.String())
}

// spreadRun is a row of cubesync.runs as the spread test checks it.
type spreadRun struct {
	job, status, host, err string
	scheduled              time.Time
}

func querySpreadRuns(t testing.TB, conn *pgx.Conn) []spreadRun {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT job, status, host, error, scheduled_at FROM cubesync.runs ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var out []spreadRun
	for rows.Next() {
		var r spreadRun
		if err := rows.Scan(&r.job, &r.status, &r.host, &r.err, &r.scheduled); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// startReplicas starts n serve processes on config and waits until each schedules, before
// due.
func startReplicas(t *testing.T, bin, dir, config string, n int, due time.Time) []*proc {
	t.Helper()
	var replicas []*proc
	for range n {
		replicas = append(replicas, startCubesync(t, bin, dir, "serve", "--config", config, "--log-format", "json"))
	}
	for _, p := range replicas {
		testutil.WaitFor(t, time.Until(due), "every replica to start scheduling before the slot", func() bool {
			return len(p.logs.LogLines("scheduler started")) > 0
		})
	}
	return replicas
}

// stopReplicas sends SIGTERM to every replica and wants each to exit 0 within 30s.
func stopReplicas(t *testing.T, replicas []*proc) {
	t.Helper()
	for _, p := range replicas {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range replicas {
		if code := p.wait(t, 30*time.Second); code != exitOK {
			t.Errorf("replica pid %d exited %d after SIGTERM, want 0", p.cmd.Process.Pid, code)
		}
	}
}

// finishedRuns counts the runs in cubesync.runs that have ended.
func finishedRuns(t testing.TB, conn *pgx.Conn) int {
	t.Helper()
	n := 0
	for _, r := range querySpreadRuns(t, conn) {
		if r.status != jobs.StatusRunning {
			n++
		}
	}
	return n
}

// TestServeSpreadsWork runs three serve processes on one Postgres state store with nine
// jobs due at the same second and max_concurrent_runs = 3: a replica at its limit claims
// nothing more, so each replica runs three jobs, every slot runs once and none is missed.
func TestServeSpreadsWork(t *testing.T) {
	t.Parallel() // waits on serve: its own database, directory, emulator and ports
	dsn, bin, dir := serveSetup(t)
	emu, url := startEmulator(t)
	// Each run stays in its publish for 3s, far longer than the replicas take to claim the
	// nine slots: a replica's places only come free after every slot is claimed.
	emu.SetPublishDelay(3 * time.Second)
	// Room for three processes to start and migrate on a loaded machine.
	due := time.Now().Add(20 * time.Second).Truncate(time.Second)
	config := spreadConfig(t, dir, url, dsn, 9, 3, due, "", "")

	replicas := startReplicas(t, bin, dir, config, 3, due)
	conn := pgtest.Connect(t, dsn)
	testutil.WaitFor(t, time.Until(due)+60*time.Second, "nine finished runs", func() bool { return finishedRuns(t, conn) >= 9 })
	// A replica at its limit leaves a slot and waits for a place or the slot's grace to
	// pass; the slot then ends in a run of its own or a log line that another replica
	// claimed it. Once every slot left has ended, each replica has decided all nine slots:
	// a tenth run or a late missed record can no longer come.
	testutil.WaitFor(t, 30*time.Second, "every replica to end each slot it left at its limit", func() bool {
		for _, p := range replicas {
			ended := map[any]bool{}
			for _, msg := range []string{"left slot claimed by another replica", "run started"} {
				for _, l := range p.logs.LogLines(msg) {
					ended[l["job"]] = true
				}
			}
			for _, l := range p.logs.LogLines("at max_concurrent_runs: leaving the slot to a replica with room") {
				if !ended[l["job"]] {
					return false
				}
			}
		}
		return true
	})
	stopReplicas(t, replicas)

	runs := querySpreadRuns(t, conn)
	perHost := map[string]int{}
	perJob := map[string]int{}
	for _, r := range runs {
		if r.status != jobs.StatusSucceeded {
			t.Errorf("job %s on %s ended %s: %s", r.job, r.host, r.status, r.err)
		}
		if !r.scheduled.Equal(due) {
			t.Errorf("job %s ran slot %s, want %s", r.job, r.scheduled, due)
		}
		perHost[r.host]++
		perJob[r.job]++
	}
	if len(runs) != 9 || len(perJob) != 9 {
		t.Errorf("%d runs of %d jobs, want each of the 9 jobs' slot run once: %+v", len(runs), len(perJob), runs)
	}
	if len(perHost) != 3 {
		t.Errorf("runs by replica = %v, want all three replicas running", perHost)
	}
	for host, n := range perHost {
		if n != 3 {
			t.Errorf("replica %s ran %d jobs, want 3 (max_concurrent_runs = 3, nine jobs, three replicas): %v", host, n, perHost)
		}
	}
	var slots int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM cubesync.slots`).Scan(&slots); err != nil {
		t.Fatal(err)
	}
	if slots != 9 {
		t.Errorf("%d slots claimed, want 9", slots)
	}
	atLimit := 0
	for _, p := range replicas {
		atLimit += len(p.logs.LogLines("at max_concurrent_runs: leaving the slot to a replica with room"))
	}
	if atLimit == 0 {
		t.Error("no replica logged that it was at max_concurrent_runs: the limit was never reached, so the test proved nothing")
	}
}

// TestServeRecordsMissedSlots runs two serve processes on one Postgres state store, each
// at max_concurrent_runs = 1, with three jobs due at the same second whose runs take longer
// than the slot may wait: two run, one per replica, and the third slot, which no replica had
// room for within catchup_window, is recorded once as missed with the reason, shown by
// cubesync history and notified (event missed) to a webhook the test runs, the delivery
// recorded. With catchup_window = 0 a slot must start within 10s of its time, so the
// same happens with runs longer than that.
func TestServeRecordsMissedSlots(t *testing.T) {
	t.Parallel()
	bin := buildCubesync(t)
	for _, tc := range []struct {
		window string
		run    time.Duration // how long each run stays in its publish
		within string        // in the missed run's reason
	}{
		{"2s", 6 * time.Second, "within catchup_window (2s)"},
		{"0s", 14 * time.Second, "on time (catchup_window = 0: within 10s of its time)"},
	} {
		t.Run("catchup_window="+tc.window, func(t *testing.T) {
			t.Parallel() // waits on serve: its own database, directory, emulator and ports
			dsn := pgtest.DSN(t)
			dir := t.TempDir()
			emu, url := startEmulator(t)
			emu.SetPublishDelay(tc.run)
			hook := &webhook{got: map[string][]jobs.Message{}}
			receiver := httptest.NewServer(hook)
			defer receiver.Close()
			due := time.Now().Add(15 * time.Second).Truncate(time.Second)
			config := spreadConfig(t, dir, url, dsn, 3, 1, due, "",
				fmt.Sprintf("catchup_window = %q\nnotify = [\"ops\"]\n[notify.ops]\nurl = \"%s/ops\"\non = [\"missed\"]\n", tc.window, receiver.URL))
			replicas := startReplicas(t, bin, dir, config, 2, due)
			conn := pgtest.Connect(t, dsn)
			testutil.WaitFor(t, time.Until(due)+tc.run+60*time.Second, "three finished runs", func() bool { return finishedRuns(t, conn) >= 3 })
			testutil.WaitFor(t, 30*time.Second, "the missed slot's notification", func() bool { return len(hook.messages("/ops")) > 0 })
			stopReplicas(t, replicas)

			runs := querySpreadRuns(t, conn)
			var missed []spreadRun
			hosts := map[string]bool{}
			for _, r := range runs {
				switch {
				case !r.scheduled.Equal(due):
					t.Errorf("job %s has a run of slot %s, want only %s", r.job, r.scheduled, due)
				case r.status == jobs.StatusMissed:
					missed = append(missed, r)
				case r.status == jobs.StatusSucceeded:
					hosts[r.host] = true
				default:
					t.Errorf("job %s on %s ended %s: %s", r.job, r.host, r.status, r.err)
				}
			}
			if len(runs) != 3 || len(missed) != 1 || len(hosts) != 2 {
				t.Fatalf("runs %+v; want three: one succeeded on each replica and one missed", runs)
			}
			m := missed[0]
			wantReason := "no replica had room to start the slot " + tc.within + ": this one was at max_concurrent_runs = 1, and no other claimed it"
			if m.err != wantReason {
				t.Errorf("missed run of %s: reason %q, want %q", m.job, m.err, wantReason)
			}
			msgs := hook.messages("/ops")
			if len(msgs) != 1 || msgs[0].Job != m.job || msgs[0].Event != jobs.EventMissed || msgs[0].Error != wantReason || !strings.Contains(msgs[0].Text, "missed") {
				t.Errorf("ops got %+v, want one missed message for job %s with the reason", msgs, m.job)
			}
			_, history, _ := runBin(t, bin, dir, "history", m.job, "--config", config)
			if !regexp.MustCompile(`(?m)^\d+ +` + m.job + ` +schedule .* missed .*ops missed delivered.*no replica had room`).MatchString(history) {
				t.Errorf("cubesync history %s does not show the missed slot, its delivery and reason:\n%s", m.job, history)
			}
		})
	}
}

// TestServeJitter runs two serve processes on one Postgres state store with three jobs due
// at the same second and [defaults] jitter = "8s": each job's slot starts its own fixed
// offset after the cron time (the offset validate and cubesync jobs show, the same on both
// replicas), runs once, and the history keeps the cron slot.
func TestServeJitter(t *testing.T) {
	t.Parallel() // waits on serve: its own database, directory, emulator and ports
	dsn, bin, dir := serveSetup(t)
	_, url := startEmulator(t)
	due := time.Now().Add(15 * time.Second).Truncate(time.Second)
	config := spreadConfig(t, dir, url, dsn, 3, 3, due, "", `jitter = "8s"`)
	cfg := mustLoad(t, config)
	offsets := map[string]time.Duration{}
	for name, j := range cfg.Jobs {
		offsets[name] = j.JitterOffset()
	}
	if offsets["job0"] == offsets["job1"] && offsets["job1"] == offsets["job2"] {
		t.Fatalf("the three jobs share the jitter offset %s: the test cannot tell them apart", offsets["job0"])
	}
	_, listing, _ := runBin(t, bin, dir, "jobs", "--config", config)
	for name, off := range offsets {
		if !regexp.MustCompile(`(?m)^` + name + ` .*\+` + regexp.QuoteMeta(off.String()) + ` jitter`).MatchString(listing) {
			t.Errorf("cubesync jobs does not show %s's jitter offset %s:\n%s", name, off, listing)
		}
	}

	var replicas []*proc
	for range 2 {
		replicas = append(replicas, startCubesync(t, bin, dir, "serve", "--config", config, "--log-format", "json"))
	}
	for _, p := range replicas {
		testutil.WaitFor(t, time.Until(due), "every replica to start scheduling before the slot", func() bool {
			return len(p.logs.LogLines("scheduler started")) > 0
		})
	}
	ctx := context.Background()
	conn := pgtest.Connect(t, dsn)
	type run struct {
		job, status        string
		scheduled, started time.Time
	}
	var runs []run
	testutil.WaitFor(t, time.Until(due)+60*time.Second, "three finished runs", func() bool {
		rows, err := conn.Query(ctx, `SELECT job, status, scheduled_at, started_at FROM cubesync.runs WHERE status <> 'running' ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		runs = runs[:0]
		for rows.Next() {
			var r run
			if err := rows.Scan(&r.job, &r.status, &r.scheduled, &r.started); err != nil {
				t.Fatal(err)
			}
			runs = append(runs, r)
		}
		return rows.Err() == nil && len(runs) >= 3
	})
	for _, p := range replicas {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range replicas {
		p.wait(t, 30*time.Second)
	}
	seen := map[string]bool{}
	for _, r := range runs {
		seen[r.job] = true
		off := offsets[r.job]
		late := r.started.Sub(r.scheduled)
		if r.status != jobs.StatusSucceeded || !r.scheduled.Equal(due) || late < off || late > off+3*time.Second {
			t.Errorf("job %s: %s, slot %s, started %s after it; want succeeded, slot %s, started its jitter offset %s after it (within 3s)",
				r.job, r.status, r.scheduled, late, due, off)
		}
	}
	if len(runs) != 3 || len(seen) != 3 {
		t.Errorf("runs %+v, want one of each of the three jobs", runs)
	}
}
