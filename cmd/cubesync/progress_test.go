package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/jobs/filestate"
	"github.com/cubesync/cubesync/sink"
)

// As a user sees it off a terminal: while a slow query yields its rows, the progress lines
// show the rows and bytes read so far growing (not 0 until a batch or chunk is complete),
// and while the server publishes, lines say so with the time spent publishing.
func TestProgressLinesDuringSlowQueryAndPublish(t *testing.T) {
	dsn := pgtest.DSN(t)
	emu, baseURL := startEmulator(t)
	emu.SetPublishDelay(1200 * time.Millisecond)
	dir := t.TempDir()
	t.Chdir(dir)
	const rows = 40
	config := writeConfigIn(t, dir, emuTarget(baseURL)+fmt.Sprintf(`
[sources.wh]
type = "postgres"
dsn = %q

[jobs.slow]
target = "emu"
dataset = { name = "Slow" }
retry = { attempts = 1 }
[[jobs.slow.tables]]
name = "events"
policy = "add"
source = "wh"
# 50ms a row; each row is larger than Postgres's 8 kB send buffer, so it leaves at once
query = "SELECT g AS id, repeat('x', 9000) AS pad FROM generate_series(1, %d) g CROSS JOIN LATERAL pg_sleep(0.05 + 0 * g)"
`, dsn, rows))

	var stdout, stderr testutil.SyncBuffer
	e := &env{stdout: &stdout, stderr: &stderr, getenv: func(k string) string {
		if k == "CUBESYNC_PROGRESS_INTERVAL" {
			return "200ms"
		}
		return ""
	}}
	if code := Run(context.Background(), e, []string{"run-job", "--config", config, "--progress", "plain", "--log-format", "json", "slow"}); code != 0 {
		t.Fatalf("run-job exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}

	var reading []map[string]any
	var publishing int
	for _, l := range stderr.LogLines("progress") {
		switch l["stage"] {
		case jobs.StageReading:
			reading = append(reading, l)
		case jobs.StagePublishing:
			publishing++
		}
	}
	var midway int
	last := -1.0
	for _, l := range reading {
		n, _ := l["rows"].(float64)
		b, _ := l["bytes"].(float64)
		if l["table"] != "events" || n < last || (n > 0 && b < n*9000) {
			t.Errorf("progress line %v: want table events, rows not going back (last %v), 9000+ bytes a row", l, last)
		}
		if _, ok := l["total_rows"]; ok {
			t.Errorf("progress line %v has a total: a query's total is not known before it ends", l)
		}
		if n > 0 && n < rows {
			midway++
		}
		last = n
	}
	if midway < 3 {
		t.Errorf("%d progress lines showed rows between 0 and %d while the 2s query ran, want several:\n%s", midway, rows, stderr.String())
	}
	if publishing < 2 {
		t.Errorf("%d progress lines said publishing during a 1.2s publish, want several:\n%s", publishing, stderr.String())
	}
}

// On a terminal a Parquet table has a real bar: its total rows from the files' footers,
// a percentage, and the run's stage on the line above.
func TestProgressBarsShowParquetTotal(t *testing.T) {
	emu, baseURL := startEmulator(t)
	emu.SetPublishDelay(500 * time.Millisecond)
	dir := t.TempDir()
	config := writeConfigIn(t, dir, emuTarget(baseURL)+fmt.Sprintf(`
[jobs.demo]
target = "emu"
dataset = { name = "Demo" }
[[jobs.demo.tables]]
name = "orders"
policy = "add"
parquet = %q
exclude = ["ship_date", "pickup_time"]
`, demoData(t, "orders")))
	cfg := mustLoad(t, config)
	store, err := filestate.Open(filepath.Join(dir, ".cubesync"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	var out testutil.SyncBuffer
	prog := newProgress(&out, "bars") // what auto chooses on a terminal
	runner := &jobs.Runner{Store: store, Progress: prog, Connect: func(ctx context.Context, tg *jobs.Target) (*sink.Client, error) {
		cfg, err := tg.ClientConfig(nil) // the one mapping from a target to the client's settings
		if err != nil {
			return nil, err
		}
		return sink.NewClient(cfg)
	}}
	if _, err := runner.Run(context.Background(), cfg.Jobs["demo"], jobs.RunOptions{}); err != nil {
		t.Fatalf("run: %v", err)
	}
	prog.stop()
	got := out.String()
	for _, want := range []string{"demo", "orders", "100%", "3,900 / 3,900 rows", "publishing"} {
		if !strings.Contains(got, want) {
			t.Errorf("bars lack %q:\n%s", want, got)
		}
	}
}
