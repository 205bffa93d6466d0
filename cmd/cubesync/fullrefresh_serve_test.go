package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/internal/testutil"
)

// threeOrders creates a fresh database (its DSN dsn) with the table orders holding rows 1 to
// 3 (changed_at 10:00, 11:00 and 12:00 on 2024-05-01), and returns a connection to it, closed
// when the test ends, with exec, which runs a statement on it or fails the test.
func threeOrders(t *testing.T) (dsn string, conn *pgx.Conn, exec func(sql string)) {
	t.Helper()
	ctx := context.Background()
	dsn = pgtest.DSN(t)
	conn = pgtest.Connect(t, dsn)
	exec = func(sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`CREATE TABLE orders (id bigint PRIMARY KEY, qty int NOT NULL, changed_at timestamptz NOT NULL)`)
	exec(`INSERT INTO orders VALUES (1, 10, '2024-05-01 10:00:00+00'), (2, 20, '2024-05-01 11:00:00+00'), (3, 30, '2024-05-01 12:00:00+00')`)
	return dsn, conn, exec
}

// ordersServeConfig is the jobs file of the full-refresh serve tests: state and source on the
// Postgres database dsn, the emulator at url, and the job orders, an incremental upsert of
// threeOrders' table with schedules (its schedule, full_refresh and jitter lines).
func ordersServeConfig(dsn, url, schedules string) string {
	return serveHead(dsn, url) + fmt.Sprintf(`
[sources.warehouse]
type = "postgres"
dsn = %q

[jobs.orders]
%s
target = "emu"
dataset = { name = "Orders" }
retry = { attempts = 1 }
[[jobs.orders.tables]]
name = "orders"
policy = "upsert"
source = "warehouse"
query = "SELECT id, qty, changed_at FROM orders WHERE changed_at > $1"
key = ["id"]
exclude = ["changed_at"]
incremental = { column = "changed_at", initial = "2024-01-01T00:00:00Z" }
`, dsn, schedules)
}

// checkFullReadWatermark fails the test unless the watermark of orders is 11:00, the
// greatest changed_at a full read of threeOrders' table saw after row 3 was deleted.
func checkFullReadWatermark(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	var mark string
	if err := conn.QueryRow(context.Background(), `SELECT value FROM cubesync.watermarks WHERE job = 'orders' AND table_name = 'orders'`).Scan(&mark); err != nil || mark != "2024-05-01T11:00:00Z" {
		t.Errorf("watermark after the full refresh = %q (%v), want 2024-05-01T11:00:00Z: the greatest value the full read saw", mark, err)
	}
}

// TestServeFullRefreshSlot runs cubesync serve (state in Postgres) on a job that upserts
// changed rows every 5 seconds and has a full_refresh slot: incremental runs never remove
// a row deleted at the source, the full-refresh slot does (it reads everything and
// replaces), it is recorded with trigger full_refresh, and the watermark is then what the
// full read saw. The schedules run on the wall clock: the full-refresh slot is a given
// second about 20s after the test starts (serve has no fake clock; the slot is computed so
// that the test does not depend on when it runs).
func TestServeFullRefreshSlot(t *testing.T) {
	t.Parallel() // waits on serve: its own database, directory, emulator and ports
	dsn, conn, exec := threeOrders(t)
	bin := buildCubesync(t)
	dir := t.TempDir()
	emu, url := startEmulator(t)
	ctx := context.Background()

	// A slot of both schedules (a multiple of 5s) far enough ahead for serve to start and
	// run an incremental slot first.
	full := time.Now().UTC().Add(20 * time.Second).Truncate(5 * time.Second)
	config := writeConfigIn(t, dir, ordersServeConfig(dsn, url, fmt.Sprintf(`schedule = "*/5 * * * * *"
full_refresh = "CRON_TZ=UTC %d %d %d * * *"`, full.Second(), full.Minute(), full.Hour())))
	rows := func() int { return tableRows(emu, "Orders", "orders") }

	p := startCubesync(t, bin, dir, "serve", "--config", config, "--log-format", "json")
	listenAddr(t, p.logs)
	testutil.WaitFor(t, time.Until(full), "an incremental run loading the 3 orders before the full-refresh slot", func() bool { return rows() == 3 })
	// Deleted at the source; the row holding the watermark, so the next incremental reads
	// nothing either.
	exec(`DELETE FROM orders WHERE id = 3`)
	if time.Until(full) < 2*time.Second {
		t.Fatalf("the incremental run came too late to test the full refresh at %v", full)
	}
	var runID int64
	var status string
	testutil.WaitFor(t, time.Until(full)+60*time.Second, "the full-refresh slot's run to finish", func() bool {
		return conn.QueryRow(ctx, `SELECT id, status FROM cubesync.runs WHERE job = 'orders' AND trigger = 'full_refresh' AND status <> 'running'`).Scan(&runID, &status) == nil
	})
	if status != "succeeded" {
		var msg string
		_ = conn.QueryRow(ctx, `SELECT error FROM cubesync.runs WHERE id = $1`, runID).Scan(&msg)
		t.Fatalf("full-refresh run %d: %s (%s), want succeeded", runID, status, msg)
	}
	var scheduled time.Time
	if err := conn.QueryRow(ctx, `SELECT scheduled_at FROM cubesync.runs WHERE id = $1`, runID).Scan(&scheduled); err != nil || !scheduled.Equal(full) {
		t.Errorf("full-refresh run %d has slot %v (%v), want %v", runID, scheduled, err, full)
	}
	if got := rows(); got != 2 {
		t.Errorf("after the full-refresh slot the dataset has %d orders, want 2: the one deleted at the source is gone", got)
	}
	var incremental int
	_ = conn.QueryRow(ctx, `SELECT count(*) FROM cubesync.runs WHERE job = 'orders' AND trigger <> 'full_refresh' AND status = 'succeeded' AND id < $1`, runID).Scan(&incremental)
	if incremental == 0 {
		t.Errorf("no incremental run succeeded before the full refresh")
	}
	checkFullReadWatermark(t, conn)
}

// TestServeWeeklyFullRefreshAtItsHour starts cubesync serve (state in Postgres) on a clock
// set a few seconds before a Sunday 04:00 in Berlin (CUBESYNC_TEST_NOW) with the schedules
// a user writes: a nightly incremental upsert and full_refresh = "CRON_TZ=Europe/Berlin 0 4 * * 0",
// with a jitter. At 04:00 plus the job's jitter offset the slot runs as a full refresh: the
// row deleted at the source since the last incremental run leaves the dataset, the run is
// recorded with trigger full_refresh for the 04:00 slot, and the watermark is what the full
// read saw.
func TestServeWeeklyFullRefreshAtItsHour(t *testing.T) {
	dsn, conn, exec := threeOrders(t)
	bin := buildCubesync(t)
	dir := t.TempDir()
	emu, url := startEmulator(t)
	ctx := context.Background()

	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// The next Sunday 04:00 in Berlin at least a minute away.
	d := time.Now().In(berlin).Add(time.Minute)
	slot := time.Date(d.Year(), d.Month(), d.Day(), 4, 0, 0, 0, berlin)
	for slot.Weekday() != time.Sunday || !slot.After(d) {
		slot = time.Date(slot.Year(), slot.Month(), slot.Day()+1, 4, 0, 0, 0, berlin)
	}
	config := writeConfigIn(t, dir, ordersServeConfig(dsn, url, `schedule = "CRON_TZ=Europe/Berlin 30 2 * * *"
full_refresh = "CRON_TZ=Europe/Berlin 0 4 * * 0"
jitter = "6s"`))
	cfg := mustLoad(t, config)
	offset := cfg.Jobs["orders"].JitterOffset()

	// The nightly incremental runs so far: one run-job loads the three orders.
	if code, stdout, stderr := runBin(t, bin, dir, "run-job", "orders", "--config", config, "--progress", "none"); code != exitOK {
		t.Fatalf("run-job orders: exit %d\n%s\n%s", code, stdout, stderr)
	}
	rows := func() int { return tableRows(emu, "Orders", "orders") }
	if got := rows(); got != 3 {
		t.Fatalf("after the incremental run the dataset has %d orders, want 3", got)
	}
	exec(`DELETE FROM orders WHERE id = 3`)

	start := slot.Add(-5 * time.Second)
	t.Setenv(nowEnv, start.Format(time.RFC3339))
	p := startCubesync(t, bin, dir, "serve", "--config", config, "--log-format", "json")
	listenAddr(t, p.logs)
	var runID int64
	var status, trigger string
	var scheduled, started time.Time
	testutil.WaitFor(t, 60*time.Second, "the Sunday 04:00 slot's run to finish", func() bool {
		return conn.QueryRow(ctx, `SELECT id, status, trigger, scheduled_at, started_at FROM cubesync.runs WHERE job = 'orders' AND scheduled_at IS NOT NULL AND status <> 'running'`).
			Scan(&runID, &status, &trigger, &scheduled, &started) == nil
	})
	if status != "succeeded" || trigger != "full_refresh" || !scheduled.Equal(slot) {
		t.Fatalf("run %d: %s, trigger %s, slot %s; want succeeded, full_refresh, %s", runID, status, trigger, scheduled.In(berlin), slot)
	}
	if late := started.Sub(scheduled); late < offset || late > offset+3*time.Second {
		t.Errorf("the full refresh started %s after 04:00, want the job's jitter offset %s (within 3s)", late, offset)
	}
	if got := rows(); got != 2 {
		t.Errorf("after the Sunday full refresh the dataset has %d orders, want 2: the one deleted at the source is gone", got)
	}
	checkFullReadWatermark(t, conn)
}
