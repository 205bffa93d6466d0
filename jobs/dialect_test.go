package jobs_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/sink/emulator"
)

// dialects are the ways servers within the documented API answer where it leaves room;
// every job must run against each exactly as against the default emulator.
var dialects = []struct {
	name string
	opts emulator.Options
}{
	{"default", emulator.Options{}},
	{"bigint as integer precision 8", emulator.Options{BigIntegerAsInteger: true}},
	{"in-progress statuses 4 8 9 10", emulator.Options{PublishStatuses: []int{4, 8, 9, 10}}},
	{"status as string", emulator.Options{StatusAsString: true, PublishStatuses: []int{6}}},
	{"four-digit error codes", emulator.Options{ErrorCodeDigits: 4}},
}

// TestRunDialects runs a job of every type and an upsert job twice against each dialect:
// the second run checks the dataset the first created. Both succeed, the data is exact and
// the dataset is created once. On the second run the server also says once that the login
// expired (in the dialect's spelling of ERR009): the client logs in again and goes on.
func TestRunDialects(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			b := setupWith(t, d.opts)
			ctx := context.Background()
			wantTypes := writeEveryType(t, b.dir)
			writeSales(t, b.dir, "data/orders.parquet", []int64{1, 2, 9007199254740993}, []string{"north", "south", "north"}, []int32{1, 2, 3}, []float64{10.5, 20, 30})
			types := b.job(t, "types", typesJob)
			sales := b.job(t, "sales", salesJob)
			wantSales := []string{"1|north|1|10.5", "2|south|2|20", "9007199254740993|north|3|30"}
			ids := map[string]string{}
			for run := 1; run <= 2; run++ {
				if run == 2 {
					b.emu.FailNth(emulator.CallPut, 1, 401, "")
				}
				for _, job := range []*jobs.Job{types, sales} {
					res, err := b.runner.Run(ctx, job, jobs.RunOptions{})
					if err != nil {
						t.Fatalf("run %d of job %s: %v", run, job.Name, err)
					}
					if prev, ok := ids[job.Name]; ok && prev != res.DatasetID {
						t.Errorf("run %d of job %s pushed to dataset %s, want %s", run, job.Name, res.DatasetID, prev)
					}
					ids[job.Name] = res.DatasetID
				}
				if got := b.rows(t, ids["types"], "all_types"); strings.Join(got, "\n") != strings.Join(wantTypes, "\n") {
					t.Errorf("run %d: all_types =\n%s\nwant\n%s", run, strings.Join(got, "\n"), strings.Join(wantTypes, "\n"))
				}
				if got := b.rows(t, ids["sales"], "orders"); strings.Join(got, "\n") != strings.Join(wantSales, "\n") {
					t.Errorf("run %d: orders =\n%s\nwant\n%s", run, strings.Join(got, "\n"), strings.Join(wantSales, "\n"))
				}
			}
			if n := b.emu.Stats().Calls[emulator.CallModel]; n != 2 {
				t.Errorf("models calls = %d, want 2 (one per job, on its first run)", n)
			}
			if open := b.emu.OpenSessions(); len(open) != 0 {
				t.Errorf("upload sessions left open: %+v", open)
			}
		})
	}
}

// TestRunNarrowDatasetColumn runs against a server whose definition states a 4-byte
// integer (precision 4) for a column the job sends as BIGINTEGER: the run warns and goes
// on while the values fit, and fails only when one does not, naming the value, the
// column's width and what to do, before anything is published.
func TestRunNarrowDatasetColumn(t *testing.T) {
	b := setupWith(t, emulator.Options{BigIntegerAsInteger: true})
	// The server in front of the emulator states precision 4 where the emulator says 8.
	target, err := url.Parse(strings.TrimSuffix(b.url, "/MicroStrategyLibrary"))
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	eight := regexp.MustCompile(`"precision":\s*8\b`)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method != http.MethodGet || resp.Request.URL.Query().Get("fields") == "" {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = eight.ReplaceAll(body, []byte(`"precision":4`))
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	b.url = srv.URL + "/MicroStrategyLibrary"
	var logs testutil.SyncBuffer
	b.runner.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	ctx := context.Background()
	job := b.job(t, "sales", salesJob)

	writeSales(t, b.dir, "data/orders.parquet", []int64{1, 2}, []string{"north", "south"}, []int32{1, 2}, []float64{10, 20})
	res := b.mustRun(t, "first run (creates the dataset)", job, jobs.RunOptions{})
	id := res.DatasetID

	writeSales(t, b.dir, "data/orders.parquet", []int64{1, 2147483647}, []string{"north", "south"}, []int32{5, 6}, []float64{50, 60})
	b.mustRun(t, "second run, values that fit 32 bits", job, jobs.RunOptions{})
	if !strings.Contains(logs.String(), `column \"order_id\" of table \"orders\" holds 32-bit integers in the dataset (data type 1 precision 4)`) {
		t.Errorf("no warning about the narrower column:\n%s", logs.String())
	}
	want := []string{"1|north|5|50", "2|south|2|20", "2147483647|south|6|60"}
	if got := b.rows(t, id, "orders"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("orders after the second run =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	publishes := b.emu.Stats().Calls[emulator.CallPublish]
	writeSales(t, b.dir, "data/orders.parquet", []int64{3, 2147483648}, []string{"north", "south"}, []int32{7, 8}, []float64{70, 80})
	_, err = b.runner.Run(ctx, job, jobs.RunOptions{})
	for _, w := range []string{
		`job "sales": table "orders": column "order_id" row 2: value 2147483648 does not fit INTEGER`,
		"the dataset's column holds 32-bit integers (data type 1 precision 4)",
		"cubesync state forget-dataset sales",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("third run error = %v, want it to say %q", err, w)
		}
	}
	if err != nil && (!jobs.IsInputError(err) || strings.Contains(err.Error(), "set the column's type")) {
		t.Errorf("third run error = %v: want an input error (not retried) that does not suggest changing the job's type", err)
	}
	if n := b.emu.Stats().Calls[emulator.CallPublish]; n != publishes {
		t.Errorf("publish calls went from %d to %d, want nothing published", publishes, n)
	}
	if got := b.rows(t, id, "orders"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("orders after the failed run =\n%s\nwant them unchanged", strings.Join(got, "\n"))
	}
	if open := b.emu.OpenSessions(); len(open) != 0 {
		t.Errorf("upload sessions left open: %+v", open)
	}
}

// TestPostgresDialects runs a query job (bigint, text, integer, numeric, date and
// timestamptz columns, upsert on the bigint) twice against each dialect: both runs succeed,
// the dataset holds exactly the warehouse's rows, and it is created once. A server that
// codes the bigint as integer precision 8 is the one that used to fail every second run.
func TestPostgresDialects(t *testing.T) {
	w := newWarehouse(t)
	w.exec(t, `CREATE TABLE orders (id int8 PRIMARY KEY, region text NOT NULL, qty int4, amount numeric(12,2), day date, at timestamptz)`)
	w.exec(t, `INSERT INTO orders VALUES
		(9007199254740993, 'north', 1, 10.50, '2024-01-31', '2024-01-31 13:45:00+00'),
		(2, 'south', NULL, 20.00, '2024-02-29', NULL)`)
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			b := setupWith(t, d.opts)
			job := b.job(t, "pg", w.source()+`
[jobs.pg]
target = "emu"
dataset = { name = "Orders" }
[[jobs.pg.tables]]
name = "orders"
policy = "upsert"
source = "warehouse"
query = "SELECT id, region, qty, amount, day, at FROM orders ORDER BY id"
key = ["id", "region", "day", "at"]
`)
			want := []string{"2|south|NULL|20.00|2024-02-29|NULL", "9007199254740993|north|1|10.50|2024-01-31|2024-01-31T13:45:00"}
			var id string
			for run := 1; run <= 2; run++ {
				res, err := b.runner.Run(context.Background(), job, jobs.RunOptions{})
				if err != nil {
					t.Fatalf("run %d: %v", run, err)
				}
				if id != "" && res.DatasetID != id {
					t.Errorf("run %d pushed to dataset %s, want %s", run, res.DatasetID, id)
				}
				id = res.DatasetID
				if got := b.rows(t, id, "orders"); sorted(got) != sorted(want) {
					t.Errorf("run %d: orders =\n%s\nwant\n%s", run, sorted(got), sorted(want))
				}
			}
			if n := b.emu.Stats().Calls[emulator.CallModel]; n != 1 {
				t.Errorf("models calls = %d, want 1", n)
			}
			if open := b.emu.OpenSessions(); len(open) != 0 {
				t.Errorf("upload sessions left open: %+v", open)
			}
		})
	}
}

// TestPostgresBadOverrideFailsFirst checks that a query table's columns go through the same
// type table as a Parquet table's: an override its column cannot take fails the run before
// the dataset is created, naming job, table, column, source type, override and the
// overrides allowed.
func TestPostgresBadOverrideFailsFirst(t *testing.T) {
	w := newWarehouse(t)
	w.exec(t, `CREATE TABLE orders (id int8, region text)`)
	w.exec(t, `INSERT INTO orders VALUES (1, 'north')`)
	b := setup(t)
	job := b.job(t, "pg", w.source()+`
[jobs.pg]
target = "emu"
dataset = { name = "Orders" }
retry = { attempts = 3 }
[[jobs.pg.tables]]
name = "orders"
policy = "replace"
source = "warehouse"
query = "SELECT id, region FROM orders"
columns.region = { type = "INTEGER" }
`)
	res, err := b.runner.Run(context.Background(), job, jobs.RunOptions{})
	want := `job "pg": table "orders": column "region": source type utf8 cannot be pushed as INTEGER (type overrides allowed for it: STRING)`
	if err == nil || err.Error() != want {
		t.Fatalf("run error =\n  %v\nwant\n  %s", err, want)
	}
	if res == nil || res.Attempts != 1 {
		t.Errorf("run result %+v: want one attempt (a bad override is not retried)", res)
	}
	b.wantNothingPushed(t, "pg", `column "region"`, "cannot be pushed as INTEGER")
}

// TestRunDatasetMismatch: a job that now pushes a column its dataset lacks fails at once
// (not retried, no upload session), naming the dataset once and the column, and history
// records the reason.
func TestRunDatasetMismatch(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	writeSales(t, b.dir, "data/orders.parquet", []int64{1}, []string{"north"}, []int32{1}, []float64{10})
	first := b.job(t, "sales", salesJob+`exclude = ["amount"]
`)
	res := b.mustRun(t, "first run", first, jobs.RunOptions{})
	id := res.DatasetID
	sessions := b.emu.Stats().Calls[emulator.CallOpenSession]

	job := b.job(t, "sales", salesJob)
	job.Retry.Attempts = 3
	res, err := b.runner.Run(ctx, job, jobs.RunOptions{})
	want := `job "sales": dataset "Sales" (id ` + id + `) does not match the job: table "orders" has no column "amount"; `
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Count(err.Error(), `dataset "Sales"`) != 1 {
		t.Fatalf("run error =\n  %v\nwant it to start\n  %s\nand name the dataset once", err, want)
	}
	if !jobs.IsInputError(err) || res == nil || res.Attempts != 1 {
		t.Errorf("run result %+v, input error %v: want one attempt, not retried", res, jobs.IsInputError(err))
	}
	if n := b.emu.Stats().Calls[emulator.CallOpenSession]; n != sessions {
		t.Errorf("upload sessions opened: %d, want none after the check failed", n-sessions)
	}
	if run := b.lastRun(t, "sales"); run.Status != jobs.StatusFailed || !strings.Contains(run.Error, `has no column "amount"`) {
		t.Errorf("history: %s %q, want failed with the reason", run.Status, run.Error)
	}
}
