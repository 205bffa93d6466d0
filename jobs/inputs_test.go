package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/sink/emulator"
)

// wantNothingPushed checks that a failed run left no trace on the server: no dataset
// created, no upload session opened, and that the run is recorded failed with reason.
func (b *testBundle) wantNothingPushed(t *testing.T, job string, reason ...string) {
	t.Helper()
	calls := b.emu.Stats().Calls
	if calls[emulator.CallModel] != 0 || calls[emulator.CallOpenSession] != 0 || calls[emulator.CallPut] != 0 {
		t.Errorf("calls models=%d uploadSessions=%d PUT=%d, want none before an input error",
			calls[emulator.CallModel], calls[emulator.CallOpenSession], calls[emulator.CallPut])
	}
	if n := len(b.emu.Datasets()); n != 0 {
		t.Errorf("emulator holds %d datasets, want none", n)
	}
	if open := b.emu.OpenSessions(); len(open) != 0 {
		t.Errorf("upload sessions left open: %+v", open)
	}
	if _, err := b.store.DatasetID(context.Background(), job); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("store remembers a dataset for %s (err %v), want none", job, err)
	}
	runs, err := b.store.Runs(context.Background(), job, 10)
	if err != nil || len(runs) != 1 || runs[0].Status != jobs.StatusFailed {
		t.Fatalf("history = %+v (err %v), want one failed run", runs, err)
	}
	for _, r := range reason {
		if !strings.Contains(runs[0].Error, r) {
			t.Errorf("history's error %q does not say %q", runs[0].Error, r)
		}
	}
}

// TestRunBadOverrideFailsFirst checks that a type override the column cannot take fails
// the run before anything reaches the server, naming job, table, column, source type,
// override and the overrides allowed; fixing the override then works.
func TestRunBadOverrideFailsFirst(t *testing.T) {
	b := setup(t)
	writeSales(t, b.dir, "data/orders.parquet", []int64{1, 2}, []string{"north", "south"}, []int32{1, 2}, []float64{10, 20})
	bad := b.job(t, "sales", salesJob+`columns.order_id = { type = "DATE" }
`)
	_, err := b.runner.Run(context.Background(), bad, jobs.RunOptions{})
	want := `job "sales": table "orders": column "order_id": source type int64 cannot be pushed as DATE (type overrides allowed for it: STRING, INTEGER, BIGINTEGER, DOUBLE, BIGDECIMAL)`
	if err == nil || err.Error() != want {
		t.Fatalf("run error =\n  %v\nwant\n  %s", err, want)
	}
	if !jobs.IsInputError(err) {
		t.Error("a bad override is not an input error: it would be retried")
	}
	b.wantNothingPushed(t, "sales", `column "order_id"`, "cannot be pushed as DATE")

	fixed := b.job(t, "sales", salesJob+`columns.order_id = { type = "BIGINTEGER" }
`)
	b.mustRun(t, "run with the override fixed", fixed, jobs.RunOptions{})
}

// TestRunInputErrorsFailAtOnce checks that input errors are not retried whole-run and
// leave nothing on the server, with retry.attempts = 3.
func TestRunInputErrorsFailAtOnce(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		table   string // the table's keys
		reason  []string
	}{
		{"missing file", func(*testing.T, string) {}, `parquet = "data/missing.parquet"`,
			[]string{"data/missing.parquet", "does not exist", "a relative path is resolved against the directory of the jobs file, "}},
		{"glob matching nothing", func(*testing.T, string) {}, `parquet = "data/*.parquet"`,
			[]string{"matches no file", "the directory of the jobs file"}},
		{"empty file", func(t *testing.T, dir string) {
			writeBytes(t, filepath.Join(dir, "data/empty.parquet"), nil)
		}, `parquet = "data/empty.parquet"`, []string{"data/empty.parquet"}},
		{"corrupt file", func(t *testing.T, dir string) {
			writeBytes(t, filepath.Join(dir, "data/bad.parquet"), []byte("PAR1 this is not parquet at all PAR1"))
		}, `parquet = "data/bad.parquet"`, []string{"data/bad.parquet"}},
		{"unsupported type", func(t *testing.T, dir string) {
			sc := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "blob", Type: arrow.BinaryTypes.Binary}}, nil)
			bld := array.NewRecordBuilder(memory.NewGoAllocator(), sc)
			defer bld.Release()
			bld.Field(0).(*array.Int64Builder).Append(1)
			bld.Field(1).(*array.BinaryBuilder).Append([]byte{1, 2})
			rec := bld.NewRecordBatch()
			defer rec.Release()
			writeParquet(t, dir, "data/blob.parquet", rec)
		}, `parquet = "data/blob.parquet"`, []string{`table "orders": column "blob": source type binary is not supported`}},
		{"key rule", func(t *testing.T, dir string) {
			writeSales(t, dir, "data/orders.parquet", []int64{1}, []string{"north"}, []int32{1}, []float64{1})
		}, `parquet = "data/orders.parquet"
key = ["order_id"]`, []string{`table "orders": policy "upsert" matches rows on the key columns`, `"store" (STRING)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t)
			tt.prepare(t, b.dir)
			policy := `policy = "replace"`
			if strings.Contains(tt.table, "key") {
				policy = `policy = "upsert"`
			}
			job := b.job(t, "sales", `
[jobs.sales]
target = "emu"
dataset = { name = "Sales" }
retry = { attempts = 3, initial_delay = "30s" }
[[jobs.sales.tables]]
name = "orders"
`+policy+"\n"+tt.table+"\n")
			res, err := b.runner.Run(context.Background(), job, jobs.RunOptions{})
			if err == nil {
				t.Fatal("run succeeded, want an input error")
			}
			if !jobs.IsInputError(err) {
				t.Errorf("error %v is not an input error", err)
			}
			if slept := b.clock.Sleeps(); len(slept) != 0 || res == nil || res.Attempts != 1 {
				t.Errorf("run was tried again (waits %v, attempts %v): input errors fail at once", slept, res)
			}
			if strings.Count(err.Error(), `table "orders"`) > 1 {
				t.Errorf("error names the table twice: %v", err)
			}
			b.wantNothingPushed(t, "sales", tt.reason...)
		})
	}
}

func writeBytes(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunRetryIsLogged checks that a whole-run retry says why, which attempt failed and
// when the next one starts, and that RunOptions.Attempts overrides retry.attempts.
func TestRunRetryIsLogged(t *testing.T) {
	b := setup(t)
	var logs testutil.SyncBuffer
	b.runner.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	writeSales(t, b.dir, "data/orders.parquet", []int64{1}, []string{"north"}, []int32{1}, []float64{1})
	job := b.job(t, "sales", salesJob+`
`)
	job.Retry.Attempts, job.Retry.InitialDelay = 3, time.Minute
	for i := 1; i <= 3; i++ { // the first attempt's PUT fails on every try (1 + call_retries 2)
		b.emu.FailNth(emulator.CallPut, i, 503, "")
	}
	res, err := b.runner.Run(context.Background(), job, jobs.RunOptions{})
	if err != nil || res.Attempts != 2 {
		t.Fatalf("run = %v, attempts %d; want success on the second attempt", err, res.Attempts)
	}
	line := logs.String()
	for _, want := range []string{"run failed, retrying", "attempt=1", "of=3", "next_attempt=", "reason=", "503"} {
		if !strings.Contains(line, want) {
			t.Errorf("retry log does not say %q:\n%s", want, line)
		}
	}

	for i := 1; i <= 3; i++ {
		b.emu.FailNth(emulator.CallPut, i, 503, "")
	}
	res, err = b.runner.Run(context.Background(), job, jobs.RunOptions{Attempts: 1})
	if err == nil || res.Attempts != 1 {
		t.Errorf("run with Attempts 1 = %v after %d attempts, want a failure after one", err, res.Attempts)
	}
}

// TestRunCallRetriesZero checks call_retries = 0 against a server failing every PUT: one
// PUT, the session cancelled, the run failed.
func TestRunCallRetriesZero(t *testing.T) {
	b := setup(t)
	writeSales(t, b.dir, "data/orders.parquet", []int64{1}, []string{"north"}, []int32{1}, []float64{1})
	job := b.job(t, "sales", salesJob)
	job.Target.CallRetries = 0
	for i := 1; i <= 10; i++ {
		b.emu.FailNth(emulator.CallPut, i, 500, "")
	}
	_, err := b.runner.Run(context.Background(), job, jobs.RunOptions{})
	if err == nil {
		t.Fatal("run succeeded against a server failing every PUT")
	}
	// Each layer adds only what it alone knows: the upload names table and chunk once.
	if !strings.HasPrefix(err.Error(), `job "sales": upload table "orders" chunk 1: 500`) || strings.Count(err.Error(), `table "orders"`) != 1 {
		t.Errorf("run error = %v, want it to name the table once, with the chunk", err)
	}
	calls := b.emu.Stats().Calls
	if calls[emulator.CallPut] != 1 || calls[emulator.CallDelete] != 1 {
		t.Errorf("PUT calls = %d, DELETE calls = %d; want 1 and 1 with call_retries = 0", calls[emulator.CallPut], calls[emulator.CallDelete])
	}
	if open := b.emu.OpenSessions(); len(open) != 0 {
		t.Errorf("upload sessions left open: %+v", open)
	}
}

// TestRunParquetUUID checks that a Parquet UUID column, which sink renders as text, is
// pushed rather than refused by the source.
func TestRunParquetUUID(t *testing.T) {
	b := setup(t)
	sc := arrow.NewSchema([]arrow.Field{{Name: "id", Type: extensions.NewUUIDType()}, {Name: "n", Type: arrow.PrimitiveTypes.Int32}}, nil)
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), sc)
	defer bld.Release()
	const u = "0191f5c2-7b1e-7c3a-9d4e-5f6a7b8c9d0e"
	if err := bld.Field(0).(*extensions.UUIDBuilder).AppendValueFromString(u); err != nil {
		t.Fatal(err)
	}
	bld.Field(1).(*array.Int32Builder).Append(7)
	rec := bld.NewRecordBatch()
	defer rec.Release()
	writeParquet(t, b.dir, "data/ids.parquet", rec)
	job := b.job(t, "ids", `
[jobs.ids]
target = "emu"
dataset = { name = "Ids" }
[[jobs.ids.tables]]
name = "ids"
policy = "replace"
parquet = "data/ids.parquet"
`)
	res := b.mustRun(t, "run", job, jobs.RunOptions{})
	if got := strings.Join(b.rows(t, res.DatasetID, "ids"), "\n"); got != u+"|7" {
		t.Errorf("ids = %q, want %q", got, u+"|7")
	}
}
