package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/sink/emulator"
)

// replicaRun is a row of cubesync.runs as the replica test checks it.
type replicaRun struct {
	id        int64
	trigger   string
	scheduled time.Time
	started   time.Time
	ended     *time.Time
	status    string
	host      string
	session   string
	err       string
}

func queryRuns(t testing.TB, conn *pgx.Conn) []replicaRun {
	t.Helper()
	rows, err := conn.Query(context.Background(), `
		SELECT id, trigger, scheduled_at, started_at, ended_at, status, host, session_id, error
		FROM cubesync.runs WHERE job = 'tick' ORDER BY started_at, id`)
	if err != nil {
		t.Fatal(err)
	}
	var out []replicaRun
	for rows.Next() {
		var r replicaRun
		var scheduled *time.Time
		if err := rows.Scan(&r.id, &r.trigger, &scheduled, &r.started, &r.ended, &r.status, &r.host, &r.session, &r.err); err != nil {
			t.Fatal(err)
		}
		if scheduled == nil {
			t.Fatalf("run %d has no scheduled time: serve records the slot of every run", r.id)
		}
		r.scheduled = *scheduled
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func querySlots(t testing.TB, conn *pgx.Conn) []time.Time {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT scheduled_at FROM cubesync.slots WHERE job = 'tick' ORDER BY scheduled_at`)
	if err != nil {
		t.Fatal(err)
	}
	slots, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		t.Fatal(err)
	}
	return slots
}

// TestServeReplicas runs three serve processes on one Postgres state store with a job every
// second, kills one in the middle of an upload, and proves from the store that every slot
// was claimed once and ran at most once, that runs never overlapped, that no slot after the
// kill was lost and that the dead run was found, its session cancelled, and recorded as
// abandoned.
func TestServeReplicas(t *testing.T) {
	t.Parallel() // waits on serve: its own database, directory, emulator and ports
	const runFor = 30 * time.Second
	dsn, bin, dir := serveSetup(t)
	emu, err := emulator.New(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// While hold is set, chunk uploads hang until their client goes away: the run that
	// holds the job's lock then stays in its upload session, partly uploaded, until it is
	// killed.
	var hold atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hold.Load() && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/uploadSessions/") {
			_, _ = io.Copy(io.Discard, r.Body) // the server notices the client's end only after the body
			<-r.Context().Done()
			return
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); emu.Close() })
	config := tickConfig(t, dir, srv.URL+"/MicroStrategyLibrary", dsn, "5s")
	ctx := context.Background()

	start := time.Now()
	byPid := map[int]*proc{}
	var replicas []*proc
	for range 3 {
		p := startCubesync(t, bin, dir, "serve", "--config", config, "--log-format", "json")
		replicas = append(replicas, p)
		byPid[p.cmd.Process.Pid] = p
	}
	conn := pgtest.Connect(t, dsn)
	succeeded := func() int {
		var n int
		// The schema appears when the first replica has migrated the database.
		_ = conn.QueryRow(ctx, `SELECT count(*) FROM cubesync.runs WHERE job = 'tick' AND status = 'succeeded'`).Scan(&n)
		return n
	}
	testutil.WaitFor(t, 30*time.Second, "five succeeded runs", func() bool { return succeeded() >= 5 })

	// Kill the replica running the job in the middle of its upload.
	hold.Store(true)
	var victim replicaRun
	testutil.WaitFor(t, 15*time.Second, "a run with an open upload session", func() bool {
		for _, r := range queryRuns(t, conn) {
			if r.status == jobs.StatusRunning && r.session != "" && emu.Stats().Calls[emulator.CallPut] > 0 {
				victim = r
				return true
			}
		}
		return false
	})
	hold.Store(false) // the victim's upload stays held: its request entered while set
	_, pidText, _ := strings.Cut(victim.host, ":")
	pid, _ := strconv.Atoi(pidText)
	dead, ok := byPid[pid]
	if !ok {
		t.Fatalf("run %d was recorded by host %q, which is none of the replicas %v", victim.id, victim.host, byPid)
	}
	if err := dead.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if code := dead.wait(t, 10*time.Second); code != -int(syscall.SIGKILL) {
		t.Fatalf("killed replica exited with %d, want death by SIGKILL", code)
	}
	t.Logf("killed pid %d during run %d (slot %s, session %s) after %s", pid, victim.id, victim.scheduled.Format(time.TimeOnly), victim.session, killed.Sub(start).Round(time.Millisecond))

	// The survivors go on until they have claimed the slot runFor after the start.
	end := start.Add(runFor).Truncate(time.Second)
	testutil.WaitFor(t, time.Until(end)+30*time.Second, "the survivors to claim the slot "+end.Format(time.TimeOnly), func() bool {
		slots := querySlots(t, conn)
		return len(slots) > 0 && !slots[len(slots)-1].Before(end)
	})
	stopped := time.Now()
	for _, p := range replicas {
		if p != dead {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range replicas {
		if p == dead {
			continue
		}
		if code := p.wait(t, 20*time.Second); code != exitOK {
			t.Errorf("replica pid %d exited %d after SIGTERM, want 0 (every run finished within the grace period)", p.cmd.Process.Pid, code)
		}
	}

	runs := queryRuns(t, conn)
	slots := querySlots(t, conn)
	t.Logf("%d slots claimed, %d runs, in %s", len(slots), len(runs), stopped.Sub(start).Round(time.Second))

	t.Run("every slot claimed, none lost", func(t *testing.T) {
		if len(slots) < int(runFor/time.Second)-8 {
			t.Fatalf("%d slots claimed in %s, want about one a second", len(slots), runFor)
		}
		for i := 1; i < len(slots); i++ {
			if gap := slots[i].Sub(slots[i-1]); gap != time.Second {
				t.Errorf("slots %s and %s are %s apart: the slots between were lost", slots[i-1].Format(time.TimeOnly), slots[i].Format(time.TimeOnly), gap)
			}
		}
		if last := slots[len(slots)-1]; last.Before(killed.Add(10 * time.Second)) {
			t.Errorf("the last claimed slot is %s, but the survivors ran until %s", last.Format(time.TimeOnly), stopped.Format(time.TimeOnly))
		}
	})

	t.Run("every slot ran at most once, and runs never overlapped", func(t *testing.T) {
		claimed := map[time.Time]bool{}
		for _, s := range slots {
			claimed[s] = true
		}
		ran := map[time.Time]int64{}
		for i, r := range runs {
			if other, dup := ran[r.scheduled]; dup {
				t.Errorf("slot %s ran twice: runs %d and %d", r.scheduled.Format(time.TimeOnly), other, r.id)
			}
			ran[r.scheduled] = r.id
			if !claimed[r.scheduled] {
				t.Errorf("run %d has slot %s, which no replica claimed", r.id, r.scheduled.Format(time.TimeOnly))
			}
			if r.ended == nil {
				t.Errorf("run %d (%s) never ended", r.id, r.status)
				continue
			}
			if i == 0 || runs[i-1].ended == nil {
				continue
			}
			// A dead run stopped when its process was killed; its recorded end is when the
			// next run found it, which may be after that run started.
			prev, prevEnd := runs[i-1], *runs[i-1].ended
			if prev.status == jobs.StatusAbandoned {
				prevEnd = killed
			}
			if r.started.Before(prevEnd) {
				t.Errorf("run %d (slot %s, %s) started at %s, before run %d (%s) ended at %s: runs overlapped",
					r.id, r.scheduled.Format(time.TimeOnly), r.host, r.started.Format(time.StampMicro),
					prev.id, prev.host, prevEnd.Format(time.StampMicro))
			}
		}
		// A slot without a run must have come while the job was running (overlap = skip).
		for _, s := range slots {
			if _, ok := ran[s]; ok {
				continue
			}
			busy := false
			for _, r := range runs {
				if r.scheduled.Before(s) && r.ended != nil && r.ended.After(s.Add(-time.Second)) {
					busy = true
				}
			}
			if !busy {
				t.Errorf("slot %s did not run although no run was in progress", s.Format(time.TimeOnly))
			}
		}
	})

	t.Run("the killed run was recovered", func(t *testing.T) {
		var abandoned []replicaRun
		hosts := map[string]bool{}
		afterKill := 0
		for _, r := range runs {
			hosts[r.host] = true
			switch {
			case r.status == jobs.StatusAbandoned:
				abandoned = append(abandoned, r)
			case r.status != jobs.StatusSucceeded:
				t.Errorf("run %d (slot %s, %s) ended %s: %s", r.id, r.scheduled.Format(time.TimeOnly), r.host, r.status, r.err)
			case r.started.After(killed):
				afterKill++
			}
		}
		if len(abandoned) != 1 || abandoned[0].id != victim.id {
			t.Fatalf("abandoned runs = %+v, want exactly the killed run %d", abandoned, victim.id)
		}
		if want := "upload session " + victim.session + " cancelled by run"; !strings.Contains(abandoned[0].err, want) {
			t.Errorf("abandoned run's error %q does not say %q", abandoned[0].err, want)
		}
		if recovered := abandoned[0].ended.Sub(killed); recovered > 5*time.Second {
			t.Errorf("the dead run was recovered %s after the kill, want within a few slots", recovered)
		}
		if want := int(stopped.Sub(killed)/time.Second) - 6; afterKill < want {
			t.Errorf("%d runs succeeded after the kill in %s, want at least %d", afterKill, stopped.Sub(killed).Round(time.Second), want)
		}
		if len(hosts) < 2 {
			t.Errorf("runs came from hosts %v, want the replicas to share the slots", hosts)
		}
		if open := emu.OpenSessions(); len(open) != 0 {
			t.Errorf("upload sessions still open at the end: %+v", open)
		}
		if calls := emu.Stats().Calls[emulator.CallDelete]; calls < 1 {
			t.Errorf("the emulator saw %d DELETEs of upload sessions, want the dead run's session cancelled", calls)
		}
	})
	if t.Failed() {
		for _, r := range runs {
			ended := "-"
			if r.ended != nil {
				ended = r.ended.Format(time.StampMicro)
			}
			t.Log(fmt.Sprintf("run %3d %-8s slot %s started %s ended %s %-11s %s %s", r.id, r.trigger, r.scheduled.Format(time.TimeOnly), r.started.Format(time.StampMicro), ended, r.status, r.host, r.err))
		}
	}
}
