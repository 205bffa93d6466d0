package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cubesync/cubesync/jobs"
)

// TestRunJobNeverPrintsExpandedValues runs a job whose dataset name and parquet path come
// from ${VAR}s and whose file is missing, so that the run fails with an error naming the
// path: run-job's output and logs, the history and the webhook's message show the
// references, never the values.
func TestRunJobNeverPrintsExpandedValues(t *testing.T) {
	const dsName = "Dataset-Xq7Zleak"
	pqDir := filepath.Join(t.TempDir(), "pq-Xq7Zleak")
	t.Setenv("CUBESYNC_TEST_DSNAME", dsName)
	t.Setenv("CUBESYNC_TEST_PQDIR", pqDir)
	t.Setenv("CUBESYNC_TEST_CHUNK", "1000000") // digits only: must not turn counts into ${...}

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
	config := filepath.Join(dir, "jobs.toml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `[targets.emu]
base_url = "embedded"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "demo"
password = "demo"

[notify.ops]
url = %q
on = ["failure"]

[jobs.leak]
target = "emu"
dataset = { name = "${CUBESYNC_TEST_DSNAME}" }
retry = { attempts = 1 }
chunk_size = "${CUBESYNC_TEST_CHUNK}"
notify = ["ops"]
[[jobs.leak.tables]]
name = "orders"
policy = "replace"
parquet = "${CUBESYNC_TEST_PQDIR}/orders.parquet"
`, hook.URL+"/hook"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)

	leaks := func(t *testing.T, what, out string, refs ...string) {
		t.Helper()
		for _, v := range []string{dsName, pqDir, "Xq7Zleak"} {
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
	cfg, err := jobs.Parse(strings.NewReader(`[targets.emu]
base_url = "embedded"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "demo"
password = "demo"
[jobs.leak]
target = "emu"
dataset = { name = "Leak" }
[[jobs.leak.tables]]
name = "orders"
policy = "replace"
parquet = "${CUBESYNC_TEST_PQDIR}/orders.parquet"
`), "jobs.toml", func(k string) (string, bool) { return dir, k == "CUBESYNC_TEST_PQDIR" })
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
