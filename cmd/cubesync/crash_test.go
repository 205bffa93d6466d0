package main

// TestRunJobCrashesAndFaults, one cohesive test of run-job processes killed or faulted at
// every step of a run, with the helpers only it uses; long because each step's recovery is
// checked against the state store and the emulator.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/jobs/filestate"
	"github.com/cubesync/cubesync/jobs/pgstate"
	"github.com/cubesync/cubesync/sink/emulator"
)

// The crash test's source: a.parquet holds rows 1..firstRows, loaded by a clean first run;
// b.parquet (firstRows+1..allRows) arrives before the faulted runs. At chunk_size 1KB a run
// of b.parquet uploads several chunks, so a fault can hit a PUT in the middle.
const (
	firstRows = 100
	allRows   = 500
)

// fault is what one run of the crash test suffers.
type fault struct {
	dieAt, failAt string // CUBESYNC_TEST_DIE_AT, CUBESYNC_TEST_FAIL_AT: a step of jobs.Steps
	// kill the process when the server gets call killNth (0 and 1: the first) of kind
	// killCall: before the emulator handles it, or after (the server did it, the client never
	// hears)
	killCall, killWhen string
	killNth            int
	loseAnswer         string // the emulator handles the first call of this kind, the client gets a 502
	// failCalls fails that many sends of each kind of call, from the failFrom-th (0 and 1:
	// the next one)
	failCalls   map[emulator.Call]int
	failFrom    int
	failPublish bool // the publish ends with status 3
	// hideConflictID: a 409 to POST uploadSessions does not name the open session
	hideConflictID bool
}

// none reports whether f is no fault at all.
func (f fault) none() bool { return f.String() == "" }

func (f fault) String() string {
	var parts []string
	if f.dieAt != "" {
		parts = append(parts, "die at "+f.dieAt)
	}
	if f.failAt != "" {
		parts = append(parts, "fail at "+f.failAt)
	}
	if f.killCall != "" {
		s := "kill " + f.killWhen + " " + f.killCall
		if f.killNth > 1 {
			s += " #" + strconv.Itoa(f.killNth)
		}
		parts = append(parts, s)
	}
	if f.loseAnswer != "" {
		parts = append(parts, "lose answer to "+f.loseAnswer)
	}
	for _, c := range slices.Sorted(func(yield func(emulator.Call) bool) {
		for c := range f.failCalls {
			if !yield(c) {
				return
			}
		}
	}) {
		s := fmt.Sprintf("fail %s x%d", c, f.failCalls[c])
		if f.failFrom > 1 {
			s += fmt.Sprintf(" from #%d", f.failFrom)
		}
		parts = append(parts, s)
	}
	if f.failPublish {
		parts = append(parts, "publish status 3")
	}
	if f.hideConflictID {
		parts = append(parts, "409 names no session")
	}
	return strings.Join(parts, ", ")
}

// crashCase is one job's life: a clean first run loads a.parquet; then b.parquet arrives and
// each run of faulted suffers its fault; a last clean run follows.
type crashCase struct {
	first   fault   // the first run's fault (dataset creation), if any
	faulted []fault // runs after b.parquet arrives
	// what the first faulted run is recorded as once settled ("" = not recorded at all),
	// a piece of its history line, and the exit code it ends with (-9: killed)
	status, note string
	code         int
	say          string // a piece of what faulted run sayIn (0: the first) prints
	sayIn        int
	// sayNext: the first faulted run says what the next run does (the line of a run that
	// published, or may have, but could not record it)
	sayNext bool
}

func die(step string) fault    { return fault{dieAt: step} }
func failAt(step string) fault { return fault{failAt: step} }
func kill(when, call string) fault {
	return fault{killCall: call, killWhen: when}
}
func fail(calls map[emulator.Call]int) fault { return fault{failCalls: calls} }

const killed = -int(syscall.SIGKILL)

func crashCases() map[string]crashCase {
	late := "recorded late"
	cancelled := "cancelled by run"
	opening := "died while opening an upload session"
	writeFailed := "state store write failed"
	cases := map[string]crashCase{
		// SIGKILL before and after each state write.
		"die before start_run":      {faulted: []fault{die("before:start_run")}, code: killed},
		"die after start_run":       {faulted: []fault{die("after:start_run")}, status: jobs.StatusAbandoned, note: "died before it finished", code: killed},
		"die before record_dataset": {first: die("before:record_dataset"), code: killed},
		"die after record_dataset":  {first: die("after:record_dataset"), code: killed},
		"die before record_opening": {faulted: []fault{die("before:record_opening")}, status: jobs.StatusAbandoned, note: "died before it finished", code: killed},
		"die after record_opening":  {faulted: []fault{die("after:record_opening")}, status: jobs.StatusAbandoned, note: opening, code: killed},
		"die before record_session": {faulted: []fault{die("before:record_session")}, status: jobs.StatusAbandoned, note: opening, code: killed},
		"die after record_session":  {faulted: []fault{die("after:record_session")}, status: jobs.StatusAbandoned, note: cancelled, code: killed},
		"die before record_pending": {faulted: []fault{die("before:record_pending")}, status: jobs.StatusAbandoned, note: cancelled, code: killed},
		"die after record_pending":  {faulted: []fault{die("after:record_pending")}, status: jobs.StatusSucceeded, note: late, code: killed},
		"die before finish_run":     {faulted: []fault{die("before:finish_run")}, status: jobs.StatusSucceeded, note: late, code: killed},
		"die after finish_run":      {faulted: []fault{die("after:finish_run")}, status: jobs.StatusSucceeded, code: killed},
		"die before settle_run":     {faulted: []fault{die("after:record_pending"), die("before:settle_run")}, status: jobs.StatusSucceeded, note: late, code: killed},
		"die after settle_run":      {faulted: []fault{die("after:record_pending"), die("after:settle_run")}, status: jobs.StatusSucceeded, note: late, code: killed},
		"die after opening, twice":  {faulted: []fault{die("before:record_session"), die("before:record_session")}, status: jobs.StatusAbandoned, note: opening, code: killed},

		// Failures of each state write ("before": not written; "after": written, but the run
		// is told it failed).
		"fail before start_run":      {faulted: []fault{failAt("before:start_run")}, code: 1},
		"fail after start_run":       {faulted: []fault{failAt("after:start_run")}, status: jobs.StatusAbandoned, note: "died before it finished", code: 1},
		"fail before settle_run":     {faulted: []fault{die("before:finish_run"), failAt("before:settle_run")}, status: jobs.StatusSucceeded, note: late, code: killed},
		"fail after settle_run":      {faulted: []fault{die("before:finish_run"), failAt("after:settle_run")}, status: jobs.StatusSucceeded, note: late, code: killed},
		"fail before record_dataset": {first: failAt("before:record_dataset"), status: jobs.StatusFailed, note: writeFailed, code: 1},
		"fail after record_dataset":  {first: failAt("after:record_dataset"), status: jobs.StatusFailed, note: writeFailed, code: 1},
		"fail before record_opening": {faulted: []fault{failAt("before:record_opening")}, status: jobs.StatusFailed, note: writeFailed, code: 1},
		"fail after record_opening":  {faulted: []fault{failAt("after:record_opening")}, status: jobs.StatusFailed, note: writeFailed, code: 1},
		"fail before record_session": {faulted: []fault{failAt("before:record_session")}, status: jobs.StatusFailed, note: writeFailed, code: 1},
		"fail after record_session":  {faulted: []fault{failAt("after:record_session")}, status: jobs.StatusFailed, note: writeFailed, code: 1},
		"fail before record_pending": {faulted: []fault{failAt("before:record_pending")}, status: jobs.StatusFailed, note: writeFailed, code: 1},
		"fail after record_pending":  {faulted: []fault{failAt("after:record_pending")}, status: jobs.StatusFailed, note: writeFailed, code: 1},
		// Published, but the record fails (a full disk): exit 1 and one line saying so and
		// what the next run does; the next run records it.
		"fail before finish_run": {faulted: []fault{failAt("before:finish_run")}, status: jobs.StatusSucceeded, note: late, code: 1,
			say: "PUBLISHED upload session", sayNext: true},
		// A run that failed and cancelled its session, but whose record is not written: the
		// next run finds the session gone and records it.
		"fail put, fail before finish_run": {faulted: []fault{{failCalls: map[emulator.Call]int{emulator.CallPut: 2}, failAt: "before:finish_run"}},
			status: jobs.StatusAbandoned, note: cancelled, code: 1},
		"fail put, die before finish_run": {faulted: []fault{{failCalls: map[emulator.Call]int{emulator.CallPut: 2}, dieAt: "before:finish_run"}},
			status: jobs.StatusAbandoned, note: cancelled, code: killed},
		// Written, but the run is told it failed: asked again, the store has it.
		"fail after finish_run": {faulted: []fault{failAt("after:finish_run")}, status: jobs.StatusSucceeded, code: 0},

		// Failures of the server's calls (each call is sent twice: call_retries = 1).
		"fail login":                   {faulted: []fault{fail(map[emulator.Call]int{emulator.CallLogin: 2})}, status: jobs.StatusFailed, code: 1},
		"fail definition":              {faulted: []fault{fail(map[emulator.Call]int{emulator.CallDefinition: 2})}, status: jobs.StatusFailed, code: 1},
		"fail model":                   {first: fail(map[emulator.Call]int{emulator.CallModel: 2}), status: jobs.StatusFailed, code: 1},
		"fail open":                    {faulted: []fault{fail(map[emulator.Call]int{emulator.CallOpenSession: 2})}, status: jobs.StatusFailed, code: 1},
		"fail put":                     {faulted: []fault{fail(map[emulator.Call]int{emulator.CallPut: 2})}, status: jobs.StatusFailed, code: 1},
		"fail put #3":                  {faulted: []fault{{failCalls: map[emulator.Call]int{emulator.CallPut: 2}, failFrom: 3}}, status: jobs.StatusFailed, code: 1},
		"fail put, delete":             {faulted: []fault{fail(map[emulator.Call]int{emulator.CallPut: 2, emulator.CallDelete: 2})}, status: jobs.StatusFailed, note: cancelled, code: 1},
		"fail publish":                 {faulted: []fault{fail(map[emulator.Call]int{emulator.CallPublish: 2})}, status: jobs.StatusFailed, code: 1},
		"fail logout":                  {faulted: []fault{fail(map[emulator.Call]int{emulator.CallLogout: 2})}, status: jobs.StatusSucceeded, code: 0},
		"publish status 3":             {faulted: []fault{{failPublish: true}}, status: jobs.StatusFailed, note: "failed with status", code: 1},
		"lose open answer":             {faulted: []fault{{loseAnswer: "open_session"}}, status: jobs.StatusSucceeded, note: "no run had recorded", code: 0},
		"lose put answer":              {faulted: []fault{{loseAnswer: "put"}}, status: jobs.StatusSucceeded, code: 0},
		"lose publish answer":          {faulted: []fault{{loseAnswer: "publish"}}, status: jobs.StatusSucceeded, code: 0},
		"fail put, lose delete answer": {faulted: []fault{{failCalls: map[emulator.Call]int{emulator.CallPut: 2}, loseAnswer: "delete"}}, status: jobs.StatusFailed, code: 1},
		// The status poll fails: asked again, the server says published.
		"fail publish status": {faulted: []fault{fail(map[emulator.Call]int{emulator.CallPublishStatus: 2})}, status: jobs.StatusSucceeded, code: 0},
		// The status cannot be read at all: outcome unknown, the next run records it.
		"fail publish status 4x": {faulted: []fault{fail(map[emulator.Call]int{emulator.CallPublishStatus: 4})}, status: jobs.StatusSucceeded, note: late, code: 1,
			say: "outcome unknown", sayNext: true},

		// What a run left is settled by the next, whose own calls fail or are killed; the one
		// after settles it.
		"settle: fail delete": {faulted: []fault{die("after:record_session"), fail(map[emulator.Call]int{emulator.CallDelete: 2})},
			status: jobs.StatusAbandoned, note: cancelled, code: killed},
		"settle: kill before delete": {faulted: []fault{die("after:record_session"), kill("before", "delete")},
			status: jobs.StatusAbandoned, note: cancelled, code: killed},
		"settle: kill after delete": {faulted: []fault{die("after:record_session"), kill("after", "delete")},
			status: jobs.StatusAbandoned, note: cancelled, code: killed},
		"settle: fail publish status": {faulted: []fault{die("after:record_pending"), fail(map[emulator.Call]int{emulator.CallPublishStatus: 2})},
			status: jobs.StatusSucceeded, note: late, code: killed},
		"settle: kill before publish status": {faulted: []fault{die("after:record_pending"), kill("before", "publish_status")},
			status: jobs.StatusSucceeded, note: late, code: killed},
		"settle: kill after publish status": {faulted: []fault{die("after:record_pending"), kill("after", "publish_status")},
			status: jobs.StatusSucceeded, note: late, code: killed},
		// The publish never reached the server: the settling run publishes it, and dies or fails.
		"settle: kill before publish": {faulted: []fault{die("after:record_pending"), kill("before", "publish")},
			status: jobs.StatusSucceeded, note: late, code: killed},
		"settle: kill after publish": {faulted: []fault{die("after:record_pending"), kill("after", "publish")},
			status: jobs.StatusSucceeded, note: late, code: killed},
		"settle: fail publish": {faulted: []fault{die("after:record_pending"), fail(map[emulator.Call]int{emulator.CallPublish: 2})},
			status: jobs.StatusSucceeded, note: late, code: killed},
		"settle: unrecorded session, fail delete": {faulted: []fault{die("before:record_session"), fail(map[emulator.Call]int{emulator.CallDelete: 2})},
			status: jobs.StatusAbandoned, note: opening, code: killed},
		// A server whose 409 does not name the open session: the run says what to do.
		"settle: 409 names no session": {faulted: []fault{die("before:record_session"), {hideConflictID: true}},
			status: jobs.StatusAbandoned, note: opening, code: killed, say: "cancel it on the server", sayIn: 1},
	}
	// SIGKILL before and after each call to the server.
	for _, c := range []struct {
		call           string
		nth            int
		status, note   string // of the killed run once settled, killed before the call
		statusA, noteA string // killed after it
		first          bool
		faults         map[emulator.Call]int // to make the run reach the call
	}{
		{call: "login", status: jobs.StatusAbandoned, statusA: jobs.StatusAbandoned},
		{call: "definition", status: jobs.StatusAbandoned, statusA: jobs.StatusAbandoned},
		{call: "model", first: true},
		{call: "open_session", status: jobs.StatusAbandoned, note: "while opening", statusA: jobs.StatusAbandoned, noteA: "while opening"},
		{call: "put", status: jobs.StatusAbandoned, note: cancelled, statusA: jobs.StatusAbandoned, noteA: cancelled},
		{call: "put", nth: 3, status: jobs.StatusAbandoned, note: cancelled, statusA: jobs.StatusAbandoned, noteA: cancelled},
		{call: "publish", status: jobs.StatusSucceeded, note: late, statusA: jobs.StatusSucceeded, noteA: late},
		{call: "publish_status", status: jobs.StatusSucceeded, note: late, statusA: jobs.StatusSucceeded, noteA: late},
		{call: "delete", faults: map[emulator.Call]int{emulator.CallPut: 2}, status: jobs.StatusAbandoned, note: cancelled, statusA: jobs.StatusAbandoned, noteA: cancelled},
		{call: "logout", status: jobs.StatusSucceeded, statusA: jobs.StatusSucceeded},
	} {
		for _, when := range []string{"before", "after"} {
			cc := crashCase{code: killed}
			f := fault{killCall: c.call, killWhen: when, killNth: c.nth, failCalls: c.faults}
			if c.first {
				cc.first = f
			} else {
				cc.faulted = []fault{f}
				cc.status, cc.note = c.status, c.note
				if when == "after" {
					cc.status, cc.note = c.statusA, c.noteA
				}
			}
			cases[strings.TrimSuffix("kill "+when+" "+c.call+" #"+strconv.Itoa(c.nth), " #0")] = cc
		}
	}
	return cases
}

// crashParallel is how many crash cases run at once. A case mostly waits for its processes
// (their start, the state store, the server), so several share the cores well; -parallel
// defaults to the number of cores (2 in CI), which would make this test take minutes.
const crashParallel = 8

// TestRunJobCrashesAndFaults runs the real binary through a crash (SIGKILL) at every step
// of a run — before and after each state write and each call to the server, also while a
// later run settles what the killed one left — and through a failure of each, then runs the
// job again, and proves for each: the dataset holds every source row exactly once (policy
// add, so a row pushed twice would show), no upload session is left open, and the history
// says what became of the run. For the local and the Postgres state store; each case is a
// job of its own on one store, as the jobs of one deployment are, against an emulator of its
// own.
func TestRunJobCrashesAndFaults(t *testing.T) {
	bin := buildCubesync(t)
	cases := crashCases()
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range cases {
			if !yield(n) {
				return
			}
		}
	})
	stores := []*crashStore{newCrashStore(t, "local"), newCrashStore(t, "postgres")}

	type outcome struct {
		ct     *caseT
		victim *jobs.Run // the faulted run as recorded once settled
	}
	results := map[*crashStore][]*outcome{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, crashParallel)
	for _, st := range stores {
		for i, name := range names {
			o := &outcome{ct: &caseT{TB: t}}
			results[st] = append(results[st], o)
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				o.victim = runCrashCase(o.ct, bin, st, fmt.Sprintf("c%02d", i), cases[name])
			})
		}
	}
	wg.Wait()

	for _, st := range stores {
		t.Run(st.kind, func(t *testing.T) {
			// One history of every case's runs, as `cubesync history` prints it.
			hist := crashHistory(t, bin, st)
			for i, name := range names {
				t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
					o, cc := results[st][i], cases[name]
					o.ct.report(t)
					if o.victim == nil || cc.status == "" {
						return
					}
					line := historyLine(hist, o.victim.ID)
					if !strings.Contains(line, cc.status) || !strings.Contains(line, cc.note) {
						t.Errorf("history line of run %d = %q, want it to say %s and %q", o.victim.ID, line, cc.status, cc.note)
					}
				})
			}
			if strings.Contains(hist, "s3cret-pw") {
				t.Errorf("history shows the password")
			}
		})
	}
}

// caseT is the testing.TB of a crash case run in a goroutine of its own: it keeps what the
// case reports until report hands it to the case's subtest. Fatal ends the case's goroutine.
type caseT struct {
	testing.TB // the parent test: TempDir, Cleanup

	mu     sync.Mutex
	errs   []string
	logs   []string
	failed bool
}

func (c *caseT) Helper() {}

func (c *caseT) add(to *[]string, s string, fail bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*to = append(*to, s)
	c.failed = c.failed || fail
}

func (c *caseT) Log(args ...any)                 { c.add(&c.logs, fmt.Sprint(args...), false) }
func (c *caseT) Logf(format string, args ...any) { c.add(&c.logs, fmt.Sprintf(format, args...), false) }
func (c *caseT) Error(args ...any)               { c.add(&c.errs, fmt.Sprint(args...), true) }
func (c *caseT) Errorf(format string, args ...any) {
	c.add(&c.errs, fmt.Sprintf(format, args...), true)
}
func (c *caseT) Fail()    { c.add(&c.errs, "failed", true) }
func (c *caseT) FailNow() { c.Fail(); runtime.Goexit() }
func (c *caseT) Fatal(args ...any) {
	c.Error(args...)
	runtime.Goexit()
}
func (c *caseT) Fatalf(format string, args ...any) {
	c.Errorf(format, args...)
	runtime.Goexit()
}
func (c *caseT) Failed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}

// report fails t with the case's errors, its logs first.
func (c *caseT) report(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.logs {
		t.Log(l)
	}
	for _, e := range c.errs {
		t.Error(e)
	}
}

// crashStore is the state store every crash case's job shares.
type crashStore struct {
	kind  string // local or postgres
	dir   string // the processes' working directory: the local store is its .cubesync
	state string // the jobs.toml [state] section
	store jobs.Store
}

func newCrashStore(t *testing.T, kind string) *crashStore {
	t.Helper()
	ctx := context.Background()
	st := &crashStore{kind: kind, dir: t.TempDir()}
	var err error
	if kind == "postgres" {
		dsn := pgtest.DSN(t)
		st.state = fmt.Sprintf("[state]\ndatabase_url = %q\n", dsn)
		st.store, err = pgstate.Open(ctx, dsn, nil) // migrated once, before the cases start
	} else {
		st.store, err = filestate.Open(filepath.Join(st.dir, ".cubesync"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.store.Close() })
	return st
}

// crashProxy serves the emulator, killing the running cubesync or losing an answer when a
// fault asks for it.
type crashProxy struct {
	emu *emulator.Server

	mu    sync.Mutex
	f     fault
	proc  *crashProc
	calls map[string]int // of the running process, per kind
	hit   bool
}

type crashProc struct {
	cmd     *exec.Cmd
	started chan struct{} // closed once cmd.Start has returned: cmd.Process is set
	done    chan struct{}
}

// callKind names an API call as emulator.Call does.
func callKind(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/api/auth/login"):
		return "login"
	case strings.HasSuffix(p, "/api/auth/logout"):
		return "logout"
	case strings.HasSuffix(p, "/api/datasets/models"):
		return "model"
	case strings.HasSuffix(p, "/publishStatus"):
		return "publish_status"
	case strings.HasSuffix(p, "/publish"):
		return "publish"
	case strings.HasSuffix(p, "/uploadSessions") && r.Method == http.MethodPost:
		return "open_session"
	case strings.Contains(p, "/uploadSessions/") && r.Method == http.MethodPut:
		return "put"
	case strings.Contains(p, "/uploadSessions/") && r.Method == http.MethodDelete:
		return "delete"
	case strings.Contains(p, "/api/datasets/") && r.Method == http.MethodGet:
		return "definition"
	}
	return ""
}

// hexID is a MicroStrategy object id, as a 409 names the open session.
var hexID = regexp.MustCompile(`[0-9A-Fa-f]{32}`)

func (p *crashProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := callKind(r)
	p.mu.Lock()
	f, proc := p.f, p.proc
	p.calls[kind]++
	fire := !p.hit && kind != "" &&
		(kind == f.killCall && p.calls[kind] >= max(f.killNth, 1) || kind == f.loseAnswer)
	if fire {
		p.hit = true
	}
	p.mu.Unlock()
	switch {
	case f.hideConflictID && kind == "open_session":
		rec := httptest.NewRecorder()
		p.emu.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusConflict {
			body = hexID.ReplaceAll(body, []byte("<id>"))
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
		return
	case !fire:
		p.emu.ServeHTTP(w, r)
		return
	case f.loseAnswer != "":
		p.emu.ServeHTTP(httptest.NewRecorder(), r)
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	}
	if f.killWhen == "after" {
		p.emu.ServeHTTP(httptest.NewRecorder(), r)
	}
	<-proc.started // the call may arrive before Start has returned in the case's goroutine
	_ = proc.cmd.Process.Kill()
	<-proc.done
	http.Error(w, "the client is dead", http.StatusBadGateway)
}

// runCrashCase lives cc as job on store st and checks what a user would: every source row
// in the dataset once, no session open, nothing left running. It returns the faulted run as
// the store has it at the end, for the caller to find its history line.
func runCrashCase(t testing.TB, bin string, st *crashStore, job string, cc crashCase) *jobs.Run {
	dir := filepath.Join(st.dir, job)
	emu, err := emulator.New(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	proxy := &crashProxy{emu: emu}
	srv := httptest.NewServer(proxy)
	defer func() { srv.Close(); emu.Close() }()
	text := st.state + "\n" + emuTarget(srv.URL+"/MicroStrategyLibrary", "call_retries = 1", `call_backoff = "10ms"`) + fmt.Sprintf(`
[jobs.%s]
target = "emu"
dataset = { name = "Facts" }
retry = { attempts = 1 }
chunk_size = "1KB"
[[jobs.%[1]s.tables]]
name = "facts"
policy = "add"
parquet = "data/*.parquet"
incremental = { files = "new" }
`, job)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	config := writeConfigIn(t, dir, text)

	var outputs, printed []string
	defer func() {
		if t.Failed() {
			t.Log(strings.Join(outputs, "\n\n"))
		}
	}()
	run := func(f fault) int {
		t.Helper()
		emu.ClearFaults()
		for c, n := range f.failCalls {
			for range n {
				emu.FailNth(c, f.failFrom, http.StatusInternalServerError, "")
			}
		}
		if f.failPublish {
			emu.FailPublish(3, "the cube is locked")
		}
		cmd := exec.Command(bin, "run-job", "--config", config, "--log-format", "json", "--progress", "none", job)
		cmd.Dir = st.dir
		cmd.Env = append(os.Environ(), "CUBESYNC_CONFIG=", dieAtEnv+"="+f.dieAt, failAtEnv+"="+f.failAt)
		var out testutil.SyncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		proc := &crashProc{cmd: cmd, started: make(chan struct{}), done: make(chan struct{})}
		proxy.mu.Lock()
		proxy.f, proxy.proc, proxy.hit, proxy.calls = f, proc, false, map[string]int{}
		proxy.mu.Unlock()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		close(proc.started)
		go func() { _ = cmd.Wait(); close(proc.done) }()
		select {
		case <-proc.done:
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			<-proc.done
			t.Fatalf("run-job (%s) did not end within 2 minutes:\n%s", f, out.String())
		}
		proxy.mu.Lock()
		proxy.f, proxy.proc = fault{}, nil
		proxy.mu.Unlock()
		emu.ClearFaults()
		code := cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = -int(ws.Signal())
		}
		outputs = append(outputs, fmt.Sprintf("run-job (%s) exit %d:\n%s", f, code, tail(out.String(), 40)))
		printed = append(printed, out.String())
		return code
	}

	writeFacts(t, filepath.Join(dir, "data", "a.parquet"), 1, firstRows)
	firstCode := run(cc.first)
	if !cc.first.none() {
		if firstCode != cc.code {
			t.Errorf("first run (%s): exit %d, want %d", cc.first, firstCode, cc.code)
		}
	} else if firstCode != 0 {
		t.Fatalf("first run: exit %d, want 0", firstCode)
	}
	writeFacts(t, filepath.Join(dir, "data", "b.parquet"), firstRows+1, allRows)
	var codes []int
	for _, f := range cc.faulted {
		codes = append(codes, run(f))
	}
	if len(codes) > 0 && codes[0] != cc.code {
		t.Errorf("run with %s: exit %d, want %d", cc.faulted[0], codes[0], cc.code)
	}
	if cc.say != "" {
		out := printed[1+cc.sayIn]
		if !strings.Contains(out, cc.say) {
			t.Errorf("run with %s does not say %q:\n%s", cc.faulted[cc.sayIn], cc.say, out)
		}
		if cc.sayNext && !oneLineSays(out, "job "+job+": FAILED", cc.say, "the next run") {
			t.Errorf("run with %s does not say in one line that it failed, %q, and what the next run does:\n%s", cc.faulted[cc.sayIn], cc.say, out)
		}
	}
	if code := run(fault{}); code != 0 {
		t.Fatalf("run after the faults: exit %d, want 0", code)
	}

	// Every source row, once.
	tbl, err := emu.Table("Facts", "facts")
	if err != nil {
		t.Fatalf("read back the dataset: %v (datasets: %+v)", err, emu.Datasets())
	}
	var got []int
	for _, row := range tbl.Rows {
		n, err := strconv.Atoi(fmt.Sprint(row[0]))
		if err != nil {
			t.Fatalf("row %v: %v", row, err)
		}
		got = append(got, n)
	}
	slices.Sort(got)
	want := make([]int, allRows)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(got, want) {
		t.Errorf("dataset holds %d rows %s, want 1..%d once each", len(got), summarize(got, allRows), allRows)
	}
	if open := emu.OpenSessions(); len(open) != 0 {
		t.Errorf("upload sessions left open: %+v", open)
	}

	// The history: nothing left running, and the faulted run recorded as it ended.
	runs, err := st.store.Runs(context.Background(), job, 0)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(runs, func(a, b jobs.Run) int { return int(a.ID - b.ID) })
	for _, r := range runs {
		if r.Status == jobs.StatusRunning || r.Phase != jobs.PhaseNone {
			t.Errorf("run %d is still %s (phase %q): %s", r.ID, r.Status, r.Phase, r.Error)
		}
	}
	faulted := 1 // the first run is runs[0]
	if !cc.first.none() {
		faulted = 0
	}
	switch {
	case cc.status == "" && cc.first.none() && len(runs) != 2:
		t.Errorf("%d runs recorded, want only the first and the last (the faulted run never started): %+v", len(runs), runs)
	case cc.status == "":
	case len(runs) <= faulted:
		t.Errorf("the faulted run is not recorded, want it %s: %+v", cc.status, runs)
	default:
		victim := runs[faulted]
		if victim.Status != cc.status || !strings.Contains(victim.Error, cc.note) {
			t.Errorf("run %d: %s %q, want %s saying %q", victim.ID, victim.Status, victim.Error, cc.status, cc.note)
		}
		return &victim
	}
	return nil
}

// oneLineSays reports whether one line of out holds every piece, in order.
func oneLineSays(out string, pieces ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		rest, ok := l, true
		for _, p := range pieces {
			i := strings.Index(rest, p)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(p):]
		}
		if ok {
			return true
		}
	}
	return false
}

// crashHistory is what `cubesync history` prints of every job's runs on st.
func crashHistory(t *testing.T, bin string, st *crashStore) string {
	t.Helper()
	config := filepath.Join(st.dir, "c00", "jobs.toml") // any case's: every job's runs are shown
	cmd := exec.Command(bin, "history", "--config", config, "-n", "10000")
	cmd.Dir = st.dir
	cmd.Env = append(os.Environ(), "CUBESYNC_CONFIG=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("history: %v\n%s", err, out)
	}
	return string(out)
}

// historyLine is the line of `cubesync history` for run id.
func historyLine(hist string, id int64) string {
	for _, l := range strings.Split(hist, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == strconv.FormatInt(id, 10) {
			return l
		}
	}
	return ""
}

// summarize says which of 1..n are missing or repeated in ns.
func summarize(ns []int, n int) string {
	seen := map[int]int{}
	for _, v := range ns {
		seen[v]++
	}
	var missing, twice []int
	for i := 1; i <= n; i++ {
		switch {
		case seen[i] == 0:
			missing = append(missing, i)
		case seen[i] > 1:
			twice = append(twice, i)
		}
	}
	return fmt.Sprintf("(missing %d: %v; more than once %d: %v)", len(missing), head(missing), len(twice), head(twice))
}

func head(ns []int) []int {
	if len(ns) > 5 {
		return ns[:5]
	}
	return ns
}

// writeFacts writes a Parquet file of rows n = from..to with v = n/2: numbers only, so the
// table has no attribute and `add` appends every row pushed, twice if pushed twice.
func writeFacts(t testing.TB, path string, from, to int64) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.PrimitiveTypes.Float64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for n := from; n <= to; n++ {
		b.Field(0).(*array.Int64Builder).Append(n)
		b.Field(1).(*array.Float64Builder).Append(float64(n) / 2)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	testutil.WriteParquet(t, path, rec)
}
