package jobs_test

// Tests of Runner.Run against the in-process emulator, and testBundle, the setup the other
// jobs tests share: one cohesive thing, a test per behaviour of a run (types, policies,
// refusals, dry run, recovery, locks, credentials, timeout, new files, selected tables).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/cubesync/cubesync/clock"
	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/jobs/filestate"
	"github.com/cubesync/cubesync/jobs/pgstate"
	"github.com/cubesync/cubesync/sink"
	"github.com/cubesync/cubesync/sink/emulator"
)

// testBundle is a runner wired to an in-process emulator and a local state store.
type testBundle struct {
	dir    string
	url    string // the emulator's base URL
	emu    *emulator.Server
	store  jobs.Store
	runner *jobs.Runner
	clock  *testutil.FakeClock // the runner's: backoffs return at once, a job's timeout waits
	mem    *memory.CheckedAllocator
}

// openPostgresStore opens a Postgres state store on dsn, closed when the test ends.
func openPostgresStore(t *testing.T, dsn string) *pgstate.Store {
	t.Helper()
	st, err := pgstate.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatalf("open the postgres state store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// usePostgresStore makes a Postgres state store on dsn the bundle's and its runner's store.
func (b *testBundle) usePostgresStore(t *testing.T, dsn string) *pgstate.Store {
	t.Helper()
	st := openPostgresStore(t, dsn)
	b.store, b.runner.Store = st, st
	return st
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return setupWith(t, emulator.Options{})
}

func setupWith(t *testing.T, opts emulator.Options) *testBundle {
	t.Helper()
	dir := t.TempDir()
	emu, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() { srv.Close(); emu.Close() })
	store, err := filestate.Open(filepath.Join(dir, ".cubesync"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	b := &testBundle{dir: dir, url: srv.URL + "/MicroStrategyLibrary", emu: emu, store: store, mem: mem, clock: testutil.NewFakeClock(time.Now()).Hold(time.Hour)}
	b.runner = &jobs.Runner{
		Store:     store,
		Allocator: mem,
		// The target's settings reach the client as they do in production.
		Connect: func(ctx context.Context, tg *jobs.Target) (*sink.Client, error) {
			cfg, err := tg.ClientConfig(nil)
			if err != nil {
				return nil, err
			}
			return sink.NewClient(cfg)
		},
		Clock: b.clock,
	}
	return b
}

// job parses a jobs.toml made of the test target and body, in the bundle's directory.
func (b *testBundle) job(t *testing.T, name, body string) *jobs.Job {
	t.Helper()
	text := `
[targets.emu]
base_url = "` + b.url + `"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "alice"
password = "s3cret-pw"
call_retries = 2
call_backoff = "1ms"

[defaults]
retry = { attempts = 1 }
` + body
	path := filepath.Join(b.dir, "jobs.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := jobs.Load(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("load test config: %v", err)
	}
	j, ok := cfg.Jobs[name]
	if !ok {
		t.Fatalf("test config has no job %q", name)
	}
	return j
}

// mustRun runs job with opts, failing the test with what the run was and its error if it
// fails.
func (b *testBundle) mustRun(t *testing.T, what string, job *jobs.Job, opts jobs.RunOptions) *jobs.Result {
	t.Helper()
	res, err := b.runner.Run(context.Background(), job, opts)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return res
}

// checkNothingPublished fails the test if run (who ran) left an upload session open or
// published rows of a table orders.
func (b *testBundle) checkNothingPublished(t *testing.T, run string) {
	t.Helper()
	if open := b.emu.OpenSessions(); len(open) != 0 {
		t.Errorf("%s left its session open: %+v", run, open)
	}
	for _, d := range b.emu.Datasets() {
		if tbl, err := b.emu.Table(d.ID, "orders"); err == nil && len(tbl.Rows) != 0 {
			t.Errorf("%s published %d rows", run, len(tbl.Rows))
		}
	}
}

// writeParquet writes rec to dir/name as one Parquet file.
func writeParquet(t *testing.T, dir, name string, rec arrow.RecordBatch) string {
	t.Helper()
	path := filepath.Join(dir, name)
	testutil.WriteParquet(t, path, rec)
	return path
}

// rows renders a published table's rows as strings for comparison: numbers by their
// exact JSON text, NULL as "NULL".
func (b *testBundle) rows(t *testing.T, datasetID, table string) []string {
	t.Helper()
	tbl, err := b.emu.Table(datasetID, table)
	if err != nil {
		t.Fatalf("read back table %q: %v", table, err)
	}
	out := make([]string, len(tbl.Rows))
	for i, r := range tbl.Rows {
		cells := make([]string, len(r))
		for j, v := range r {
			switch v := v.(type) {
			case nil:
				cells[j] = "NULL"
			case json.Number:
				cells[j] = v.String()
			default:
				cells[j] = fmt.Sprint(v)
			}
		}
		out[i] = strings.Join(cells, "|")
	}
	return out
}

// writeEveryType writes dir/data/types.parquet with a column of every supported type, and
// returns the rows a dataset must hold after it is pushed (as testBundle.rows renders them).
func writeEveryType(t *testing.T, dir string) []string {
	t.Helper()
	mem := memory.NewGoAllocator()
	utc := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	berlin := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "Europe/Berlin"}
	naive := &arrow.TimestampType{Unit: arrow.Microsecond}
	dec := &arrow.Decimal128Type{Precision: 20, Scale: 4}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "small", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "amount", Type: dec, Nullable: true},
		{Name: "flag", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "at_time", Type: arrow.FixedWidthTypes.Time64us, Nullable: true},
		{Name: "at_naive", Type: naive, Nullable: true},
		{Name: "at_utc", Type: utc, Nullable: true},
		{Name: "at_berlin", Type: berlin, Nullable: true},
	}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	day := func(s string) arrow.Date32 { d, _ := time.Parse(time.DateOnly, s); return arrow.Date32FromTime(d) }
	ts := func(s string) arrow.Timestamp {
		v, _ := time.Parse(time.RFC3339Nano, s)
		return arrow.Timestamp(v.UnixMicro())
	}
	// row 1: ordinary values; row 2: extremes; row 3: NULLs everywhere nullable.
	bld.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 9007199254740993, 3}, nil)
	bld.Field(1).(*array.Int16Builder).AppendValues([]int16{-7, 32767, 0}, []bool{true, true, false})
	bld.Field(2).(*array.Int32Builder).AppendValues([]int32{42, -2147483648, 0}, []bool{true, true, false})
	bld.Field(3).(*array.Uint32Builder).AppendValues([]uint32{7, 4294967295, 0}, []bool{true, true, false})
	bld.Field(4).(*array.Float32Builder).AppendValues([]float32{0.1, 3.4028235e38, 0}, []bool{true, true, false})
	bld.Field(5).(*array.Float64Builder).AppendValues([]float64{0.1, 1e-300, 0}, []bool{true, true, false})
	bld.Field(6).(*array.Decimal128Builder).AppendValues([]decimal128.Num{decimal128.FromI64(1234567), decimal128.FromI64(-5), {}}, []bool{true, true, false})
	bld.Field(7).(*array.BooleanBuilder).AppendValues([]bool{true, false, false}, []bool{true, true, false})
	bld.Field(8).(*array.StringBuilder).AppendValues([]string{"Zoë \"quoted\"", "tab\tand\\slash", ""}, []bool{true, true, false})
	bld.Field(9).(*array.Date32Builder).AppendValues([]arrow.Date32{day("2024-01-31"), day("1900-03-01"), 0}, []bool{true, true, false})
	bld.Field(10).(*array.Time64Builder).AppendValues([]arrow.Time64{arrow.Time64((13*3600 + 45*60) * 1e6), arrow.Time64(86399999999), 0}, []bool{true, true, false})
	bld.Field(11).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{ts("2024-01-31T13:45:00Z"), ts("2024-02-29T23:59:59.000001Z"), 0}, []bool{true, true, false})
	bld.Field(12).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{ts("2024-01-31T13:45:00Z"), ts("2024-07-01T00:00:00.5Z"), 0}, []bool{true, true, false})
	bld.Field(13).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{ts("2024-01-31T12:45:00Z"), ts("2024-07-01T00:00:00Z"), 0}, []bool{true, true, false})
	rec := bld.NewRecordBatch()
	defer rec.Release()
	writeParquet(t, dir, "data/types.parquet", rec)
	return []string{
		"1|-7|42|7|0.1|0.1|123.4567|true|Zoë \"quoted\"|2024-01-31|13:45:00|2024-01-31T13:45:00|2024-01-31T13:45:00|2024-01-31T12:45:00",
		"9007199254740993|32767|-2147483648|4294967295|3.4028235e+38|1e-300|-0.0005|false|tab\tand\\slash|1900-03-01|23:59:59.999999|2024-02-29T23:59:59.000001|2024-07-01T00:00:00.5|2024-07-01T00:00:00",
		"3|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL",
	}
}

func TestRunEveryTypeFromParquet(t *testing.T) {
	b := setup(t)
	want := writeEveryType(t, b.dir)

	job := b.job(t, "types", typesJob)
	res := b.mustRun(t, "run", job, jobs.RunOptions{})
	got := b.rows(t, res.DatasetID, "all_types")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("published rows differ from the source\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(res.Tables) != 1 || res.Tables[0].Rows != 3 || res.Tables[0].Chunks != 1 {
		t.Errorf("table result = %+v, want 3 rows in 1 chunk", res.Tables)
	}
	runs, err := b.store.Runs(context.Background(), "types", 10)
	if err != nil || len(runs) != 1 || runs[0].Status != jobs.StatusSucceeded || runs[0].Rows != 3 {
		t.Errorf("recorded runs = %+v (err %v), want one succeeded run of 3 rows", runs, err)
	}
}

// salesRecord builds (order_id, store, qty, amount) rows.
func salesRecord(t *testing.T, ids []int64, stores []string, qty []int32, amounts []float64) arrow.RecordBatch {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "order_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "store", Type: arrow.BinaryTypes.String},
		{Name: "qty", Type: arrow.PrimitiveTypes.Int32},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	defer bld.Release()
	bld.Field(0).(*array.Int64Builder).AppendValues(ids, nil)
	bld.Field(1).(*array.StringBuilder).AppendValues(stores, nil)
	bld.Field(2).(*array.Int32Builder).AppendValues(qty, nil)
	bld.Field(3).(*array.Float64Builder).AppendValues(amounts, nil)
	return bld.NewRecordBatch()
}

// writeSales writes (order_id, store, qty, amount) rows as one Parquet file, dir/name.
func writeSales(t *testing.T, dir, name string, ids []int64, stores []string, qty []int32, amounts []float64) {
	t.Helper()
	rec := salesRecord(t, ids, stores, qty, amounts)
	defer rec.Release()
	writeParquet(t, dir, name, rec)
}

// typesJob replaces table all_types with writeEveryType's file.
var typesJob = typesJobFrom(`parquet = "data/types.parquet"`)

// typesJobFrom is the job types replacing table all_types with what the lines from read.
func typesJobFrom(from string) string {
	return `
[jobs.types]
target = "emu"
dataset = { name = "Types" }
[[jobs.types.tables]]
name = "all_types"
policy = "replace"
` + from + "\n"
}

// newFilesJob adds the new files of data/orders to table orders.
const newFilesJob = `
[jobs.sales]
target = "emu"
dataset = { name = "Sales" }
[[jobs.sales.tables]]
name = "orders"
policy = "add"
parquet = "data/orders"
incremental = { files = "new" }
`

const salesJob = `
[jobs.sales]
target = "emu"
dataset = { name = "Sales" }
[[jobs.sales.tables]]
name = "orders"
policy = "upsert"
parquet = "data/orders.parquet"
key = ["order_id", "store"]
`

func TestRunUpsertSecondRun(t *testing.T) {
	b := setup(t)
	writeSales(t, b.dir, "data/orders.parquet", []int64{1, 2, 3}, []string{"north", "south", "north"}, []int32{1, 2, 3}, []float64{10.5, 20, 30})
	job := b.job(t, "sales", salesJob)
	first := b.mustRun(t, "first run", job, jobs.RunOptions{})
	// Order 2 changes its amounts, order 4 is new: upsert updates 2 and inserts 4.
	writeSales(t, b.dir, "data/orders.parquet", []int64{2, 4}, []string{"south", "east"}, []int32{5, 1}, []float64{99.25, 7})
	second := b.mustRun(t, "second run", job, jobs.RunOptions{})
	if second.DatasetID != first.DatasetID {
		t.Fatalf("second run pushed to dataset %s, want the one the first run created (%s)", second.DatasetID, first.DatasetID)
	}
	got := strings.Join(b.rows(t, first.DatasetID, "orders"), "\n")
	want := strings.Join([]string{"1|north|1|10.5", "2|south|5|99.25", "3|north|3|30", "4|east|1|7"}, "\n")
	if got != want {
		t.Errorf("after upsert, table orders =\n%s\nwant\n%s", got, want)
	}
	if n := len(b.emu.Datasets()); n != 1 {
		t.Errorf("emulator holds %d datasets, want 1: the second run must reuse the dataset", n)
	}
}

func TestRunFailedUploadChangesNothing(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	writeSales(t, b.dir, "data/orders.parquet", []int64{1, 2}, []string{"north", "south"}, []int32{1, 2}, []float64{10, 20})
	job := b.job(t, "sales", salesJob)
	first := b.mustRun(t, "first run", job, jobs.RunOptions{})
	before := b.rows(t, first.DatasetID, "orders")

	writeSales(t, b.dir, "data/orders.parquet", []int64{1, 3}, []string{"north", "west"}, []int32{100, 3}, []float64{1000, 30})
	// Every attempt of the upload fails with a 500: the client gives up, the run fails.
	for i := 1; i <= 3; i++ {
		b.emu.FailNth(emulator.CallPut, i, 500, "")
	}
	_, err := b.runner.Run(ctx, job, jobs.RunOptions{})
	if err == nil {
		t.Fatal("run with a failing upload succeeded, want an error")
	}
	if got := b.rows(t, first.DatasetID, "orders"); strings.Join(got, "\n") != strings.Join(before, "\n") {
		t.Errorf("failed run changed the dataset:\n%s\nwant unchanged:\n%s", strings.Join(got, "\n"), strings.Join(before, "\n"))
	}
	if open := b.emu.OpenSessions(); len(open) != 0 {
		t.Errorf("failed run left upload sessions open: %+v", open)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error leaks the password: %v", err)
	}
	runs, _ := b.store.Runs(ctx, "sales", 1)
	if len(runs) != 1 || runs[0].Status != jobs.StatusFailed || runs[0].Error == "" {
		t.Errorf("last run recorded as %+v, want failed with its error", runs)
	}
}

func TestRunRefusals(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		rows    int
		wantErr string
	}{
		{
			name: "non-numeric column outside the key",
			body: `
[jobs.sales]
target = "emu"
dataset = { name = "Sales" }
[[jobs.sales.tables]]
name = "orders"
policy = "upsert"
parquet = "data/orders.parquet"
key = ["order_id"]
`,
			rows:    2,
			wantErr: `"store"`,
		},
		{
			name: "replace with no rows",
			body: `
[jobs.sales]
target = "emu"
dataset = { name = "Sales" }
[[jobs.sales.tables]]
name = "orders"
policy = "replace"
parquet = "data/orders.parquet"
`,
			rows:    0,
			wantErr: "allow_empty",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t)
			ids, stores, qty, amounts := []int64{1, 2}, []string{"a", "b"}, []int32{1, 2}, []float64{1, 2}
			writeSales(t, b.dir, "data/orders.parquet", ids[:tt.rows], stores[:tt.rows], qty[:tt.rows], amounts[:tt.rows])
			_, err := b.runner.Run(context.Background(), b.job(t, "sales", tt.body), jobs.RunOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run error = %v, want one mentioning %s", err, tt.wantErr)
			}
			if !jobs.IsInputError(err) {
				t.Errorf("error %v is not an input error: it would be retried", err)
			}
			for _, d := range b.emu.Datasets() {
				if tbl, err := b.emu.Table(d.ID, "orders"); err == nil && len(tbl.Rows) > 0 {
					t.Errorf("refused run published %d rows", len(tbl.Rows))
				}
			}
			if open := b.emu.OpenSessions(); len(open) != 0 {
				t.Errorf("refused run left upload sessions open: %+v", open)
			}
		})
	}
}

func TestRunDryRunPushesNothing(t *testing.T) {
	b := setup(t)
	writeSales(t, b.dir, "data/orders.parquet", []int64{1, 2}, []string{"north", "south"}, []int32{1, 2}, []float64{10, 20})
	res := b.mustRun(t, "dry run", b.job(t, "sales", salesJob), jobs.RunOptions{DryRun: true})
	if len(res.Tables) != 1 || res.Tables[0].Rows != 2 || res.Tables[0].Bytes == 0 {
		t.Errorf("dry run tables = %+v, want 2 rows read and encoded", res.Tables)
	}
	if d := b.emu.Datasets(); len(d) != 0 {
		t.Errorf("dry run created datasets: %+v", d)
	}
	if runs, _ := b.store.Runs(context.Background(), "", 10); len(runs) != 0 {
		t.Errorf("dry run recorded runs: %+v", runs)
	}
}

func TestRunRecoversAbandonedSession(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	writeSales(t, b.dir, "data/orders.parquet", []int64{1}, []string{"north"}, []int32{1}, []float64{10})
	job := b.job(t, "sales", salesJob)
	first := b.mustRun(t, "first run", job, jobs.RunOptions{})
	// A run that died after opening its upload session: the session stays open on the
	// server (which refuses a second one) and the run stays "running" in the store.
	c, err := b.runner.Connect(ctx, job.Target)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx); err != nil {
		t.Fatal(err)
	}
	sess, err := c.OpenSession(ctx, first.DatasetID, []sink.SessionTable{{Name: "orders", UpdatePolicy: sink.Upsert, Orientation: "COLUMN", ColumnHeaders: []string{"order_id", "store", "qty", "amount"}}})
	if err != nil {
		t.Fatal(err)
	}
	dead, err := b.store.StartRun(ctx, jobs.Run{Job: "sales", Trigger: jobs.TriggerManual, Started: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.SetRunSession(ctx, dead.ID, first.DatasetID, sess.ID()); err != nil {
		t.Fatal(err)
	}

	b.mustRun(t, "run after a dead run", job, jobs.RunOptions{})
	runs, err := b.store.Runs(ctx, "sales", 10)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, r := range runs {
		if r.ID == dead.ID {
			found = true
			if r.Status != jobs.StatusAbandoned {
				t.Errorf("dead run recorded as %q, want %q", r.Status, jobs.StatusAbandoned)
			}
		}
	}
	if !found {
		t.Errorf("dead run %d missing from history %+v", dead.ID, runs)
	}
	if open := b.emu.OpenSessions(); len(open) != 0 {
		t.Errorf("sessions still open after recovery: %+v", open)
	}
}

func TestRunLockedJobIsSkipped(t *testing.T) {
	b := setup(t)
	job := b.job(t, "sales", salesJob)
	lease, err := b.store.Lock(context.Background(), "sales")
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Unlock()
	_, err = b.runner.Run(context.Background(), job, jobs.RunOptions{})
	if !errors.Is(err, jobs.ErrLocked) {
		t.Fatalf("run of a locked job: err = %v, want ErrLocked", err)
	}
}

func TestRunBadCredentialsAreRecordedNotRetried(t *testing.T) {
	b := setupWith(t, emulator.Options{Users: map[string]string{"alice": "the-real-one"}})
	writeSales(t, b.dir, "data/orders.parquet", []int64{1}, []string{"north"}, []int32{1}, []float64{10})
	job := b.job(t, "sales", salesJob)
	job.Retry.Attempts = 3
	res, err := b.runner.Run(context.Background(), job, jobs.RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "ERR003") {
		t.Fatalf("run with a wrong password: err = %v, want a login failure (ERR003)", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error leaks the password: %v", err)
	}
	if res.Attempts != 1 {
		t.Errorf("refused credentials were tried %d times, want 1", res.Attempts)
	}
	runs, _ := b.store.Runs(context.Background(), "sales", 10)
	if len(runs) != 1 || runs[0].Status != jobs.StatusFailed || !strings.Contains(runs[0].Error, "ERR003") {
		t.Errorf("history = %+v, want one failed run with the login error", runs)
	}
}

func TestRunTimeoutSaysSo(t *testing.T) {
	b := setupWith(t, emulator.Options{PublishDelay: time.Minute})
	writeSales(t, b.dir, "data/orders.parquet", []int64{1}, []string{"north"}, []int32{1}, []float64{10})
	job := b.job(t, "sales", salesJob)
	b.runner.Clock = clock.Wall{} // the timeout comes during the 1m publish
	_, err := b.runner.Run(context.Background(), job, jobs.RunOptions{Timeout: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), `job "sales" timed out after 500ms`) {
		t.Fatalf("run past its timeout: err = %v, want it to say the job timed out", err)
	}
	runs, _ := b.store.Runs(context.Background(), "sales", 1)
	if len(runs) != 1 || runs[0].Status != jobs.StatusFailed || !strings.Contains(runs[0].Error, "timed out") {
		t.Errorf("history = %+v, want a failed run that says it timed out", runs)
	}
	b.checkNothingPublished(t, "the timed-out run")
}

func TestRunParquetNewFilesOnly(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	job := b.job(t, "sales", newFilesJob)
	write := func(name string, ids ...int64) {
		t.Helper()
		stores, qty, amounts := make([]string, len(ids)), make([]int32, len(ids)), make([]float64, len(ids))
		for i := range ids {
			stores[i] = "s"
		}
		writeSales(t, b.dir, filepath.Join("data/orders", name), ids, stores, qty, amounts)
	}
	run := func(opts jobs.RunOptions) int64 {
		t.Helper()
		res, err := b.runner.Run(ctx, job, opts)
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		return res.Tables[0].Rows
	}
	write("a.parquet", 1, 2)
	if got := run(jobs.RunOptions{}); got != 2 {
		t.Errorf("first run pushed %d rows, want 2 (a.parquet)", got)
	}
	write("b.parquet", 3)
	if got := run(jobs.RunOptions{}); got != 1 {
		t.Errorf("second run pushed %d rows, want 1 (only the new b.parquet)", got)
	}
	// A failed run reads c.parquet but publishes nothing: it must still count as new.
	write("c.parquet", 4)
	b.emu.FailPublish(3, "injected")
	if _, err := b.runner.Run(ctx, job, jobs.RunOptions{}); err == nil {
		t.Fatal("run with a failing publish succeeded")
	}
	if got := run(jobs.RunOptions{}); got != 1 {
		t.Errorf("run after a failed one pushed %d rows, want 1 (c.parquet again)", got)
	}
	// A rewritten file (other size) is new again.
	write("a.parquet", 1, 2, 5)
	if got := run(jobs.RunOptions{}); got != 3 {
		t.Errorf("run after rewriting a.parquet pushed %d rows, want 3", got)
	}
	if got := run(jobs.RunOptions{}); got != 0 {
		t.Errorf("run with no new file pushed %d rows, want 0", got)
	}
	if got := run(jobs.RunOptions{FullRefresh: true}); got != 5 {
		t.Errorf("--full-refresh pushed %d rows, want every file's 5", got)
	}
}

func TestRunSelectedTables(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	rec := salesRecord(t, []int64{1, 2}, []string{"north", "south"}, []int32{1, 2}, []float64{10, 20})
	writeParquet(t, b.dir, "data/orders.parquet", rec)
	writeParquet(t, b.dir, "data/returns.parquet", rec)
	rec.Release()
	job := b.job(t, "sales", salesJob+`
[[jobs.sales.tables]]
name = "returns"
policy = "replace"
parquet = "data/returns.parquet"
`)
	if _, err := b.runner.Run(ctx, job, jobs.RunOptions{Tables: []string{"orders"}}); err == nil || !strings.Contains(err.Error(), "without --tables") {
		t.Fatalf("first run with --tables: err = %v, want a request to create the dataset with every table first", err)
	}
	first, err := b.runner.Run(ctx, job, jobs.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec = salesRecord(t, []int64{9}, []string{"east"}, []int32{9}, []float64{90})
	writeParquet(t, b.dir, "data/orders.parquet", rec)
	writeParquet(t, b.dir, "data/returns.parquet", rec)
	rec.Release()
	res := b.mustRun(t, "run of one table", job, jobs.RunOptions{Tables: []string{"returns"}})
	if len(res.Tables) != 1 || res.Tables[0].Name != "returns" {
		t.Errorf("run with --tables returns pushed %+v, want only returns", res.Tables)
	}
	if got := b.rows(t, first.DatasetID, "returns"); strings.Join(got, ",") != "9|east|9|90" {
		t.Errorf("returns = %v, want the replaced row", got)
	}
	if got := b.rows(t, first.DatasetID, "orders"); len(got) != 2 {
		t.Errorf("orders = %v, want its 2 rows untouched", got)
	}
}

// A run in which no table has rows opens no upload session, unless a table is replace: an
// empty replace table (allow_empty) still empties the table on the server.
func TestRunWithNoRowsPublishesOnlyAnEmptyReplace(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	writeSales(t, b.dir, "data/orders/a.parquet", []int64{1, 2}, []string{"north", "south"}, []int32{1, 2}, []float64{10, 20})
	writeSales(t, b.dir, "data/stores.parquet", []int64{7}, []string{"east"}, []int32{1}, []float64{1})
	job := b.job(t, "sales", newFilesJob+`[[jobs.sales.tables]]
name = "stores"
policy = "replace"
parquet = "data/stores.parquet"
allow_empty = true
`)
	first := b.mustRun(t, "first run", job, jobs.RunOptions{})
	calls := func() (opened, published int64) {
		c := b.emu.Stats().Calls
		return c[emulator.CallOpenSession], c[emulator.CallPublish]
	}

	t.Run("no new rows anywhere", func(t *testing.T) {
		// Only orders: the replace table is left out of this run.
		opened, published := calls()
		res := b.mustRun(t, "run with no new files", job, jobs.RunOptions{Tables: []string{"orders"}})
		o2, p2 := calls()
		if o2 != opened || p2 != published {
			t.Errorf("run with no new rows opened %d sessions and published %d times, want none", o2-opened, p2-published)
		}
		runs, _ := b.store.Runs(ctx, "sales", 1)
		if !res.NoChanges || len(runs) != 1 || runs[0].Status != jobs.StatusSucceeded || runs[0].Rows != 0 || !runs[0].NoChanges() {
			t.Errorf("result NoChanges %v, recorded %+v; want a succeeded run with 0 rows and no changes", res.NoChanges, runs)
		}
		if got := b.rows(t, first.DatasetID, "orders"); len(got) != 2 {
			t.Errorf("orders after a run with no changes: %v, want the 2 rows of the first run", got)
		}
	})

	t.Run("an empty replace table is published", func(t *testing.T) {
		writeSales(t, b.dir, "data/stores.parquet", nil, nil, nil, nil)
		opened, published := calls()
		res := b.mustRun(t, "run with an empty replace table", job, jobs.RunOptions{})
		o2, p2 := calls()
		if res.NoChanges || o2 != opened+1 || p2 != published+1 {
			t.Errorf("run with an empty replace table: NoChanges %v, %d sessions, %d publishes; want one of each", res.NoChanges, o2-opened, p2-published)
		}
		if got := b.rows(t, first.DatasetID, "stores"); len(got) != 0 {
			t.Errorf("stores after publishing an empty replace: %v, want no rows", got)
		}
		if runs, _ := b.store.Runs(ctx, "sales", 1); len(runs) != 1 || runs[0].NoChanges() {
			t.Errorf("run that published an empty replace recorded as %+v, want it not to read as no changes", runs)
		}
	})
}
