package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
)

// TestRunJobNeverPrintsExpandedValues runs a job whose dataset name and parquet path come
// from ${VAR}s and whose file is missing, so that the run fails with an error naming the
// path: run-job's output and logs, the history and the webhook's message show the
// references, never the values.
func TestRunJobNeverPrintsExpandedValues(t *testing.T) {
	dsName, pqDir := setLeakVars(t)

	var (
		mu     sync.Mutex
		bodies []string
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	defer hook.Close()

	dir := t.TempDir()
	config := writeLeakConfig(t, dir, hook.URL+"/hook", "")
	t.Chdir(dir)

	leaks := func(t *testing.T, what, out string, refs ...string) {
		t.Helper()
		noLeak(t, what, out, []string{dsName, pqDir, "Xq7Zleak"}, refs...)
	}

	for _, format := range []string{"json", "text"} {
		t.Run("run-job "+format, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, "run-job", "--config", config, "--log-format", format, "--progress", "none", "leak")
			if code != exitFailed {
				t.Fatalf("run-job: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout, stderr)
			}
			leaks(t, "run-job", stdout+stderr, "${CUBESYNC_TEST_PQDIR}/orders.parquet")
		})
	}

	code, stdout, stderr := runCmd(t, "history", "--config", config, "leak")
	if code != 0 || !strings.Contains(stdout, "failed") {
		t.Fatalf("history: exit %d, want 0 with failed runs\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	leaks(t, "history", stdout+stderr, "${CUBESYNC_TEST_PQDIR}/orders.parquet")

	mu.Lock()
	defer mu.Unlock()
	if len(bodies) == 0 {
		t.Fatal("the webhook got no message about the failed runs")
	}
	for _, b := range bodies {
		leaks(t, "webhook message", b, "${CUBESYNC_TEST_PQDIR}/orders.parquet", `"name":"${CUBESYNC_TEST_DSNAME}"`)
	}
}

// TestLoggerScrubsEveryAttribute: the process logger takes the values of ${VAR}s out of
// the message, string and error attributes, attributes given to With and groups.
func TestLoggerScrubsEveryAttribute(t *testing.T) {
	const dir = "/srv/data-Xq7Zleak"
	cfg, err := jobs.Parse(strings.NewReader(emuTarget("embedded")+leakJob("${CUBESYNC_TEST_PQDIR}/orders.parquet")), "jobs.toml", func(k string) (string, bool) { return dir, k == "CUBESYNC_TEST_PQDIR" })
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var b strings.Builder
			log, err := newLogger(&b, format, cfg.Scrubber())
			if err != nil {
				t.Fatal(err)
			}
			log = log.With("path", dir+"/a.parquet").WithGroup("g")
			log.Info("read "+dir, "err", errors.New("open "+dir+": denied"), slog.Group("file", "name", dir+"/b.parquet"))
			out := b.String()
			if strings.Contains(out, "Xq7Zleak") {
				t.Errorf("log shows the value of ${CUBESYNC_TEST_PQDIR}:\n%s", out)
			}
			if n := strings.Count(out, "${CUBESYNC_TEST_PQDIR}"); n != 4 {
				t.Errorf("log holds ${CUBESYNC_TEST_PQDIR} %d times, want 4 (message, With, error, group):\n%s", n, out)
			}
		})
	}
}

// leakJob is the job leak replacing a table of dataset Leak with the parquet file path.
func leakJob(path string) string {
	return fmt.Sprintf(`[jobs.leak]
target = "emu"
dataset = { name = "Leak" }
[[jobs.leak.tables]]
name = "orders"
policy = "replace"
parquet = %q
`, path)
}

// setLeakVars sets the variables writeLeakConfig's file names, to values that contain
// "Xq7Zleak", and returns the dataset name and the parquet directory.
func setLeakVars(t *testing.T) (dsName, pqDir string) {
	t.Helper()
	dsName, pqDir = "Dataset-Xq7Zleak", filepath.Join(t.TempDir(), "pq-Xq7Zleak")
	t.Setenv("CUBESYNC_TEST_DSNAME", dsName)
	t.Setenv("CUBESYNC_TEST_PQDIR", pqDir)
	t.Setenv("CUBESYNC_TEST_CHUNK", "1000000") // digits only: must not turn counts into ${...}
	return dsName, pqDir
}

// writeLeakConfig writes a jobs file in dir whose job leak takes its dataset name and its
// parquet path from the variables setLeakVars sets; its file does not exist, so every run
// fails with an error naming the path. Its failures go to the webhook at hookURL; extra
// adds lines to the job (a schedule).
func writeLeakConfig(t *testing.T, dir, hookURL, extra string) string {
	t.Helper()
	return writeConfigIn(t, dir, serveHead("", "embedded")+fmt.Sprintf(`
[notify.ops]
url = %q
on = ["failure"]

[jobs.leak]
target = "emu"
dataset = { name = "${CUBESYNC_TEST_DSNAME}" }
retry = { attempts = 1 }
chunk_size = "${CUBESYNC_TEST_CHUNK}"
notify = ["ops"]
%s
[[jobs.leak.tables]]
name = "orders"
policy = "replace"
parquet = "${CUBESYNC_TEST_PQDIR}/orders.parquet"
`, hookURL, extra))
}

// noLeak fails t when out holds one of values, or lacks one of refs.
func noLeak(t *testing.T, what, out string, values []string, refs ...string) {
	t.Helper()
	for _, v := range values {
		if strings.Contains(out, v) {
			t.Errorf("%s shows %q, a value from the environment:\n%s", what, v, out)
		}
	}
	for _, ref := range refs {
		if !strings.Contains(out, ref) {
			t.Errorf("%s lacks %s:\n%s", what, ref, out)
		}
	}
}

// TestServeNeverLogsExpandedValues: serve's log of a scheduled run that fails with an error
// naming a path from a ${VAR}, and the status pages of the job and the run, show the
// references, not the values.
func TestServeNeverLogsExpandedValues(t *testing.T) {
	bin := buildCubesync(t)
	dsName, pqDir := setLeakVars(t)
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer hook.Close()
	dir := t.TempDir()
	config := writeLeakConfig(t, dir, hook.URL, `schedule = "@every 1s"`)
	p := startCubesync(t, bin, dir, "serve", "--config", config, "--log-format", "json")
	base := "http://" + listenAddr(t, p.logs)
	testutil.WaitFor(t, 30*time.Second, "a scheduled run to fail", func() bool { return len(p.logs.LogLines("scheduled run failed")) >= 1 })
	values := []string{dsName, pqDir, "Xq7Zleak"}
	for _, page := range []string{"/", "/jobs/leak/runs/1"} {
		code, body := get(t, base+page)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", page, code, body)
		}
		noLeak(t, "status page "+page, body, values, "${CUBESYNC_TEST_DSNAME}")
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 30*time.Second)
	noLeak(t, "serve's log", p.logs.String(), values, "${CUBESYNC_TEST_PQDIR}/orders.parquet")
}

// TestCommandErrorsNeverPrintExpandedValues: the error a command prints on stderr (here:
// the state database cannot be reached, and the driver names the database) shows the
// reference, not the value.
func TestCommandErrorsNeverPrintExpandedValues(t *testing.T) {
	t.Setenv("CUBESYNC_TEST_PGDB", "db-Xq7Zleak")
	dir := t.TempDir()
	config := writeConfigIn(t, dir, `[state]
database_url = "postgres://cubesync@127.0.0.1:1/${CUBESYNC_TEST_PGDB}?sslmode=disable&connect_timeout=2"
`+emuTarget("embedded")+leakJob("orders.parquet"))
	t.Chdir(dir)
	code, stdout, stderr := runCmd(t, "history", "--config", config, "leak")
	if code == 0 {
		t.Fatalf("history with an unreachable state database: exit 0, want a failure\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	noLeak(t, "history", stdout+stderr, []string{"Xq7Zleak"}, "${CUBESYNC_TEST_PGDB}")
}

// TestTracingNeverExportsExpandedValues: the spans of a run that fails with an error naming
// a path from a ${VAR} reach the tracing backend with the reference, not the value.
func TestTracingNeverExportsExpandedValues(t *testing.T) {
	bin := buildCubesync(t)
	_, pqDir := setLeakVars(t)
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer hook.Close()
	rc := startOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL)
	dir := t.TempDir()
	config := writeLeakConfig(t, dir, hook.URL, "")
	code, stdout, stderr := runBin(t, bin, dir, "run-job", "leak", "--config", config, "--log-format", "json", "--progress", "none")
	if code != exitFailed {
		t.Fatalf("run-job: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout, stderr)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.spans) == 0 {
		t.Fatalf("the receiver got no span (undecodable requests: %v)", rc.bad)
	}
	var exported []byte
	for _, b := range rc.bodies {
		exported = append(exported, b...)
	}
	noLeak(t, "the exported spans", fmt.Sprintf("%q", exported), []string{pqDir, "Xq7Zleak"}, "${CUBESYNC_TEST_PQDIR}/orders.parquet")
}
