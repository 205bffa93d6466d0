package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/jobs/filestate"
	"github.com/cubesync/cubesync/sink/emulator"
)

// startEmulator serves an in-process emulator and returns it with its base URL.
func startEmulator(t testing.TB) (*emulator.Server, string) {
	t.Helper()
	emu, err := emulator.New(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() { srv.Close(); emu.Close() })
	return emu, srv.URL + "/MicroStrategyLibrary"
}

// tickConfig is a jobs file with one job every second that replaces a table with the demo
// stores, pushed to the emulator at baseURL.
func tickConfig(t testing.TB, dir, baseURL, state, grace string) string {
	t.Helper()
	return writeConfigIn(t, dir, serveHead(state, baseURL, "call_retries = 1", `call_backoff = "50ms"`)+fmt.Sprintf("shutdown_grace = %q\n", grace)+
		storesJob(t, "tick", "Tick", `description = "every second"`, `schedule = "@every 1s"`, "retry = { attempts = 1 }"))
}

// inProcess runs `cubesync ARGS` in this process, in dir, until ctx ends.
type inProcess struct {
	stdout, stderr *testutil.SyncBuffer
	done           chan int
}

func serveInProcess(t *testing.T, ctx context.Context, args ...string) *inProcess {
	t.Helper()
	p := &inProcess{stdout: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{}, done: make(chan int, 1)}
	e := &env{stdout: p.stdout, stderr: p.stderr, getenv: func(string) string { return "" }, signal: func() os.Signal { return nil }}
	go func() { p.done <- Run(ctx, e, args) }()
	return p
}

// exitCode waits for the command to return, after its context ended, and returns its exit
// code; it fails the test when that takes longer than within.
func (p *inProcess) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case code := <-p.done:
		return code
	case <-time.After(within):
		t.Fatalf("cubesync did not return within %s", within)
		return 0
	}
}

// listenAddr waits for serve's "serving" log line and returns the address it listens on.
func listenAddr(t testing.TB, logs *testutil.SyncBuffer) string {
	t.Helper()
	var addr string
	testutil.WaitFor(t, 20*time.Second, "serve to log its listen address", func() bool {
		if l := logs.LogLines("serving"); len(l) > 0 {
			addr, _ = l[0]["listen"].(string)
		}
		return addr != ""
	})
	return addr
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func TestServeOperatingSurface(t *testing.T) {
	dir := t.TempDir()
	emu, url := startEmulator(t)
	config := tickConfig(t, dir, url, "", "5s")
	t.Chdir(dir) // the local state lives in ./.cubesync
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := serveInProcess(t, ctx, "serve", "--config", config)
	addr := listenAddr(t, p.stderr)
	base := "http://" + addr

	testutil.WaitFor(t, 20*time.Second, "two succeeded runs", func() bool { return len(p.stderr.LogLines("run finished")) >= 2 })

	t.Run("logs", func(t *testing.T) {
		// Every run logs its start, a summary per table and its end, with job, run and slot.
		for _, msg := range []string{"run started", "table pushed", "run finished"} {
			lines := p.stderr.LogLines(msg)
			if len(lines) == 0 {
				t.Fatalf("no %q log line; logs:\n%s", msg, p.stderr)
			}
			l := lines[0]
			if l["job"] != "tick" || l["run"] == nil || l["slot"] == nil {
				t.Errorf("%q log line %v lacks job, run or slot", msg, l)
			}
		}
		if strings.Contains(p.stderr.String(), "s3cret-pw") {
			t.Error("the target password appears in the logs")
		}
	})

	t.Run("healthz and readyz", func(t *testing.T) {
		if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
			t.Errorf("/healthz = %d %q, want 200 ok", code, body)
		}
		if code, body := get(t, base+"/readyz"); code != 200 || !strings.Contains(body, "ready") {
			t.Errorf("/readyz = %d %q, want 200 ready", code, body)
		}
		// The state store becomes unreachable: not ready, while still healthy.
		if err := os.Rename(".cubesync/jobs", ".cubesync/jobs.away"); err != nil {
			t.Fatal(err)
		}
		code, body := get(t, base+"/readyz")
		if err := os.Rename(".cubesync/jobs.away", ".cubesync/jobs"); err != nil {
			t.Fatal(err)
		}
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "state store unreachable") {
			t.Errorf("/readyz with the state directory gone = %d %q, want 503 naming the state store", code, body)
		}
		if code, _ := get(t, base+"/healthz"); code != 200 {
			t.Errorf("/healthz with the state store gone = %d, want 200 (the process is alive)", code)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		code, body := get(t, base+"/metrics")
		if code != 200 {
			t.Fatalf("/metrics = %d", code)
		}
		for _, want := range []string{
			`cubesync_runs_total{job="tick",status="succeeded"}`,
			`cubesync_rows_pushed_total{job="tick",table="stores"}`,
			`cubesync_bytes_pushed_total{job="tick",table="stores"}`,
			`cubesync_last_success_timestamp_seconds{job="tick"}`,
			`cubesync_run_duration_seconds_count{job="tick",status="succeeded"}`,
			`cubesync_running_jobs{job="tick"}`,
			`cubesync_next_run_timestamp_seconds{job="tick"}`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})

	t.Run("status page", func(t *testing.T) {
		code, body := get(t, base+"/")
		if code != 200 {
			t.Fatalf("GET / = %d", code)
		}
		for _, want := range []string{`<section class="job" id="job-tick">`, "<code>@every 1s</code>", "next run", `class="succeeded">succeeded`, "every second", "All 1 jobs healthy"} {
			if !strings.Contains(body, want) {
				t.Errorf("status page lacks %q:\n%s", want, body)
			}
		}
		if strings.Contains(body, "<script") {
			t.Error("status page uses JavaScript")
		}
		if code, _ := get(t, base+"/nope"); code != 404 {
			t.Errorf("GET /nope = %d, want 404", code)
		}
		// Without [serve] admin_token the admin API does not exist, whatever the request bears.
		for _, action := range []string{"run", "pause", "resume"} {
			if code, body := post(t, base+"/api/jobs/tick/"+action, "0123456789abcdef-any-token"); code != http.StatusNotFound {
				t.Errorf("POST /api/jobs/tick/%s without admin_token = %d %s, want 404", action, code, body)
			}
		}
	})

	t.Run("a second serve on the same state directory refuses", func(t *testing.T) {
		p2 := serveInProcess(t, ctx, "serve", "--config", config)
		select {
		case code := <-p2.done:
			if code != exitFailed || !strings.Contains(p2.stderr.String(), "another cubesync serve uses this state directory") {
				t.Errorf("second serve: exit %d, stderr %q; want exit 1 saying another serve uses the directory", code, p2.stderr)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a second serve on the same state directory started")
		}
	})

	testutil.WaitFor(t, 10*time.Second, "the latest run to have succeeded", func() bool {
		l := p.stderr.LogLines("run finished")
		return l[len(l)-1]["status"] == jobs.StatusSucceeded
	})
	cancel()
	if code := p.exitCode(t, 20*time.Second); code != exitOK {
		t.Errorf("serve exited %d after a clean shutdown, want 0; logs:\n%s", code, p.stderr)
	}

	t.Run("jobs command", func(t *testing.T) {
		var out, errOut bytes.Buffer
		e := &env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }, signal: func() os.Signal { return nil }}
		if code := Run(context.Background(), e, []string{"jobs", "--config", config}); code != exitOK {
			t.Fatalf("cubesync jobs: exit %d: %s", code, errOut.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "JOB") {
			t.Fatalf("cubesync jobs printed %q, want a header and one job", out.String())
		}
		for _, want := range []string{"tick", "@every 1s", jobs.StatusSucceeded} {
			if !strings.Contains(lines[1], want) {
				t.Errorf("cubesync jobs line %q lacks %q", lines[1], want)
			}
		}
	})
	if open := emu.OpenSessions(); len(open) != 0 {
		t.Errorf("upload sessions open after serve stopped: %+v", open)
	}
}

func TestServeNeedsAScheduledJob(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	path := writeConfigIn(t, dir, emuTarget("embedded"))
	p := serveInProcess(t, context.Background(), "serve", "--config", path)
	if code := <-p.done; code != exitUsage || !strings.Contains(p.stderr.String(), "no job has a schedule") {
		t.Errorf("serve without scheduled jobs: exit %d, stderr %q; want exit 2 saying no job has a schedule", code, p.stderr)
	}
}

// buildCubesync builds the cubesync binary into a temporary directory.
// buildCubesync returns the path of the cubesync binary, built on the package's first call
// and shared by its tests: linking it takes seconds, many more on a loaded machine, and
// every test that runs processes needs it. TestMain removes it after the tests.
func buildCubesync(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "cubesync-test-bin-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "cubesync")
		gobin, err := exec.LookPath("go")
		if err != nil {
			gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		}
		cmd := exec.Command(gobin, "build", "-o", built.path, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// built is the binary buildCubesync made for the package's tests.
var built struct {
	once      sync.Once
	dir, path string
	err       error
}

// removeBinaryAfter runs the tests of its testing.M and then removes the binary they shared.
type removeBinaryAfter struct{ *testing.M }

func (m removeBinaryAfter) Run() int {
	code := m.M.Run()
	if built.dir != "" {
		if err := os.RemoveAll(built.dir); err != nil {
			fmt.Fprintf(os.Stderr, "remove the test binary: %v\n", err)
		}
	}
	return code
}

// proc is a cubesync process the test started.
type proc struct {
	cmd  *exec.Cmd
	logs *testutil.SyncBuffer
	done chan struct{}
	code int
}

func startCubesync(t testing.TB, bin, dir string, args ...string) *proc {
	t.Helper()
	return startCubesyncEnv(t, bin, dir, nil, args...)
}

// startCubesyncEnv is startCubesync with the variables env ("NAME=value") set for the
// process only, so that a test that sets them can run in parallel with others.
func startCubesyncEnv(t testing.TB, bin, dir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), logs: &testutil.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.Env = append(append(os.Environ(), "CUBESYNC_CONFIG=", "CUBESYNC_LISTEN="), env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.code = -int(ws.Signal())
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of %s (pid %d):\n%s", strings.Join(args, " "), p.cmd.Process.Pid, tail(p.logs.String(), 60))
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		t.Fatalf("pid %d did not exit within %s", p.cmd.Process.Pid, timeout)
		return 0
	}
}

// term sends the process SIGTERM and waits for it to exit, at most timeout; it returns the
// exit code and how long the exit took.
func (p *proc) term(t testing.TB, timeout time.Duration) (code int, took time.Duration) {
	t.Helper()
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	code = p.wait(t, timeout)
	return code, time.Since(start)
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestServeSIGTERM(t *testing.T) {
	bin := buildCubesync(t)

	t.Run("clean", func(t *testing.T) {
		dir := t.TempDir()
		_, url := startEmulator(t)
		config := tickConfig(t, dir, url, "", "10s")
		p := startCubesync(t, bin, dir, "serve", "--config", config)
		testutil.WaitFor(t, 20*time.Second, "a succeeded run", func() bool { return len(p.logs.LogLines("run finished")) >= 1 })
		code, took := p.term(t, 15*time.Second)
		if code != exitOK {
			t.Errorf("serve exited %d after SIGTERM with nothing to cancel, want 0", code)
		}
		if took > 5*time.Second {
			t.Errorf("clean shutdown took %s, want well under the 10s grace period", took)
		}
	})

	t.Run("grace period over: run cancelled", func(t *testing.T) {
		dir := t.TempDir()
		emu, url := startEmulator(t)
		emu.SetPublishDelay(time.Hour) // every publish hangs
		config := tickConfig(t, dir, url, "", "2s")
		p := startCubesync(t, bin, dir, "serve", "--config", config)
		testutil.WaitFor(t, 20*time.Second, "a publish in progress", func() bool {
			return emu.Stats().Calls[emulator.CallPublish] >= 1 && len(emu.OpenSessions()) == 1
		})
		code, took := p.term(t, 20*time.Second)
		if code != exitTerminated {
			t.Errorf("serve exited %d after cancelling a run on SIGTERM, want 143", code)
		}
		if took < 2*time.Second || took > 10*time.Second {
			t.Errorf("serve took %s to stop, want the 2s grace period and a little", took)
		}
		if open := emu.OpenSessions(); len(open) != 0 {
			t.Errorf("the cancelled run left its upload session open: %+v", open)
		}
		store, err := filestate.Open(filepath.Join(dir, ".cubesync"))
		if err != nil {
			t.Fatal(err)
		}
		runs, err := store.Runs(context.Background(), "tick", 10)
		if err != nil || len(runs) != 1 || runs[0].Status != jobs.StatusInterrupted || runs[0].Scheduled.IsZero() {
			t.Errorf("runs after the shutdown = %+v (%v), want one interrupted scheduled run", runs, err)
		}
		if len(p.logs.LogLines("shutdown grace period over: cancelling running jobs")) != 1 {
			t.Errorf("no log line says the grace period ended; logs:\n%s", p.logs)
		}
	})

	t.Run("second signal exits at once", func(t *testing.T) {
		dir := t.TempDir()
		emu, url := startEmulator(t)
		emu.SetPublishDelay(time.Hour)
		config := tickConfig(t, dir, url, "", "1m")
		p := startCubesync(t, bin, dir, "serve", "--config", config)
		testutil.WaitFor(t, 20*time.Second, "a publish in progress", func() bool { return emu.Stats().Calls[emulator.CallPublish] >= 1 })
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		testutil.WaitFor(t, 10*time.Second, "serve to start stopping", func() bool {
			return len(p.logs.LogLines("stopping: no new runs; waiting for running jobs")) == 1
		})
		code, took := p.term(t, 10*time.Second)
		if code != exitTerminated {
			t.Errorf("serve exited %d on a second SIGTERM, want 143", code)
		}
		if took > 3*time.Second {
			t.Errorf("serve took %s to exit on the second signal, want at once", took)
		}
	})
}

func TestServeMetricsFromState(t *testing.T) {
	// What a restarted serve exports before its first run, and what it exports after
	// another replica ran the job: the last success and the watermark ages come from the
	// state store.
	ctx := context.Background()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := testutil.NewFakeClock(now.Add(-3 * time.Hour))
	store, err := filestate.Open(t.TempDir(), filestate.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	run, err := store.StartRun(ctx, jobs.Run{Job: "sales", Trigger: jobs.TriggerSchedule, Scheduled: clock.Now(), Started: clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	marks := []jobs.Watermark{
		{Job: "sales", Table: "orders", Column: "updated_at", Kind: jobs.KindTimestampTZ, Value: "2024-05-01T10:30:00.000000Z"},
		{Job: "sales", Table: "days", Column: "day", Kind: jobs.KindDate, Value: "2024-04-30"},
		{Job: "sales", Table: "ids", Column: "id", Kind: jobs.KindInt, Value: "42"},
	}
	if err := store.FinishRun(ctx, run.ID, jobs.Outcome{Status: jobs.StatusSucceeded, Rows: 3, Watermarks: marks}); err != nil {
		t.Fatal(err)
	}
	clock.Set(now.Add(-time.Hour))
	failed, _ := store.StartRun(ctx, jobs.Run{Job: "sales", Trigger: jobs.TriggerSchedule, Started: clock.Now()})
	if err := store.FinishRun(ctx, failed.ID, jobs.Outcome{Status: jobs.StatusFailed, Error: "boom"}); err != nil {
		t.Fatal(err)
	}

	m := newServeMetrics(store, slog.New(slog.DiscardHandler), func() time.Time { return now })
	m.load(ctx, []*jobs.Job{{Name: "sales"}})
	got := gatherGauges(t, m)
	want := map[string]float64{
		"cubesync_last_success_timestamp_seconds,job=sales":     float64(now.Add(-3 * time.Hour).Unix()),
		"cubesync_watermark_age_seconds,job=sales,table=orders": 90 * 60,
		"cubesync_watermark_age_seconds,job=sales,table=days":   36 * 3600,
		"cubesync_running_jobs,job=sales":                       0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := got["cubesync_watermark_age_seconds,job=sales,table=ids"]; ok {
		t.Error("an integer watermark has an age")
	}

	// Another replica runs the job: this one's scrape shows it once stateRefresh has passed.
	clock.Set(now.Add(-10 * time.Minute))
	other, _ := store.StartRun(ctx, jobs.Run{Job: "sales", Trigger: jobs.TriggerSchedule, Started: clock.Now()})
	moved := []jobs.Watermark{{Job: "sales", Table: "orders", Column: "updated_at", Kind: jobs.KindTimestampTZ, Value: "2024-05-01T11:50:00.000000Z"}}
	if err := store.FinishRun(ctx, other.ID, jobs.Outcome{Status: jobs.StatusSucceeded, Watermarks: moved}); err != nil {
		t.Fatal(err)
	}
	if got := gatherGauges(t, m)["cubesync_last_success_timestamp_seconds,job=sales"]; got != float64(now.Add(-3*time.Hour).Unix()) {
		t.Errorf("last success read again before %s passed: %v", stateRefresh, got)
	}
	now = now.Add(stateRefresh)
	got = gatherGauges(t, m)
	if g, w := got["cubesync_last_success_timestamp_seconds,job=sales"], float64(now.Add(-stateRefresh-10*time.Minute).Unix()); g != w {
		t.Errorf("last success after another replica's run = %v, want %v", g, w)
	}
	if g, w := got["cubesync_watermark_age_seconds,job=sales,table=orders"], (10*time.Minute + stateRefresh).Seconds(); g != w {
		t.Errorf("watermark age after another replica's run = %v, want %v", g, w)
	}
}

// gatherGauges scrapes m's registry into name,label=value… → gauge value.
func gatherGauges(t *testing.T, m *serveMetrics) map[string]float64 {
	t.Helper()
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			key := f.GetName()
			for _, l := range mt.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			got[key] = mt.GetGauge().GetValue()
		}
	}
	return got
}

// The shipped jobs.toml serves as it is (the image's default command is serve): ready at
// once, and its scheduled demo job runs, here at once through cubesync trigger.
func TestServeShippedConfig(t *testing.T) {
	config := shippedConfig(t)
	t.Chdir(t.TempDir()) // state and the embedded emulator's data go to ./.cubesync
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := serveInProcess(t, ctx, "serve", "--config", config, "--listen", "127.0.0.1:0", "--log-format", "json")
	base := "http://" + listenAddr(t, p.stderr)

	if code, body := get(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("GET /readyz on the shipped config = %d %s, want 200", code, body)
	}
	if _, body := get(t, base+"/"); !strings.Contains(body, "demo") || !strings.Contains(body, "* * * * *") {
		t.Errorf("status page does not list the demo job with its schedule:\n%s", body)
	}
	code, stdout, stderr := runCmd(t, "trigger", "demo", "--config", config)
	if code != exitOK || !strings.Contains(stdout, "taken by") {
		t.Fatalf("cubesync trigger demo: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	testutil.WaitFor(t, 60*time.Second, "the demo job to run under serve", func() bool { return len(p.stderr.LogLines("run finished")) > 0 })
	if run := p.stderr.LogLines("run finished")[0]; run["status"] != "succeeded" || run["rows"] != float64(3925) {
		t.Errorf("demo run under serve: %v, want succeeded with 3925 rows", run)
	}

	cancel()
	if code := p.exitCode(t, 20*time.Second); code != exitOK {
		t.Errorf("serve exited %d after a clean shutdown, want 0; logs:\n%s", code, p.stderr)
	}
}
