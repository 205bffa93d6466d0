package jobs_test

// Tests of the runner reading Postgres sources on a test database (internal/pgtest): one
// cohesive thing, every type, incremental watermarks and their failures, unsupported types,
// a dropped connection and the Postgres state store.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/sink"
	"github.com/cubesync/cubesync/sink/emulator"
)

// TestMain removes the Postgres container that pgtest starts for the tests of this package.
func TestMain(m *testing.M) { pgtest.Run(m) }

// warehouseZone is the session TimeZone of every test warehouse: not UTC, and not a whole
// number of hours from it, so a timestamptz read through the session's zone shows up.
const warehouseZone = "Asia/Kolkata"

// warehouse is a fresh Postgres database standing in for a user's warehouse, and a
// connection to set it up and inspect it.
type warehouse struct {
	dsn  string
	conn *pgx.Conn
}

func newWarehouse(t *testing.T) *warehouse {
	t.Helper()
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the test warehouse: %v", err)
	}
	// Every later session, the source's included, gets the non-UTC zone.
	if _, err := conn.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %%I SET timezone = %%L', current_database(), '%s'); END $$`, warehouseZone)); err != nil {
		t.Fatalf("set the warehouse's time zone: %v", err)
	}
	if _, err := conn.Exec(ctx, "SET timezone = '"+warehouseZone+"'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &warehouse{dsn: dsn, conn: conn}
}

// exec runs statements on the warehouse.
func (w *warehouse) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := w.conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("warehouse: %s: %v", sql, err)
	}
}

// lines runs a query whose one column renders a row as text, in the form of
// testBundle.rows ("1|10|1.50"), and returns those lines.
func (w *warehouse) lines(t *testing.T, query string) []string {
	t.Helper()
	rows, err := w.conn.Query(context.Background(), query)
	if err != nil {
		t.Fatalf("warehouse: %s: %v", query, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("warehouse: %s: %v", query, err)
	}
	return out
}

// source is the [sources.warehouse] section naming w's database.
func (w *warehouse) source() string {
	return fmt.Sprintf("\n[sources.warehouse]\ntype = \"postgres\"\ndsn = %q\n", w.dsn)
}

// watermark returns the saved watermark of a job's table, "" when there is none.
func (b *testBundle) watermark(t *testing.T, job, table string) string {
	t.Helper()
	marks, err := b.store.Watermarks(context.Background(), job)
	if err != nil {
		t.Fatalf("read the watermarks of job %q: %v", job, err)
	}
	return marks[table].Value
}

// lastRun returns the job's most recent run as the store recorded it.
func (b *testBundle) lastRun(t *testing.T, job string) jobs.Run {
	t.Helper()
	runs, err := b.store.Runs(context.Background(), job, 1)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs of job %q: %+v (err %v), want at least one", job, runs, err)
	}
	return runs[0]
}

func sorted(s []string) string {
	s = slices.Clone(s)
	slices.Sort(s)
	return strings.Join(s, "\n")
}

func TestPostgresEveryType(t *testing.T) {
	w := newWarehouse(t)
	b := setup(t)
	w.exec(t, "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
	_, citextErr := w.conn.Exec(context.Background(), "CREATE EXTENSION citext")

	// Each column: its Postgres type, the SQL literal of rows 1 and 2 (row 3 is NULL in
	// every column but id), the JSON text the dataset must hold for them, and the dataType.
	type col struct {
		name, typ string
		in        [2]string
		want      [2]string
		dataType  sink.DataType
		citext    bool
	}
	cols := []col{
		{"c_int2", "int2", [2]string{"-7", "32767"}, [2]string{"-7", "32767"}, sink.Integer, false},
		{"c_int4", "int4", [2]string{"42", "-2147483648"}, [2]string{"42", "-2147483648"}, sink.Integer, false},
		{"c_int8", "int8", [2]string{"9007199254740993", "-9223372036854775808"}, [2]string{"9007199254740993", "-9223372036854775808"}, sink.BigInteger, false},
		{"c_float4", "float4", [2]string{"0.1", "3.4028235e38"}, [2]string{"0.1", "3.4028235e+38"}, sink.Double, false},
		{"c_float8", "float8", [2]string{"0.1", "1e-300"}, [2]string{"0.1", "1e-300"}, sink.Double, false},
		{"c_float8_nan", "float8", [2]string{"'NaN'", "'-Infinity'"}, [2]string{"NULL", "NULL"}, sink.Double, false},
		{"c_numeric", "numeric(30,4)", [2]string{"12345678901234567890123456.7891", "-0.0005"}, [2]string{"12345678901234567890123456.7891", "-0.0005"}, sink.BigDecimal, false},
		{"c_numeric_wide", "numeric(50,10)", [2]string{"1234567890123456789012345678901234567890.0123456789", "1.5"}, [2]string{"1234567890123456789012345678901234567890.0123456789", "1.5000000000"}, sink.BigDecimal, false},
		{"c_bool", "bool", [2]string{"true", "false"}, [2]string{"true", "false"}, sink.Bool, false},
		{"c_text", "text", [2]string{`'Zoë "quoted"'`, `E'tab\tand\\slash'`}, [2]string{`Zoë "quoted"`, "tab\tand\\slash"}, sink.String, false},
		{"c_varchar", "varchar(20)", [2]string{"'short'", "''"}, [2]string{"short", ""}, sink.String, false},
		{"c_char", "char(5)", [2]string{"'ab'", "'abcde'"}, [2]string{"ab   ", "abcde"}, sink.String, false},
		{"c_uuid", "uuid", [2]string{"'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", "'00000000-0000-0000-0000-000000000000'"}, [2]string{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "00000000-0000-0000-0000-000000000000"}, sink.String, false},
		{"c_json", "json", [2]string{`'{"b": [1,2],  "a": 1}'`, `'"x"'`}, [2]string{`{"b": [1,2],  "a": 1}`, `"x"`}, sink.String, false},
		{"c_jsonb", "jsonb", [2]string{`'{"b": [1,2],  "a": 1}'`, `'[]'`}, [2]string{`{"a": 1, "b": [1, 2]}`, `[]`}, sink.String, false},
		{"c_enum", "mood", [2]string{"'happy'", "'sad'"}, [2]string{"happy", "sad"}, sink.String, false},
		{"c_citext", "citext", [2]string{"'MiXeD Case'", "'ß'"}, [2]string{"MiXeD Case", "ß"}, sink.String, true},
		{"c_date", "date", [2]string{"'2024-01-31'", "'0044-03-15'"}, [2]string{"2024-01-31", "0044-03-15"}, sink.Date, false},
		{"c_time", "time", [2]string{"'13:45:00'", "'23:59:59.999999'"}, [2]string{"13:45:00", "23:59:59.999999"}, sink.Time, false},
		{"c_timestamp", "timestamp", [2]string{"'2024-01-31 13:45:00'", "'2024-02-29 23:59:59.000001'"}, [2]string{"2024-01-31T13:45:00", "2024-02-29T23:59:59.000001"}, sink.DateTime, false},
		// Written in the session's zone (+05:30) and with an explicit offset: pushed as UTC.
		{"c_timestamptz", "timestamptz", [2]string{"'2024-01-31 13:45:00'", "'2024-07-01 00:00:00.5+02'"}, [2]string{"2024-01-31T08:15:00", "2024-06-30T22:00:00.5"}, sink.DateTime, false},
	}
	if citextErr != nil {
		t.Logf("citext not tested: CREATE EXTENSION citext failed: %v", citextErr)
		cols = slices.DeleteFunc(cols, func(c col) bool { return c.citext })
	}

	defs := []string{"id int8 PRIMARY KEY"}
	names := []string{"id"}
	rows := [3][]string{{"1"}, {"2"}, {"3"}}
	for _, c := range cols {
		defs = append(defs, c.name+" "+c.typ)
		names = append(names, c.name)
		rows[0] = append(rows[0], c.in[0])
		rows[1] = append(rows[1], c.in[1])
		rows[2] = append(rows[2], "NULL")
	}
	w.exec(t, "CREATE TABLE all_types ("+strings.Join(defs, ", ")+")")
	for _, r := range rows {
		w.exec(t, "INSERT INTO all_types VALUES ("+strings.Join(r, ", ")+")")
	}

	job := b.job(t, "types", w.source()+typesJobFrom(fmt.Sprintf("source = \"warehouse\"\nquery = \"SELECT %s FROM all_types ORDER BY id\"", strings.Join(names, ", "))))
	res := b.mustRun(t, "run", job, jobs.RunOptions{})
	if len(res.Tables) != 1 || res.Tables[0].Rows != 3 || res.Tables[0].NonFinite != 2 {
		t.Errorf("table result = %+v, want 3 rows with 2 non-finite floats sent as null", res.Tables)
	}

	tbl, err := b.emu.Table(res.DatasetID, "all_types")
	if err != nil {
		t.Fatal(err)
	}
	got := b.rows(t, res.DatasetID, "all_types")
	if len(got) != 3 {
		t.Fatalf("dataset holds %d rows, want 3:\n%s", len(got), strings.Join(got, "\n"))
	}
	cells := make([][]string, len(got))
	for i, line := range got {
		cells[i] = strings.Split(line, "|")
	}
	for _, c := range cols {
		idx := slices.IndexFunc(tbl.Columns, func(dc sink.Column) bool { return dc.Name == c.name })
		if idx < 0 {
			t.Errorf("column %s (%s) missing from the dataset's columns %+v", c.name, c.typ, tbl.Columns)
			continue
		}
		if dt := tbl.Columns[idx].DataType; dt != c.dataType {
			t.Errorf("column %s (%s) has dataType %s, want %s", c.name, c.typ, dt, c.dataType)
		}
		for r, want := range []string{c.want[0], c.want[1], "NULL"} {
			if g := cells[r][idx]; g != want {
				t.Errorf("row %d column %s (%s): dataset holds %q, want %q", r+1, c.name, c.typ, g, want)
			}
		}
	}
}

// incrementalCase is a watermark column kind: its SQL type, the value of incremental.initial,
// and the watermark column's values as SQL literals, v[i] < v[i+1]. Precision shows: v[3] is
// v[2] plus the column's smallest step, so a watermark rounded up would miss row 3's update,
// and v[4] ends in that step too, so one truncated would push row 4 again in a later run.
type incrementalCase struct {
	name    string
	typ     string
	initial string
	v       [5]string
	marks   [2]string // the saved watermark after the first and after the second run
}

var incrementalCases = []incrementalCase{
	{
		name: "timestamptz", typ: "timestamptz", initial: "2024-01-01T00:00:00Z",
		v: [5]string{"2024-04-30 08:00:00+00", "2024-05-01 09:00:00.5+00", "2024-05-01 10:11:12.123456+00",
			"2024-05-01 10:11:12.123457+00", "2024-05-02 00:00:00.000001+05:30"},
		marks: [2]string{"2024-05-01T10:11:12.123456Z", "2024-05-01T18:30:00.000001Z"},
	},
	{
		name: "timestamp", typ: "timestamp", initial: "2024-01-01T00:00:00",
		v: [5]string{"2024-04-30 08:00:00", "2024-05-01 09:00:00.5", "2024-05-01 10:11:12.123456",
			"2024-05-01 10:11:12.123457", "2024-05-02 00:00:00.000001"},
		marks: [2]string{"2024-05-01T10:11:12.123456", "2024-05-02T00:00:00.000001"},
	},
	{
		name: "date", typ: "date", initial: "2024-01-01",
		v:     [5]string{"2024-04-29", "2024-04-30", "2024-05-01", "2024-05-02", "2024-06-01"},
		marks: [2]string{"2024-05-01", "2024-06-01"},
	},
	{
		name: "bigint", typ: "int8", initial: "0",
		v:     [5]string{"17", "41", "9007199254740993", "9007199254740994", "9007199254741000"},
		marks: [2]string{"9007199254740993", "9007199254741000"},
	},
	{
		name: "integer", typ: "int4", initial: "-1",
		v:     [5]string{"0", "5", "100", "101", "2147483647"},
		marks: [2]string{"100", "2147483647"},
	},
}

// ordersJob is an incremental upsert of the orders table keyed on id from initial, its
// watermark column changed_at read but not pushed; incremental is more of its incremental
// keys (lookback = "1h", say).
func ordersJob(initial string, incremental ...string) string {
	inc := fmt.Sprintf("column = \"changed_at\", initial = %q", initial)
	for _, k := range incremental {
		inc += ", " + k
	}
	return `
[jobs.orders]
target = "emu"
dataset = { name = "Orders" }
[[jobs.orders.tables]]
name = "orders"
policy = "upsert"
source = "warehouse"
query = "SELECT id, qty, amount, changed_at FROM orders WHERE changed_at > $1 AND pause()"
key = ["id"]
exclude = ["changed_at"]
incremental = { ` + inc + ` }
`
}

// ordersTable is the expected content of the orders dataset: the warehouse table itself.
const ordersTable = "SELECT concat_ws('|', id, qty, amount) FROM orders ORDER BY id"

// newOrders creates the orders table with rows 1-3 at watermark values v[0..2], and the
// pause() the job's query calls: it sleeps knob.secs per row (0 until a test sets it).
func newOrders(t *testing.T, w *warehouse, tc incrementalCase) {
	t.Helper()
	w.exec(t, "CREATE TABLE knob (secs float8 NOT NULL)")
	w.exec(t, "INSERT INTO knob VALUES (0)")
	w.exec(t, `CREATE FUNCTION pause() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN PERFORM pg_sleep((SELECT secs FROM knob)); RETURN true; END $$`)
	w.exec(t, "CREATE TABLE orders (id int8 PRIMARY KEY, qty int4 NOT NULL, amount numeric(12,2) NOT NULL, changed_at "+tc.typ+" NOT NULL)")
	w.exec(t, fmt.Sprintf("INSERT INTO orders VALUES (1, 10, 1.50, '%s'), (2, 20, 2.50, '%s'), (3, 30, 3.50, '%s')", tc.v[0], tc.v[1], tc.v[2]))
}

// changeOrders updates row 3 to the next watermark value and inserts row 4 after it: the
// two rows a following incremental run must push.
func changeOrders(t *testing.T, w *warehouse, tc incrementalCase) {
	t.Helper()
	w.exec(t, fmt.Sprintf("UPDATE orders SET qty = 31, amount = 3.75, changed_at = '%s' WHERE id = 3", tc.v[3]))
	w.exec(t, fmt.Sprintf("INSERT INTO orders VALUES (4, 40, 4.50, '%s')", tc.v[4]))
}

// runOrders runs the orders job and checks it pushed wantRows rows.
func runOrders(t *testing.T, b *testBundle, job *jobs.Job, opts jobs.RunOptions, wantRows int64) *jobs.Result {
	t.Helper()
	res, err := b.runner.Run(context.Background(), job, opts)
	if err != nil {
		t.Fatalf("run with %+v: %v", opts, err)
	}
	if len(res.Tables) != 1 || res.Tables[0].Rows != wantRows {
		t.Fatalf("run with %+v pushed %+v, want %d rows", opts, res.Tables, wantRows)
	}
	return res
}

// checkDataset compares the orders dataset with the warehouse table, row by row.
func checkDataset(t *testing.T, b *testBundle, w *warehouse, datasetID string) {
	t.Helper()
	got, want := sorted(b.rows(t, datasetID, "orders")), sorted(w.lines(t, ordersTable))
	if got != want {
		t.Errorf("dataset table orders =\n%s\nwant the warehouse's orders:\n%s", got, want)
	}
}

func TestPostgresIncremental(t *testing.T) {
	for _, tc := range incrementalCases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWarehouse(t)
			b := setup(t)
			newOrders(t, w, tc)
			job := b.job(t, "orders", w.source()+ordersJob(tc.initial))

			first := runOrders(t, b, job, jobs.RunOptions{}, 3)
			if got := b.watermark(t, "orders", "orders"); got != tc.marks[0] {
				t.Errorf("watermark after the first run = %q, want %q", got, tc.marks[0])
			}
			checkDataset(t, b, w, first.DatasetID)

			changeOrders(t, w, tc)
			second := runOrders(t, b, job, jobs.RunOptions{}, 2)
			if second.DatasetID != first.DatasetID {
				t.Errorf("second run pushed to dataset %s, want %s", second.DatasetID, first.DatasetID)
			}
			if got := b.watermark(t, "orders", "orders"); got != tc.marks[1] {
				t.Errorf("watermark after the second run = %q, want %q", got, tc.marks[1])
			}
			checkDataset(t, b, w, first.DatasetID)

			// Nothing changed: no upload session, no publish, the watermark stays, and the run
			// is a success that says so.
			before := b.emu.Stats().Calls
			third := runOrders(t, b, job, jobs.RunOptions{}, 0)
			after := b.emu.Stats().Calls
			for _, call := range []emulator.Call{emulator.CallOpenSession, emulator.CallPublish} {
				if after[call] != before[call] {
					t.Errorf("a run with no new rows made %d %s calls, want none", after[call]-before[call], call)
				}
			}
			if got := b.watermark(t, "orders", "orders"); got != tc.marks[1] {
				t.Errorf("watermark after a run with no new rows = %q, want it kept at %q", got, tc.marks[1])
			}
			if run := b.lastRun(t, "orders"); !third.NoChanges || run.Status != jobs.StatusSucceeded || run.Rows != 0 || !run.NoChanges() {
				t.Errorf("run with no new rows: result NoChanges %v, recorded %+v; want a succeeded run with 0 rows and no changes", third.NoChanges, run)
			}
			checkDataset(t, b, w, first.DatasetID)
		})
	}
}

func TestPostgresIncrementalFailures(t *testing.T) {
	tc := incrementalCases[0]
	start := func(t *testing.T) (*testBundle, *warehouse, *jobs.Job, *jobs.Result) {
		t.Helper()
		w := newWarehouse(t)
		b := setup(t)
		newOrders(t, w, tc)
		job := b.job(t, "orders", w.source()+ordersJob(tc.initial))
		first := runOrders(t, b, job, jobs.RunOptions{}, 3)
		changeOrders(t, w, tc)
		return b, w, job, first
	}
	// after checks what a failed or interrupted run must leave: the first run's watermark,
	// no open session, the first run's data, the run recorded with status; and that the
	// next run pushes the same two rows again.
	after := func(t *testing.T, b *testBundle, w *warehouse, job *jobs.Job, first *jobs.Result, status string) {
		t.Helper()
		if got := b.watermark(t, "orders", "orders"); got != tc.marks[0] {
			t.Errorf("watermark after a %s run = %q, want it unchanged at %q", status, got, tc.marks[0])
		}
		if open := b.emu.OpenSessions(); len(open) != 0 {
			t.Errorf("%s run left upload sessions open: %+v", status, open)
		}
		if run := b.lastRun(t, "orders"); run.Status != status || run.Error == "" {
			t.Errorf("run recorded as %q (error %q), want %q with its error", run.Status, run.Error, status)
		}
		if got := b.rows(t, first.DatasetID, "orders"); len(got) != 3 {
			t.Errorf("%s run changed the dataset: %d rows %v, want the first run's 3", status, len(got), got)
		}
		runOrders(t, b, job, jobs.RunOptions{}, 2)
		if got := b.watermark(t, "orders", "orders"); got != tc.marks[1] {
			t.Errorf("watermark after the run that followed a %s one = %q, want %q", status, got, tc.marks[1])
		}
		checkDataset(t, b, w, first.DatasetID)
	}

	t.Run("failed publish", func(t *testing.T) {
		b, w, job, first := start(t)
		b.emu.FailPublish(3, "the cube could not be updated")
		_, err := b.runner.Run(context.Background(), job, jobs.RunOptions{})
		var pe *sink.PublishError
		if !errors.As(err, &pe) {
			t.Fatalf("run with a failing publish: err = %v, want a *sink.PublishError", err)
		}
		after(t, b, w, job, first, jobs.StatusFailed)
	})

	t.Run("interrupted during publish", func(t *testing.T) {
		b, w, job, first := start(t)
		b.emu.SetPublishDelay(time.Minute)
		err := runCancelledWhen(t, b, job, func() bool {
			open := b.emu.OpenSessions()
			return len(open) == 1 && open[0].Published
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("run cancelled while publishing: err = %v, want context.Canceled", err)
		}
		b.emu.SetPublishDelay(0)
		after(t, b, w, job, first, jobs.StatusInterrupted)
	})

	t.Run("interrupted during read", func(t *testing.T) {
		b, w, job, first := start(t)
		w.exec(t, "UPDATE knob SET secs = 60")
		// The upload session opens with the first chunk, so none is open yet.
		err := runCancelledWhen(t, b, job, func() bool { return w.sourceRunning(t, "pause()") })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("run cancelled while reading: err = %v, want context.Canceled", err)
		}
		w.exec(t, "UPDATE knob SET secs = 0")
		// The server must stop the query too, not sleep on for a client that is gone.
		if !testutil.Eventually(5*time.Second, func() bool { return !w.sourceRunning(t, "pause()") }) {
			t.Errorf("the source's query still runs on the server 5s after the run was cancelled")
		}
		after(t, b, w, job, first, jobs.StatusInterrupted)
	})

	t.Run("full refresh", func(t *testing.T) {
		b, w, job, first := start(t)
		// All four rows, once, whatever the watermark; the watermark is then the greatest.
		runOrders(t, b, job, jobs.RunOptions{FullRefresh: true}, 4)
		if got := b.watermark(t, "orders", "orders"); got != tc.marks[1] {
			t.Errorf("watermark after a full refresh = %q, want the greatest value %q", got, tc.marks[1])
		}
		checkDataset(t, b, w, first.DatasetID)
		runOrders(t, b, job, jobs.RunOptions{}, 0)
		w.exec(t, "INSERT INTO orders VALUES (5, 50, 5.50, '2024-06-01 00:00:00+00')")
		runOrders(t, b, job, jobs.RunOptions{}, 1)
		if got := b.watermark(t, "orders", "orders"); got != "2024-06-01T00:00:00Z" {
			t.Errorf("watermark after the run that followed a full refresh = %q, want 2024-06-01T00:00:00Z", got)
		}
		checkDataset(t, b, w, first.DatasetID)
	})
}

// runCancelledWhen runs job in the background, cancels its context as soon as ready reports
// true, and returns the run's error.
func runCancelledWhen(t *testing.T, b *testBundle, job *jobs.Job, ready func() bool) error {
	t.Helper()
	return runInterruptedWhen(t, b, job, "cancelled", ready, func(cancel context.CancelFunc) { cancel() })
}

// runInterruptedWhen runs job in the background, calls interrupt (with the cancel of the
// run's context) as soon as ready reports true, and returns the run's error. what says how
// the run is interrupted, for the messages.
func runInterruptedWhen(t *testing.T, b *testBundle, job *jobs.Job, what string, ready func() bool, interrupt func(cancel context.CancelFunc)) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := b.runner.Run(ctx, job, jobs.RunOptions{})
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		select {
		case err := <-done:
			t.Fatalf("run ended before it could be %s: %v", what, err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run did not reach the point where it is %s within 30s", what)
		}
	}
	interrupt(cancel)
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("the run did not return within 30s of being %s", what)
		return nil
	}
}

// sourceRunning reports whether a session of the source (application_name cubesync) is
// running a query whose text contains fragment.
func (w *warehouse) sourceRunning(t *testing.T, fragment string) bool {
	t.Helper()
	return w.sourcePID(t, fragment) != 0
}

// sourcePID returns the backend pid of the source's session running a query containing
// fragment, or 0.
func (w *warehouse) sourcePID(t *testing.T, fragment string) int32 {
	t.Helper()
	var pid int32
	err := w.conn.QueryRow(context.Background(), `
		SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'cubesync' AND state = 'active'
		  AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()
		LIMIT 1`, fragment).Scan(&pid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0
	}
	if err != nil {
		t.Fatalf("look for the source's session: %v", err)
	}
	return pid
}

func TestPostgresUnsupportedType(t *testing.T) {
	tests := []struct {
		name, typ, value string
		wantType         string
	}{
		{"interval", "interval", "'1 day 02:00'", "interval"},
		{"array", "int[]", "'{1,2,3}'", "integer[]"},
		{"bytea", "bytea", `'\xdeadbeef'`, "bytea"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWarehouse(t)
			b := setup(t)
			w.exec(t, "CREATE TABLE odd (id int8, payload "+tt.typ+")")
			w.exec(t, "INSERT INTO odd VALUES (1, "+tt.value+")")
			job := b.job(t, "odd", w.source()+`
[jobs.odd]
target = "emu"
dataset = { name = "Odd" }
[[jobs.odd.tables]]
name = "odd_things"
policy = "replace"
source = "warehouse"
query = "SELECT id, payload FROM odd"
`)
			res, err := b.runner.Run(context.Background(), job, jobs.RunOptions{})
			if err == nil {
				t.Fatalf("run of a %s column succeeded, want an error", tt.typ)
			}
			for _, want := range []string{`table "odd_things"`, `source "warehouse"`, `column "payload"`, "type " + tt.wantType, "payload::text"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %s", err, want)
				}
			}
			if !jobs.IsInputError(err) {
				t.Errorf("error %v is not an input error: the run would be retried", err)
			}
			if res != nil && len(res.Tables) != 0 {
				t.Errorf("run pushed tables %+v before failing", res.Tables)
			}
			st := b.emu.Stats()
			if n := st.Calls[emulator.CallModel] + st.Calls[emulator.CallOpenSession] + st.Calls[emulator.CallPut]; n != 0 {
				t.Errorf("emulator got %d model, session or upload calls, want none: %v", n, st.Calls)
			}
			if d := b.emu.Datasets(); len(d) != 0 {
				t.Errorf("run created datasets %+v", d)
			}
			if run := b.lastRun(t, "odd"); run.Status != jobs.StatusFailed {
				t.Errorf("run recorded as %q, want %q", run.Status, jobs.StatusFailed)
			}
		})
	}
}

func TestPostgresConnectionDroppedMidRead(t *testing.T) {
	w := newWarehouse(t)
	b := setup(t)
	w.exec(t, "CREATE TABLE series_size (n int8 NOT NULL)")
	w.exec(t, "INSERT INTO series_size VALUES (1000)")
	job := b.job(t, "big", w.source()+`
[jobs.big]
target = "emu"
dataset = { name = "Big" }
chunk_size = "1MB"
[[jobs.big.tables]]
name = "numbers"
policy = "upsert"
source = "warehouse"
query = "SELECT id, id % 97 AS bucket FROM (SELECT generate_series(1, (SELECT n FROM series_size)) AS id) s WHERE id > $1"
key = ["id"]
incremental = { column = "id", initial = "0" }
`)
	first := b.mustRun(t, "first run", job, jobs.RunOptions{})
	if got := b.watermark(t, "big", "numbers"); got != "1000" {
		t.Fatalf("watermark after the first run = %q, want 1000", got)
	}

	// Far more rows than the test waits for: the read is in full flow when it is cut.
	w.exec(t, "UPDATE series_size SET n = 200000000")
	// Once the run has uploaded a chunk, its source connection is dropped.
	uploading := func() bool { return b.emu.Stats().Chunks >= first.Tables[0].Chunks+1 }
	err := runInterruptedWhen(t, b, job, "cut off from its source", uploading, func(context.CancelFunc) {
		pid := w.sourcePID(t, "generate_series")
		if pid == 0 {
			t.Fatal("found no source session running the query in pg_stat_activity")
		}
		var terminated bool
		if err := w.conn.QueryRow(context.Background(), "SELECT pg_terminate_backend($1)", pid).Scan(&terminated); err != nil || !terminated {
			t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, terminated, err)
		}
	})
	if err == nil {
		t.Fatal("run whose source connection was dropped succeeded, want an error")
	}
	for _, want := range []string{`table "numbers"`, `source "warehouse"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	// The server sends why it ends the connection unless its send buffer is full of rows
	// the runner has not read yet: then the runner sees the connection close.
	dropped := func(msg string) bool {
		return strings.Contains(msg, "terminating connection") || strings.Contains(msg, "connection lost")
	}
	if !dropped(err.Error()) {
		t.Errorf("error %q does not say the connection was dropped", err)
	}
	if strings.Contains(err.Error(), w.dsn) {
		t.Errorf("error %q contains the DSN", err)
	}
	if open := b.emu.OpenSessions(); len(open) != 0 {
		t.Errorf("run with a dropped connection left upload sessions open: %+v", open)
	}
	if got := b.watermark(t, "big", "numbers"); got != "1000" {
		t.Errorf("watermark after the failed run = %q, want it unchanged at 1000", got)
	}
	if run := b.lastRun(t, "big"); run.Status != jobs.StatusFailed || !dropped(run.Error) {
		t.Errorf("run recorded as %q (error %q), want failed with the dropped connection", run.Status, run.Error)
	}
	if got := b.rows(t, first.DatasetID, "numbers"); len(got) != 1000 {
		t.Errorf("the failed run changed the dataset: %d rows, want the first run's 1000", len(got))
	}
}

func TestPostgresStateStore(t *testing.T) {
	// The runner's records live in the warehouse's database, as with [state] database_url.
	w := newWarehouse(t)
	b := setup(t)
	ctx := context.Background()
	store := b.usePostgresStore(t, w.dsn)

	tc := incrementalCases[0]
	newOrders(t, w, tc)
	job := b.job(t, "orders", w.source()+ordersJob(tc.initial))
	first := runOrders(t, b, job, jobs.RunOptions{}, 3)
	if id, err := store.DatasetID(ctx, "orders"); err != nil || id != first.DatasetID {
		t.Errorf("stored dataset id = %q (err %v), want the created %q", id, err, first.DatasetID)
	}
	changeOrders(t, w, tc)
	second := runOrders(t, b, job, jobs.RunOptions{}, 2)
	if second.DatasetID != first.DatasetID || len(b.emu.Datasets()) != 1 {
		t.Errorf("second run pushed to dataset %s (emulator holds %d), want the remembered %s", second.DatasetID, len(b.emu.Datasets()), first.DatasetID)
	}
	checkDataset(t, b, w, first.DatasetID)

	// The watermark is in Postgres, at full precision.
	var kind, value string
	if err := w.conn.QueryRow(ctx, "SELECT kind, value FROM cubesync.watermarks WHERE job = 'orders' AND table_name = 'orders'").Scan(&kind, &value); err != nil {
		t.Fatalf("read the watermark from cubesync.watermarks: %v", err)
	}
	if kind != jobs.KindTimestampTZ || value != tc.marks[1] {
		t.Errorf("cubesync.watermarks holds %s %q, want %s %q", kind, value, jobs.KindTimestampTZ, tc.marks[1])
	}
	runs, err := store.Runs(ctx, "orders", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, fmt.Sprintf("%s rows=%d dataset=%v session=%v", r.Status, r.Rows, r.DatasetID == first.DatasetID, r.SessionID != ""))
	}
	want := []string{"succeeded rows=2 dataset=true session=true", "succeeded rows=3 dataset=true session=true"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("runs in the postgres store, newest first:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
