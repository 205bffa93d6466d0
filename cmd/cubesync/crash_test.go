package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
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
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/jobs/filestate"
	"github.com/cubesync/cubesync/jobs/pgstate"
	"github.com/cubesync/cubesync/sink/emulator"
)

// fault is what one run of the crash test suffers.
type fault struct {
	dieAt, failAt string // CUBESYNC_TEST_DIE_AT, CUBESYNC_TEST_FAIL_AT: a step of jobs.Steps
	// kill the process when the server gets this call: before the emulator handles it, or
	// after (the server did it, the client never hears)
	killCall, killWhen string
	loseAnswer         string // the emulator handles the first call of this kind, the client gets a 502
	failCalls          map[emulator.Call]int
	failPublish        bool // the publish ends with status 3
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
		parts = append(parts, "kill "+f.killWhen+" "+f.killCall)
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
		parts = append(parts, fmt.Sprintf("fail %s x%d", c, f.failCalls[c]))
	}
	if f.failPublish {
		parts = append(parts, "publish status 3")
	}
	return strings.Join(parts, ", ")
}

// crashCase runs the facts job: a clean first run loads a.parquet (1..100); then b.parquet
// (101..150) arrives and each run of faulted suffers its fault; a last clean run follows.
type crashCase struct {
	first   fault   // the first run's fault (dataset creation), if any
	faulted []fault // runs after b.parquet arrives
	// what the first faulted run is recorded as once settled ("" = not recorded at all),
	// a piece of its history line, and the exit code it ends with (-9: killed)
	status, note string
	code         int
	say          string // a piece of what the first faulted run prints
}

func die(step string) fault { return fault{dieAt: step} }
func failAt(step string) fault {
	return fault{failAt: step}
}
func kill(when, call string) fault { return fault{killCall: call, killWhen: when} }
func fail(calls map[emulator.Call]int) fault {
	return fault{failCalls: calls}
}

const killed = -int(syscall.SIGKILL)

func crashCases() map[string]crashCase {
	late := "recorded late"
	cases := map[string]crashCase{
		// SIGKILL before and after each state write.
		"die before start_run":       {faulted: []fault{die("before:start_run")}, code: killed},
		"die after start_run":        {faulted: []fault{die("after:start_run")}, status: jobs.StatusAbandoned, note: "died before it finished", code: killed},
		"die before record_dataset":  {first: die("before:record_dataset"), code: killed},
		"die after record_dataset":   {first: die("after:record_dataset"), code: killed},
		"die before record_opening":  {faulted: []fault{die("before:record_opening")}, status: jobs.StatusAbandoned, note: "died before it finished", code: killed},
		"die after record_opening":   {faulted: []fault{die("after:record_opening")}, status: jobs.StatusAbandoned, note: "died while opening an upload session", code: killed},
		"die before record_session":  {faulted: []fault{die("before:record_session")}, status: jobs.StatusAbandoned, note: "died while opening an upload session", code: killed},
		"die after record_session":   {faulted: []fault{die("after:record_session")}, status: jobs.StatusAbandoned, note: "cancelled by run", code: killed},
		"die before record_pending":  {faulted: []fault{die("before:record_pending")}, status: jobs.StatusAbandoned, note: "cancelled by run", code: killed},
		"die after record_pending":   {faulted: []fault{die("after:record_pending")}, status: jobs.StatusSucceeded, note: late, code: killed},
		"die before finish_run":      {faulted: []fault{die("before:finish_run")}, status: jobs.StatusSucceeded, note: late, code: killed},
		"die after finish_run":       {faulted: []fault{die("after:finish_run")}, status: jobs.StatusSucceeded, code: killed},
		"die before settle_run":      {faulted: []fault{die("after:record_pending"), die("before:settle_run")}, status: jobs.StatusSucceeded, note: late, code: killed},
		"die after settle_run":       {faulted: []fault{die("after:record_pending"), die("after:settle_run")}, status: jobs.StatusSucceeded, note: late, code: killed},
		"die after opening, twice":   {faulted: []fault{die("before:record_session"), die("before:record_session")}, status: jobs.StatusAbandoned, note: "died while opening an upload session", code: killed},
		"fail before settle_run":     {faulted: []fault{die("before:finish_run"), failAt("before:settle_run")}, status: jobs.StatusSucceeded, note: late, code: killed},
		"fail before start_run":      {faulted: []fault{failAt("before:start_run")}, code: 1},
		"fail after start_run":       {faulted: []fault{failAt("after:start_run")}, status: jobs.StatusAbandoned, note: "died before it finished", code: 1},
		"fail before record_dataset": {first: failAt("before:record_dataset"), code: 1},
		"fail before record_opening": {faulted: []fault{failAt("before:record_opening")}, status: jobs.StatusFailed, note: "state store write failed", code: 1},
		"fail after record_opening":  {faulted: []fault{failAt("after:record_opening")}, status: jobs.StatusFailed, note: "state store write failed", code: 1},
		"fail before record_session": {faulted: []fault{failAt("before:record_session")}, status: jobs.StatusFailed, note: "state store write failed", code: 1},
		"fail after record_session":  {faulted: []fault{failAt("after:record_session")}, status: jobs.StatusFailed, note: "state store write failed", code: 1},
		"fail before record_pending": {faulted: []fault{failAt("before:record_pending")}, status: jobs.StatusFailed, note: "state store write failed", code: 1},
		"fail after record_pending":  {faulted: []fault{failAt("after:record_pending")}, status: jobs.StatusFailed, note: "state store write failed", code: 1},
		// Published, but the record fails (a full disk): exit 1, the next run records it.
		"fail before finish_run": {faulted: []fault{failAt("before:finish_run")}, status: jobs.StatusSucceeded, note: late, code: 1,
			say: "job facts: FAILED: PUBLISHED upload session"},
		"fail after finish_run": {faulted: []fault{failAt("after:finish_run")}, status: jobs.StatusSucceeded, code: 0},

		// Failures of the server's calls (each call is sent twice: call_retries = 1).
		"fail login":       {faulted: []fault{fail(map[emulator.Call]int{emulator.CallLogin: 2})}, status: jobs.StatusFailed, code: 1},
		"fail definition":  {faulted: []fault{fail(map[emulator.Call]int{emulator.CallDefinition: 2})}, status: jobs.StatusFailed, code: 1},
		"fail open":        {faulted: []fault{fail(map[emulator.Call]int{emulator.CallOpenSession: 2})}, status: jobs.StatusFailed, code: 1},
		"fail put":         {faulted: []fault{fail(map[emulator.Call]int{emulator.CallPut: 2})}, status: jobs.StatusFailed, code: 1},
		"fail put, delete": {faulted: []fault{fail(map[emulator.Call]int{emulator.CallPut: 2, emulator.CallDelete: 2})}, status: jobs.StatusFailed, note: "cancelled by run", code: 1},
		"fail publish":     {faulted: []fault{fail(map[emulator.Call]int{emulator.CallPublish: 2})}, status: jobs.StatusFailed, code: 1},
		// The status poll fails: asked again, the server says published.
		"fail publish status": {faulted: []fault{fail(map[emulator.Call]int{emulator.CallPublishStatus: 2})}, status: jobs.StatusSucceeded, code: 0},
		// The status cannot be read at all: outcome unknown, the next run records it.
		"fail publish status 4x": {faulted: []fault{fail(map[emulator.Call]int{emulator.CallPublishStatus: 4})}, status: jobs.StatusSucceeded, note: late, code: 1,
			say: "outcome unknown"},
		"publish fails": {faulted: []fault{{failPublish: true}}, status: jobs.StatusFailed, note: "failed with status", code: 1},
		// The session opens but the answer is lost: the retry gets a 409 naming it.
		"lose open answer": {faulted: []fault{{loseAnswer: "open_session"}}, status: jobs.StatusSucceeded, note: "no run had recorded", code: 0},
	}
	// SIGKILL before and after each call to the server.
	for _, c := range []struct {
		call            string
		before, after   string // status of the killed run once settled
		noteB, noteA    string
		first           bool
		beforeRecording bool
	}{
		{call: "login", before: jobs.StatusAbandoned, after: jobs.StatusAbandoned},
		{call: "definition", before: jobs.StatusAbandoned, after: jobs.StatusAbandoned},
		{call: "model", first: true},
		{call: "open_session", before: jobs.StatusAbandoned, after: jobs.StatusAbandoned, noteB: "while opening", noteA: "while opening"},
		{call: "put", before: jobs.StatusAbandoned, after: jobs.StatusAbandoned, noteB: "cancelled by run", noteA: "cancelled by run"},
		{call: "publish", before: jobs.StatusSucceeded, after: jobs.StatusSucceeded, noteB: late, noteA: late},
		{call: "publish_status", before: jobs.StatusSucceeded, after: jobs.StatusSucceeded, noteB: late, noteA: late},
		{call: "logout", before: jobs.StatusSucceeded, after: jobs.StatusSucceeded},
	} {
		for _, when := range []string{"before", "after"} {
			cc := crashCase{code: killed}
			f := kill(when, c.call)
			if c.first {
				cc.first = f
			} else {
				cc.faulted = []fault{f}
				cc.status, cc.note = c.before, c.noteB
				if when == "after" {
					cc.status, cc.note = c.after, c.noteA
				}
			}
			cases["kill "+when+" "+c.call] = cc
		}
	}
	return cases
}

// TestRunJobCrashesAndFaults runs the real binary through a crash (SIGKILL) at every step
// of a run — before and after each state write and each call to the server — and through a
// failure of each, then runs the job again, and proves for each: the dataset holds every
// source row exactly once (policy add, so a row pushed twice would show), no upload session
// is left open, and the history says what became of the run. For the local and the
// Postgres state store.
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
	for _, store := range []string{"local", "postgres"} {
		t.Run(store, func(t *testing.T) {
			for _, name := range names {
				t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
					runCrashCase(t, bin, store, cases[name])
				})
			}
		})
	}
}

// crashProxy serves the emulator, killing the running cubesync or losing an answer when a
// fault asks for it.
type crashProxy struct {
	emu *emulator.Server

	mu   sync.Mutex
	f    fault
	proc *crashProc
	hit  bool
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

func (p *crashProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := callKind(r)
	p.mu.Lock()
	f, proc := p.f, p.proc
	fire := !p.hit && kind != "" && (kind == f.killCall || kind == f.loseAnswer)
	if fire {
		p.hit = true
	}
	p.mu.Unlock()
	if !fire {
		p.emu.ServeHTTP(w, r)
		return
	}
	if f.loseAnswer != "" {
		p.emu.ServeHTTP(httptest.NewRecorder(), r)
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	}
	rec := httptest.NewRecorder()
	if f.killWhen == "after" {
		p.emu.ServeHTTP(rec, r)
	}
	<-proc.started // the call may arrive before Start has returned in the test's goroutine
	_ = proc.cmd.Process.Kill()
	<-proc.done
	http.Error(w, "the client is dead", http.StatusBadGateway)
}

func runCrashCase(t *testing.T, bin, store string, cc crashCase) {
	dir := t.TempDir()
	state := ""
	if store == "postgres" {
		state = fmt.Sprintf("[state]\ndatabase_url = %q\n", pgtest.DSN(t))
	}
	emu, err := emulator.New(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	proxy := &crashProxy{emu: emu}
	srv := httptest.NewServer(proxy)
	t.Cleanup(func() { srv.Close(); emu.Close() })
	config := filepath.Join(dir, "jobs.toml")
	text := state + fmt.Sprintf(`
[targets.emu]
base_url = %q
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "alice"
password = "s3cret-pw"
call_retries = 1
call_backoff = "10ms"

[jobs.facts]
target = "emu"
dataset = { name = "Facts" }
retry = { attempts = 1 }
[[jobs.facts.tables]]
name = "facts"
policy = "add"
parquet = "data/*.parquet"
incremental = { files = "new" }
`, srv.URL+"/MicroStrategyLibrary")
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	var outputs, printed []string
	run := func(f fault) int {
		t.Helper()
		emu.ClearFaults()
		for c, n := range f.failCalls {
			for range n {
				emu.FailNth(c, 1, http.StatusInternalServerError, "")
			}
		}
		if f.failPublish {
			emu.FailPublish(3, "the cube is locked")
		}
		cmd := exec.Command(bin, "run-job", "--config", config, "--log-format", "json", "--progress", "none", "facts")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CUBESYNC_CONFIG=", dieAtEnv+"="+f.dieAt, failAtEnv+"="+f.failAt)
		var out testutil.SyncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		proc := &crashProc{cmd: cmd, started: make(chan struct{}), done: make(chan struct{})}
		proxy.mu.Lock()
		proxy.f, proxy.proc, proxy.hit = f, proc, false
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
	defer func() {
		if t.Failed() {
			t.Log(strings.Join(outputs, "\n\n"))
		}
	}()

	writeFacts(t, filepath.Join(dir, "data", "a.parquet"), 1, 100)
	firstCode := run(cc.first)
	if !cc.first.none() {
		if firstCode != cc.code {
			t.Errorf("first run (%s): exit %d, want %d", cc.first, firstCode, cc.code)
		}
	} else if firstCode != 0 {
		t.Fatalf("first run: exit %d, want 0", firstCode)
	}
	writeFacts(t, filepath.Join(dir, "data", "b.parquet"), 101, 150)
	var codes []int
	for _, f := range cc.faulted {
		codes = append(codes, run(f))
	}
	if len(codes) > 0 && codes[0] != cc.code {
		t.Errorf("run with %s: exit %d, want %d", cc.faulted[0], codes[0], cc.code)
	}
	if cc.say != "" {
		if out := printed[1]; !strings.Contains(out, cc.say) || !strings.Contains(out, "the next run") {
			t.Errorf("run with %s does not say %q and what the next run does:\n%s", cc.faulted[0], cc.say, out)
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
	want := make([]int, 150)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(got, want) {
		t.Errorf("dataset holds %d rows %s, want 1..150 once each", len(got), summarize(got))
	}
	if open := emu.OpenSessions(); len(open) != 0 {
		t.Errorf("upload sessions left open: %+v", open)
	}

	// The history: nothing left running, and the faulted run recorded as it ended.
	runs := storeRuns(t, dir, store, state)
	for _, r := range runs {
		if r.Status == jobs.StatusRunning || r.Phase != jobs.PhaseNone {
			t.Errorf("run %d is still %s (phase %q): %s", r.ID, r.Status, r.Phase, r.Error)
		}
	}
	cmd := exec.Command(bin, "history", "--config", config, "facts", "-n", "50")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CUBESYNC_CONFIG=")
	hist, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("history: %v\n%s", err, hist)
	}
	faultedRun := int64(2) // the first run is 1
	if !cc.first.none() {
		faultedRun = 1
	}
	var victim *jobs.Run
	for i := range runs {
		if runs[i].ID == faultedRun {
			victim = &runs[i]
		}
	}
	switch {
	case cc.status == "" && victim != nil && cc.first.none() && len(runs) != 2:
		t.Errorf("runs %d recorded, want only the first and the last (the faulted run never started): %+v", len(runs), runs)
	case cc.status != "" && victim == nil:
		t.Errorf("run %d is not recorded, want it %s", faultedRun, cc.status)
	case cc.status != "":
		if victim.Status != cc.status || !strings.Contains(victim.Error, cc.note) {
			t.Errorf("run %d: %s %q, want %s saying %q", victim.ID, victim.Status, victim.Error, cc.status, cc.note)
		}
		line := historyLine(string(hist), victim.ID)
		if !strings.Contains(line, cc.status) || !strings.Contains(line, cc.note) {
			t.Errorf("history line of run %d = %q, want it to say %s and %q\n%s", victim.ID, line, cc.status, cc.note, hist)
		}
	}
	if strings.Contains(string(hist), "s3cret-pw") {
		t.Errorf("history shows the password")
	}
}

// storeRuns reads the job's runs from the state store the test's cubesync used.
func storeRuns(t *testing.T, dir, store, state string) []jobs.Run {
	t.Helper()
	ctx := context.Background()
	var st jobs.Store
	var err error
	if store == "postgres" {
		dsn := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(state), "[state]\ndatabase_url = \""), "\"")
		st, err = pgstate.Open(ctx, dsn, nil)
	} else {
		st, err = filestate.Open(filepath.Join(dir, ".cubesync"))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Runs(ctx, "facts", 0)
	if err != nil {
		t.Fatal(err)
	}
	return runs
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

// summarize says which of 1..150 are missing or repeated in sorted ns.
func summarize(ns []int) string {
	seen := map[int]int{}
	for _, n := range ns {
		seen[n]++
	}
	var missing, twice []int
	for i := 1; i <= 150; i++ {
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
func writeFacts(t *testing.T, path string, from, to int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.PrimitiveTypes.Float64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for n := from; n <= to; n++ {
		b.Field(0).(*array.Int64Builder).Append(n)
		b.Field(1).(*array.Float64Builder).Append(float64(n) / 2)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
