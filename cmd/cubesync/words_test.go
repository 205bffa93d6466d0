package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cubesync/cubesync/internal/testutil"
)

// jsonLogs parses every line of logs as a JSON log record, failing the test on a line that
// is not one.
func jsonLogs(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// The words of run-job say what happened, once each, with durations in one format.
func TestRunJobWords(t *testing.T) {
	config := shippedConfig(t)
	t.Chdir(t.TempDir())

	t.Run("a run logs each event once, durations in seconds under _s keys", func(t *testing.T) {
		code, stdout, stderr := runCmd(t, "run-job", "--config", config, "--log-format", "json", "--progress", "none", "demo")
		if code != exitOK {
			t.Fatalf("run-job demo: exit %d\n%s\n%s", code, stdout, stderr)
		}
		seen := map[string]int{}
		for _, m := range jsonLogs(t, stderr) {
			msg, _ := m["msg"].(string)
			seen[msg]++
			for k, v := range m {
				if strings.Contains(k, "duration") || k == "in" || k == "delay" {
					if _, ok := v.(float64); !ok || !strings.HasSuffix(k, "_s") {
						t.Errorf("log %q: %s = %v; want durations as seconds, a number, under a key ending in _s", msg, k, v)
					}
				}
			}
		}
		for msg, n := range seen {
			if n > 1 && msg != "table pushed" {
				t.Errorf("log %q appears %d times in one run, want once", msg, n)
			}
		}
		if seen["dataset created"] != 1 || seen["table pushed"] != 2 {
			t.Errorf("logs: %v; want dataset created once and table pushed per table", seen)
		}
	})

	t.Run("text logs give durations as Go durations", func(t *testing.T) {
		code, _, stderr := runCmd(t, "run-job", "--config", config, "--log-format", "text", "--progress", "none", "demo")
		if code != exitOK || !strings.Contains(stderr, `msg="run finished"`) {
			t.Fatalf("run-job demo: exit %d\n%s", code, stderr)
		}
		for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
			for _, f := range strings.Fields(line) {
				k, v, _ := strings.Cut(f, "=")
				if k != "duration" {
					continue
				}
				if _, err := time.ParseDuration(v); err != nil || strings.Contains(v, ".") && strings.HasSuffix(v, "ms") {
					t.Errorf("text log %q: duration=%s, want a Go duration rounded to the millisecond", line, v)
				}
			}
		}
	})

	t.Run("dry run says would push", func(t *testing.T) {
		code, stdout, stderr := runCmd(t, "run-job", "--config", config, "--log-format", "json", "--progress", "none", "--dry-run", "demo")
		if code != exitOK {
			t.Fatalf("run-job --dry-run demo: exit %d\n%s", code, stderr)
		}
		if !strings.Contains(stdout, "job demo: dry run, would push 3925 rows (nothing pushed)") {
			t.Errorf("dry run summary:\n%s\nwant it to say it would push 3925 rows", stdout)
		}
		var would int
		for _, m := range jsonLogs(t, stderr) {
			switch m["msg"] {
			case "table pushed":
				t.Errorf("a dry run logs %v, but pushes nothing", m)
			case "would push":
				would++
			}
		}
		if would != 2 {
			t.Errorf("dry run logged %d 'would push' lines, want one per table (2):\n%s", would, stderr)
		}
	})

	t.Run("a job running elsewhere is skipped, a warning", func(t *testing.T) {
		lockLocally(t, "demo")
		host, _ := os.Hostname()

		code, stdout, stderr := runCmd(t, "run-job", "--config", config, "--log-format", "json", "demo")
		if code != exitSkipped {
			t.Errorf("exit %d, want %d (skipped)", code, exitSkipped)
		}
		want := "skipped: already running on " + host + ":"
		if !strings.Contains(stdout, "job demo: "+want) {
			t.Errorf("stdout %q, want it to say %q", stdout, want)
		}
		logs := jsonLogs(t, stderr)
		if len(logs) != 1 || logs[0]["level"] != "WARN" || !strings.HasPrefix(logs[0]["msg"].(string), want) {
			t.Errorf("logs %v, want one WARN line saying %q", logs, want)
		}
	})
}

// Ctrl-C during a run: the run is interrupted, not failed, and says so.
func TestRunJobInterruptedSaysSo(t *testing.T) {
	emu, base := startEmulator(t)
	emu.SetPublishDelay(time.Minute) // the run waits in publish until it is interrupted
	dir := t.TempDir()
	config := tickConfig(t, dir, base, "", "1s")
	t.Chdir(dir)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut testutil.SyncBuffer
	e := &env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }, signal: func() os.Signal {
		if ctx.Err() != nil {
			return os.Interrupt
		}
		return nil
	}}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, e, []string{"run-job", "--config", config, "--log-format", "json", "--progress", "none", "tick"})
	}()
	testutil.WaitFor(t, 20*time.Second, "the run to publish", func() bool {
		open := emu.OpenSessions()
		return len(open) == 1 && open[0].Published
	})
	cancel()
	var code int
	select {
	case code = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("run-job did not end within 20s of the interrupt")
	}

	if code != exitInterrupted {
		t.Errorf("exit %d, want %d", code, exitInterrupted)
	}
	if got := out.String(); !strings.HasPrefix(got, "job tick: interrupted, nothing published") || strings.Contains(got, "FAILED") {
		t.Errorf("stdout %q, want it to begin: job tick: interrupted, nothing published", got)
	}
	finished := 0
	for _, m := range jsonLogs(t, errOut.String()) {
		if m["level"] == "ERROR" {
			t.Errorf("an interrupted run logs an error: %v", m)
		}
		if m["msg"] == "run finished" {
			finished++
			if m["status"] != "interrupted" {
				t.Errorf("run finished with status %v, want interrupted", m["status"])
			}
		}
	}
	if finished != 1 {
		t.Errorf("%d 'run finished' lines, want 1:\n%s", finished, errOut.String())
	}
}

// A second run with no new files publishes nothing and says so, in run-job and history.
func TestRunJobNoChanges(t *testing.T) {
	dir := t.TempDir()
	config := writeConfigIn(t, dir, fmt.Sprintf(`
[targets.demo]
base_url = "embedded"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "demo"
password = "demo"

[jobs.orders]
target = "demo"
dataset = { name = "Orders" }
[[jobs.orders.tables]]
name = "orders"
policy = "add"
parquet = %q
incremental = { files = "new" }
`, demoData(t, "orders")))
	t.Chdir(dir)

	if code, stdout, stderr := runCmd(t, "run-job", "--config", config, "--progress", "none", "orders"); code != exitOK || !strings.Contains(stdout, "job orders: published") {
		t.Fatalf("first run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr := runCmd(t, "run-job", "--config", config, "--progress", "none", "orders")
	if code != exitOK || !strings.HasPrefix(stdout, "job orders: no changes, nothing published") {
		t.Errorf("run with no new files: exit %d, stdout:\n%s\nwant exit 0 and: job orders: no changes, nothing published\n%s", code, stdout, stderr)
	}
	_, stdout, _ = runCmd(t, "history", "--config", config, "orders")
	if !regexp.MustCompile(`(?m)^2 +orders .* succeeded \(no changes\) +0 `).MatchString(stdout) {
		t.Errorf("cubesync history orders:\n%s\nwant run 2 as succeeded (no changes) with 0 rows", stdout)
	}
}
