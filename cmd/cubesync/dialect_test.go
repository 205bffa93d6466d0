package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cubesync/cubesync/sink/emulator"
)

// demoAgainst writes a jobs file with the shipped demo job pushing to the server at url,
// with the target settings extra, in a fresh working directory, and returns its path.
func demoAgainst(t *testing.T, url, extra string) string {
	t.Helper()
	demo := demoData(t, "")
	t.Chdir(t.TempDir())
	config := fmt.Sprintf(`
[targets.mstr]
base_url = %q
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "etl"
password = "etl-pw"
call_backoff = "1ms"
%s
[jobs.demo]
target = "mstr"
dataset = { name = "Demo Sales" }
retry = { attempts = 1 }
[[jobs.demo.tables]]
name = "orders"
policy = "upsert"
parquet = %q
key = ["order_id", "store_id", "ordered_at", "customer", "channel", "gift"]
exclude = ["ship_date", "pickup_time"]
[[jobs.demo.tables]]
name = "stores"
policy = "replace"
parquet = %q
`, url, extra, filepath.Join(demo, "orders"), filepath.Join(demo, "stores.parquet"))
	return writeConfig(t, config)
}

func startDialect(t *testing.T, opts emulator.Options) (*emulator.Server, string) {
	t.Helper()
	emu, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() { srv.Close(); emu.Close() })
	return emu, srv.URL + "/MicroStrategyLibrary"
}

// TestRunJobDialects runs the shipped demo job twice with run-job against each dialect of
// the emulator: exit 0 both times, the data exact, the dataset created once.
func TestRunJobDialects(t *testing.T) {
	for _, d := range []struct {
		name string
		opts emulator.Options
	}{
		{"default", emulator.Options{}},
		{"bigint as integer precision 8", emulator.Options{BigIntegerAsInteger: true}},
		{"in-progress statuses 4 8 9 10", emulator.Options{PublishStatuses: []int{4, 8, 9, 10}}},
		{"status as string", emulator.Options{StatusAsString: true}},
		{"four-digit error codes", emulator.Options{ErrorCodeDigits: 4}},
	} {
		t.Run(d.name, func(t *testing.T) {
			emu, url := startDialect(t, d.opts)
			config := demoAgainst(t, url, "")
			for run := 1; run <= 2; run++ {
				if run == 2 {
					emu.ExpireSessions() // renewed whatever the spelling of ERR009
				}
				code, stdout, stderr := runCmd(t, "run-job", "--config", config, "--progress", "none", "demo")
				if code != exitOK || !strings.Contains(stdout, "job demo: published") {
					t.Fatalf("run %d: exit %d\nstdout:\n%s\nstderr:\n%s", run, code, stdout, stderr)
				}
				if strings.Contains(stderr, "dataset check") {
					t.Errorf("run %d warned about the dataset it created:\n%s", run, stderr)
				}
			}
			ds := emu.Datasets()
			if len(ds) != 1 {
				t.Fatalf("emulator holds %d datasets, want 1", len(ds))
			}
			for table, want := range map[string]int{"orders": 3900, "stores": 25} {
				tbl, err := emu.Table(ds[0].ID, table)
				if err != nil || len(tbl.Rows) != want {
					t.Errorf("table %s holds %d rows (err %v), want %d", table, len(tbl.Rows), err, want)
				}
			}
			if n := emu.Stats().Calls[emulator.CallModel]; n != 1 {
				t.Errorf("models calls = %d, want 1", n)
			}
		})
	}
}

// TestRunJobCallRetriesZero: call_retries = 0 against a server answering 500 to every
// PUT sends exactly one PUT, cancels the session and exits 1.
func TestRunJobCallRetriesZero(t *testing.T) {
	emu, url := startDialect(t, emulator.Options{})
	config := demoAgainst(t, url, "call_retries = 0")
	for i := 1; i <= 20; i++ {
		emu.FailNth(emulator.CallPut, i, 500, "")
	}
	code, _, stderr := runCmd(t, "run-job", "--config", config, "--progress", "none", "--retries", "0", "demo")
	if code != exitFailed {
		t.Errorf("exit %d, want %d\n%s", code, exitFailed, stderr)
	}
	calls := emu.Stats().Calls
	if calls[emulator.CallPut] != 1 || calls[emulator.CallDelete] != 1 || calls[emulator.CallPublish] != 0 {
		t.Errorf("PUT %d, DELETE %d, publish %d; want 1 PUT, the session cancelled, nothing published",
			calls[emulator.CallPut], calls[emulator.CallDelete], calls[emulator.CallPublish])
	}
	if open := emu.OpenSessions(); len(open) != 0 {
		t.Errorf("sessions left open: %+v", open)
	}
}

// TestForgetDataset: a dataset that vanished from the server fails the run with the
// command that repairs it; after state forget-dataset the next run creates a new one.
func TestForgetDataset(t *testing.T) {
	emu, url := startDialect(t, emulator.Options{})
	config := demoAgainst(t, url, "")
	if code, _, stderr := runCmd(t, "run-job", "--config", config, "--progress", "none", "demo"); code != exitOK {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	first := emu.Datasets()[0].ID

	// The dataset is gone: a new server in its place knows nothing of it.
	emu2, url2 := startDialect(t, emulator.Options{})
	config = strings.Replace(readFile(t, config), url, url2, 1)
	path := writeConfig(t, config)
	code, _, stderr := runCmd(t, "run-job", "--config", path, "--progress", "none", "demo")
	if code != exitFailed || !strings.Contains(stderr, "404") || !strings.Contains(stderr, "cubesync state forget-dataset demo") {
		t.Fatalf("run against a server without the dataset: exit %d, want 1 and the repair command\n%s", code, stderr)
	}
	if code, stdout, _ := runCmd(t, "history", "--config", path, "demo"); code != exitOK || !strings.Contains(stdout, "failed") {
		t.Errorf("history does not show the failed run:\n%s", stdout)
	}
	code, stdout, stderr := runCmd(t, "state", "forget-dataset", "demo", "--config", path)
	if code != exitOK || !strings.Contains(stdout, "forgot dataset "+first) {
		t.Fatalf("state forget-dataset: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if code, _, stderr := runCmd(t, "run-job", "--config", path, "--progress", "none", "demo"); code != exitOK {
		t.Fatalf("run after forget-dataset: exit %d\n%s", code, stderr)
	}
	if ds := emu2.Datasets(); len(ds) != 1 || ds[0].ID == first {
		t.Errorf("datasets on the new server = %+v, want one new dataset", ds)
	}
	code, stdout, _ = runCmd(t, "state", "forget-dataset", "demo", "--config", path)
	if code != exitOK || !strings.Contains(stdout, "forgot dataset") {
		t.Errorf("second forget-dataset: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCmd(t, "state", "forget-dataset", "demo", "--config", path)
	if code != exitOK || !strings.Contains(stdout, "remembers no dataset") {
		t.Errorf("forget-dataset with nothing remembered: exit %d\n%s", code, stdout)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDatasetNameDrift: after dataset.name changes in the jobs file, validate and the run
// both say that the job still pushes into the dataset under its old name and how to get a
// new one; after state forget-dataset the next run creates it and the warnings stop.
func TestDatasetNameDrift(t *testing.T) {
	emu, url := startDialect(t, emulator.Options{})
	config := demoAgainst(t, url, "")
	if code, _, stderr := runCmd(t, "validate", "--config", config); code != exitOK || strings.Contains(stderr, "warning") {
		t.Fatalf("validate before any run: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCmd(t, "run-job", "--config", config, "--progress", "none", "demo"); code != exitOK {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCmd(t, "validate", "--config", config); code != exitOK || strings.Contains(stderr, "warning") {
		t.Errorf("validate after the first run: exit %d, want 0 and no warning\n%s", code, stderr)
	}
	renamed := strings.Replace(readFile(t, config), `dataset = { name = "Demo Sales" }`, `dataset = { name = "Demo Sales 2" }`, 1)
	if err := os.WriteFile(config, []byte(renamed), 0o644); err != nil {
		t.Fatal(err)
	}
	want := `dataset.name of job "demo" is "Demo Sales 2" but the dataset it remembers is named "Demo Sales": the job keeps pushing into "Demo Sales"; run ` +
		"`cubesync state forget-dataset demo`"
	code, _, stderr := runCmd(t, "validate", "--config", config)
	if code != exitOK || !strings.Contains(stderr, "warning: job demo: "+want) {
		t.Errorf("validate after renaming dataset.name: exit %d, want 0 and a warning saying %q\n%s", code, want, stderr)
	}
	code, _, stderr = runCmd(t, "run-job", "--config", config, "--progress", "none", "demo")
	if code != exitOK || !strings.Contains(stderr, strings.ReplaceAll(want, `"`, `\"`)) {
		t.Errorf("run after renaming dataset.name: exit %d, want 0 and a warning saying %q\n%s", code, want, stderr)
	}
	if ds := emu.Datasets(); len(ds) != 1 || ds[0].Name != "Demo Sales" {
		t.Fatalf("datasets = %+v, want the one dataset, still named Demo Sales", ds)
	}
	if code, _, stderr := runCmd(t, "state", "forget-dataset", "demo", "--config", config); code != exitOK {
		t.Fatalf("state forget-dataset: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCmd(t, "run-job", "--config", config, "--progress", "none", "demo"); code != exitOK || strings.Contains(stderr, "dataset.name of job") {
		t.Fatalf("run after forget-dataset: exit %d, want 0 and no name warning\n%s", code, stderr)
	}
	if code, _, stderr := runCmd(t, "validate", "--config", config); code != exitOK || strings.Contains(stderr, "warning") {
		t.Errorf("validate after the new dataset was created: exit %d, want 0 and no warning\n%s", code, stderr)
	}
	if ds := emu.Datasets(); len(ds) != 2 {
		t.Errorf("datasets = %+v, want the old one and a new Demo Sales 2", ds)
	}
}

// TestRunJobRetries: --retries overrides retry.attempts: with --retries 1 a run whose first
// attempt fails is tried once more, and the retry is logged with its reason, the attempt
// and the time of the next one.
func TestRunJobRetries(t *testing.T) {
	emu, url := startDialect(t, emulator.Options{})
	config := demoAgainst(t, url, "call_retries = 0")
	text := strings.Replace(readFile(t, config), `retry = { attempts = 1 }`, `retry = { attempts = 1, initial_delay = "10ms" }`, 1)
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	emu.FailNth(emulator.CallPut, 1, 503, "")
	code, stdout, stderr := runCmd(t, "run-job", "--config", config, "--progress", "none", "--log-format", "text", "--retries", "1", "demo")
	if code != exitOK || !strings.Contains(stdout, "job demo: published") {
		t.Fatalf("run-job --retries 1: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, w := range []string{`msg="run failed, retrying"`, "attempt=1", "of=2", "next_attempt=", "reason=", "503"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("retry log does not say %q:\n%s", w, stderr)
		}
	}
	emu.FailNth(emulator.CallPut, 1, 503, "")
	code, _, stderr = runCmd(t, "run-job", "--config", config, "--progress", "none", "--log-format", "text", "demo")
	if code != exitFailed || strings.Contains(stderr, "retrying") {
		t.Errorf("run-job without --retries (retry.attempts = 1): exit %d, want 1 with no retry\n%s", code, stderr)
	}
}

// TestRunJobBadOverrideFailsFirst: a type override the column cannot take fails run-job
// before the dataset is created: exit 1, the error naming job, table, column, source type,
// override and the overrides allowed; no models call, no session, nothing published; and
// history shows the run failed with that reason.
func TestRunJobBadOverrideFailsFirst(t *testing.T) {
	emu, url := startDialect(t, emulator.Options{})
	config := demoAgainst(t, url, "")
	text := strings.Replace(readFile(t, config), `exclude = ["ship_date", "pickup_time"]`,
		`exclude = ["ship_date", "pickup_time"]
columns.order_id = { type = "DATE" }`, 1)
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, "run-job", "--config", config, "--progress", "none", "--retries", "2", "demo")
	want := `job "demo": table "orders": column "order_id": source type int64 cannot be pushed as DATE (type overrides allowed for it: STRING, INTEGER, BIGINTEGER, DOUBLE, BIGDECIMAL)`
	if code != exitFailed || !strings.Contains(stderr, strings.ReplaceAll(want, `"`, `\"`)) {
		t.Fatalf("run-job with a bad override: exit %d, want %d and %q\n%s", code, exitFailed, want, stderr)
	}
	if strings.Contains(stderr, "retrying") {
		t.Errorf("a bad override was retried:\n%s", stderr)
	}
	calls := emu.Stats().Calls
	if calls[emulator.CallModel] != 0 || calls[emulator.CallOpenSession] != 0 || calls[emulator.CallPublish] != 0 || len(emu.Datasets()) != 0 {
		t.Errorf("calls models=%d uploadSessions=%d publish=%d, datasets %d: want nothing on the server",
			calls[emulator.CallModel], calls[emulator.CallOpenSession], calls[emulator.CallPublish], len(emu.Datasets()))
	}
	code, stdout, _ := runCmd(t, "history", "--config", config, "demo")
	if code != exitOK || !strings.Contains(stdout, "failed") || !strings.Contains(stdout, "cannot be pushed as DATE") {
		t.Errorf("history does not show the run failed with the reason:\n%s", stdout)
	}
}
