package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cubesync/cubesync/jobs"
)

// runValidateCmd runs `cubesync validate args...` with vars as its environment and returns
// the exit code and both streams.
func runValidateCmd(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, getenv: func(k string) string { return vars[k] }}
	code = Run(context.Background(), e, append([]string{"validate"}, args...))
	return code, out.String(), errOut.String()
}

// validateWant runs `cubesync validate args...` with vars as its environment, fails the
// test unless it exits with code, and returns both streams.
func validateWant(t *testing.T, code int, vars map[string]string, args ...string) (stdout, stderr string) {
	t.Helper()
	got, stdout, stderr := runValidateCmd(t, vars, args...)
	if got != code {
		t.Fatalf("validate %v: exit %d, want %d; stderr:\n%s", args, got, code, stderr)
	}
	return stdout, stderr
}

func TestValidatePrintsJobs(t *testing.T) {
	path := writeConfig(t, `[targets.emu]
base_url = "embedded"
[targets.mstr]
base_url = "https://mstr.example.com/MicroStrategyLibrary"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "etl"
password = "${CUBESYNC_TEST_MSTR_PASSWORD}"
[sources.warehouse]
type = "postgres"
dsn = "postgres://etl:${CUBESYNC_TEST_PGPW}@db/warehouse"
[jobs.sales]
description = "Nightly upsert"
schedule = "CRON_TZ=UTC 0 0 1 1 *"
target = "mstr"
dataset = { name = "Sales", id = "0123456789ABCDEF0123456789ABCDEF" }
[[jobs.sales.tables]]
name = "orders"
policy = "upsert"
source = "warehouse"
query = "SELECT order_id, amount, updated_at FROM orders WHERE updated_at > $1"
key = ["order_id"]
exclude = ["updated_at"]
incremental = { column = "updated_at", initial = "2024-01-01T00:00:00Z" }
[jobs.demo]
target = "emu"
dataset = { name = "Demo" }
[[jobs.demo.tables]]
name = "stores"
policy = "replace"
parquet = "stores.parquet"
`)
	vars := map[string]string{"CUBESYNC_TEST_MSTR_PASSWORD": "mstr-s3cret", "CUBESYNC_TEST_PGPW": "pg-s3cret"}
	stdout, stderr := validateWant(t, 0, vars, "--config", path)
	year := time.Now().UTC().Year() + 1
	dir := filepath.Dir(path)
	want := fmt.Sprintf(`%s: ok, 2 jobs, 2 targets, 1 source
state: local files under ./.cubesync
serve: at most %d runs at once per process (max_concurrent_runs); admin API off (no admin_token)
tracing: off (set OTEL_EXPORTER_OTLP_ENDPOINT to export traces)

job demo
  target    emu (built-in emulator)
  dataset   "Demo" (created on the first run)
  tables
    stores  replace  parquet %s
  schedule  none (run-job only)

job sales: Nightly upsert
  target    mstr (https://mstr.example.com/MicroStrategyLibrary)
  dataset   "Sales" (id 0123456789ABCDEF0123456789ABCDEF)
  tables
    orders  upsert  query on warehouse (postgres)  key order_id; exclude updated_at; incremental on updated_at from 2024-01-01T00:00:00Z
  schedule  CRON_TZ=UTC 0 0 1 1 *
  next runs %d-01-01 00:00:00 UTC (%s)
            %d-01-01 00:00:00 UTC (%s)
            %d-01-01 00:00:00 UTC (%s)
`, path, runtime.NumCPU(), filepath.Join(dir, "stores.parquet"),
		year, weekday(year), year+1, weekday(year+1), year+2, weekday(year+2))
	if stdout != want {
		t.Errorf("validate output:\n%s\nwant:\n%s", stdout, want)
	}
	for _, secret := range vars {
		if strings.Contains(stdout+stderr, secret) {
			t.Errorf("validate printed the secret %q", secret)
		}
	}
}

func weekday(year int) string {
	return time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).Format("Mon")
}

func TestValidateReportsEveryProblem(t *testing.T) {
	path := writeConfig(t, `[targets.emu]
base_url = "embedded"
[jobs.a]
schedule = "every night"
target = "emu"
dataset = { name = "A" }
[[jobs.a.tables]]
name = "t"
policy = "upsrt"
parquet = "t.parquet"
password = "${CUBESYNC_TEST_UNSET_VAR}"
`)
	code, stdout, stderr := runValidateCmd(t, nil, "--config", path)
	if code != 2 {
		t.Errorf("validate of a bad file: exit %d, want 2", code)
	}
	if stdout != "" {
		t.Errorf("validate of a bad file printed to stdout:\n%s", stdout)
	}
	want := path + `:4: jobs.a.schedule: bad cron spec "every night": expected 5 to 6 fields, found 2: [every night] (want 5 fields "m h dom mon dow", 6 with seconds first, @daily/@hourly/@every 1h, optionally after CRON_TZ=Area/City)
` + path + `:9: jobs.a.tables[0].policy: unknown policy "upsrt" (want add, update, upsert or replace)
` + path + `:11: jobs.a.tables[0].password: unknown key (allowed here: name, policy, query, parquet, source, key, exclude, incremental, columns, allow_empty, parallel, parallel_column)
cubesync validate: ` + path + `: 3 problems
`
	if stderr != want {
		t.Errorf("validate stderr:\n%s\nwant:\n%s", stderr, want)
	}
}

func TestValidateConfigFromEnvironment(t *testing.T) {
	path := writeConfig(t, `[targets.emu]
base_url = "embedded"
`)
	code, stdout, stderr := runValidateCmd(t, map[string]string{"CUBESYNC_CONFIG": path})
	if code != 0 || !strings.HasPrefix(stdout, path+": ok, 0 jobs, 1 target, 0 sources\n") {
		t.Errorf("validate with CUBESYNC_CONFIG: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestValidateUsageErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.toml")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"--config", missing}, "cubesync validate: config file " + missing + " does not exist (pass --config or set CUBESYNC_CONFIG)\n"},
		{"stray argument", []string{"demo"}, `cubesync validate: unexpected argument "demo" (validate checks the whole file; use --config to name it); see 'cubesync validate --help'` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runValidateCmd(t, nil, tc.args...)
			if code != 2 || stderr != tc.want {
				t.Errorf("validate %v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
			}
		})
	}
}

// The shipped jobs.toml validates, and its demo job is what the README runs.
func TestValidateShippedConfig(t *testing.T) {
	stdout, stderr := validateWant(t, 0, nil, "--config", filepath.Join("..", "..", "jobs.toml"))
	if strings.Contains(stderr, "warning") {
		t.Errorf("validate warns about the shipped config:\n%s", stderr)
	}
	for _, want := range []string{"job demo", "demo (built-in emulator)", "orders  upsert   parquet ", "stores  replace  parquet ", "schedule  * * * * *"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("validate jobs.toml: output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestValidatePrintsOperatingKeys(t *testing.T) {
	path := writeConfig(t, `[targets.emu]
base_url = "embedded"
[sources.warehouse]
type = "postgres"
dsn = "postgres://etl@db/warehouse"
[jobs.sales]
schedule = "CRON_TZ=UTC 0 2 * * *"
full_refresh = "CRON_TZ=UTC 0 4 * * 0"
jitter = "10m"
target = "emu"
dataset = { name = "Sales" }
[[jobs.sales.tables]]
name = "orders"
policy = "upsert"
source = "warehouse"
query = "SELECT order_id, amount, updated_at FROM orders WHERE updated_at > $1"
key = ["order_id"]
exclude = ["updated_at"]
incremental = { column = "updated_at", initial = "2024-01-01T00:00:00Z", lookback = "10m" }
`)
	stdout, stderr := validateWant(t, 0, nil, "--config", path)
	if strings.Contains(stderr, "is longer than the") {
		t.Errorf("validate warns about jitter 10m on a daily schedule:\n%s", stderr)
	}
	cfg := mustLoad(t, path)
	job := cfg.Jobs["sales"]
	off := job.JitterOffset()
	for _, want := range []string{
		"incremental on updated_at from 2024-01-01T00:00:00Z; re-reads the last 10m0s",
		"  refresh   full on CRON_TZ=UTC 0 4 * * 0 (incremental tables replaced, watermarks reset)",
		fmt.Sprintf("  jitter    10m0s: each slot starts %s after its time (fixed for this job name)", off),
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("validate output lacks %q:\n%s", want, stdout)
		}
	}
	// The next runs are the slots of both schedules, each started after the jitter; the
	// Sunday 04:00 slot is marked as a full refresh.
	now := time.Now().UTC()
	var lines []string
	next := now
	for range 3 {
		slot, start := job.NextRun(next)
		next = start
		line := start.Format("2006-01-02 15:04:05 MST (Mon)")
		if slot.Hour() == 4 {
			line += " full refresh"
		}
		if slot.Hour() != 2 && slot.Hour() != 4 || start.Sub(slot) != off {
			t.Errorf("next run %s for slot %s, want 02:00 or 04:00 plus %s", start, slot, off)
		}
		lines = append(lines, line)
	}
	if want := "  next runs " + strings.Join(lines, "\n            ") + "\n"; !strings.HasSuffix(stdout, want) {
		t.Errorf("validate output ends:\n%s\nwant:\n%s", tail(stdout, 4), want)
	}
}

// TestValidateWarnsJitterOverInterval: a jitter longer than the time between two slots is a
// warning (a slot may start after the next one is due), not a problem.
func TestValidateWarnsJitterOverInterval(t *testing.T) {
	every5 := writeConfig(t, emuTarget("http://127.0.0.1:1/MicroStrategyLibrary")+`
[jobs.often]
target = "emu"
schedule = "*/5 * * * *"
jitter = "10m"
dataset = { name = "Often" }

[[jobs.often.tables]]
name = "t"
policy = "replace"
parquet = "t.parquet"
`)
	_, stderr := validateWant(t, 0, nil, "--config", every5)
	if want := `warning: job often: jitter 10m0s is longer than the 5m0s between two of its slots (schedule "*/5 * * * *"): a slot may start after the next one is due; keep jitter under 5m0s` + "\n"; !strings.Contains(stderr, want) {
		t.Errorf("validate with jitter 10m on a 5-minute schedule: stderr %q, want %q", stderr, want)
	}
}

// TestValidateWarnsParquetMatchesNothing: a parquet path or glob that matches no file is a
// warning (files may arrive before the run), naming the directory relative paths resolve
// against.
func TestValidateWarnsParquetMatchesNothing(t *testing.T) {
	path := writeConfig(t, `[targets.emu]
base_url = "embedded"
[jobs.drops]
target = "emu"
dataset = { name = "Drops" }
[[jobs.drops.tables]]
name = "events"
policy = "replace"
parquet = "incoming/*.parquet"
`)
	_, stderr := validateWant(t, 0, nil, "--config", path)
	dir, _ := filepath.Abs(filepath.Dir(path))
	for _, want := range []string{"warning: job drops table events", `"incoming/*.parquet"`, "matches no file", "the directory of the jobs file, " + dir} {
		if !strings.Contains(stderr, want) {
			t.Errorf("validate stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestValidateNeverPrintsExpandedValues: whatever a ${VAR} holds, validate shows the
// reference as written, in its listing and in its problems (a password put under
// call_retries by mistake must not be printed as "not an integer").
func TestValidateNeverPrintsExpandedValues(t *testing.T) {
	const tmpl = `[targets.mstr]
base_url = "${CUBESYNC_TEST_URL}"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "etl"
password = "${CUBESYNC_TEST_PW}"
call_retries = %s
[jobs.sales]
schedule = "${CUBESYNC_TEST_CRON}"
target = "mstr"
dataset = { name = "${CUBESYNC_TEST_DS}", id = "${CUBESYNC_TEST_DSID}" }
[[jobs.sales.tables]]
name = "orders"
policy = "upsert"
parquet = "${CUBESYNC_TEST_DIR}/*.parquet"
key = ["${CUBESYNC_TEST_KEY}"]
`
	vars := map[string]string{
		"CUBESYNC_TEST_URL":  "https://u-s3cret-host.example.com/MicroStrategyLibrary",
		"CUBESYNC_TEST_PW":   "pw-s3cret",
		"CUBESYNC_TEST_CRON": "@every 17h",
		"CUBESYNC_TEST_DS":   "ds-s3cret",
		"CUBESYNC_TEST_DSID": "0123456789ABCDEF0123456789ABCDEF",
		"CUBESYNC_TEST_DIR":  "/dir-s3cret",
		"CUBESYNC_TEST_KEY":  "key-s3cret",
	}
	notShown := []string{"s3cret", "@every 17h", "0123456789ABCDEF0123456789ABCDEF"}

	t.Run("listing", func(t *testing.T) {
		stdout, stderr := validateWant(t, 0, vars, "--config", writeConfig(t, fmt.Sprintf(tmpl, "3")))
		for _, s := range notShown {
			if strings.Contains(stdout+stderr, s) {
				t.Errorf("validate printed %q, a value from the environment:\n%s%s", s, stdout, stderr)
			}
		}
		for _, ref := range []string{"${CUBESYNC_TEST_URL}", "${CUBESYNC_TEST_DS}", "${CUBESYNC_TEST_DIR}/*.parquet", "key ${CUBESYNC_TEST_KEY}", "${CUBESYNC_TEST_CRON}"} {
			if !strings.Contains(stdout, ref) {
				t.Errorf("validate listing does not show %s as written:\n%s", ref, stdout)
			}
		}
	})
	t.Run("problem", func(t *testing.T) {
		stdout, stderr := validateWant(t, 2, vars, "--config", writeConfig(t, fmt.Sprintf(tmpl, `"${CUBESYNC_TEST_PW}"`)))
		if !strings.Contains(stderr, "call_retries: want an integer") {
			t.Errorf("validate does not report call_retries:\n%s", stderr)
		}
		if strings.Contains(stdout+stderr, "pw-s3cret") {
			t.Errorf("validate printed the password:\n%s%s", stdout, stderr)
		}
	})
}

func TestValidateRefusesTwoJobsOnOneDataset(t *testing.T) {
	path := writeConfig(t, `[targets.emu]
base_url = "embedded"
[jobs.orders]
target = "emu"
dataset = { name = "Sales" }
[[jobs.orders.tables]]
name = "orders"
policy = "replace"
parquet = "orders.parquet"
[jobs.stores]
target = "emu"
dataset = { name = "Sales" }
[[jobs.stores.tables]]
name = "stores"
policy = "replace"
parquet = "stores.parquet"
`)
	_, stderr := validateWant(t, 2, nil, "--config", path)
	want := path + `:12: jobs.stores.dataset.name: job orders (` + path + `:5) writes the same dataset, "Sales" on target emu`
	if !strings.Contains(stderr, want) {
		t.Errorf("validate stderr:\n%s\nwant a line starting %q", stderr, want)
	}
}

// TestValidatePrintsServeNotifyTracing: validate says how many runs a serve process starts
// at once, whether the admin API is on (never the token), the notifiers and each job's, and
// where traces go (never the endpoint's credentials); a tracing variable cubesync cannot
// honour is an error naming it.
func TestValidatePrintsServeNotifyTracing(t *testing.T) {
	path := writeConfig(t, `[targets.emu]
base_url = "embedded"
[serve]
max_concurrent_runs = 3
admin_token = "${CUBESYNC_TEST_ADMIN_TOKEN}"
[notify.ops]
url = "${CUBESYNC_TEST_HOOK}"
[notify.audit]
url = "https://audit.example.com/cubesync"
on = ["success", "failure", "missed"]
[defaults]
notify = ["ops"]
[jobs.a]
target = "emu"
dataset = { name = "A" }
[[jobs.a.tables]]
name = "stores"
policy = "replace"
parquet = "stores.parquet"
[jobs.b]
notify = ["ops", "audit"]
target = "emu"
dataset = { name = "B" }
[[jobs.b.tables]]
name = "stores"
policy = "replace"
parquet = "stores.parquet"
`)
	vars := map[string]string{
		"CUBESYNC_TEST_ADMIN_TOKEN":   "tok-s3cret-0123456789",
		"CUBESYNC_TEST_HOOK":          "https://hooks.example.com/hook-s3cret",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "https://user:otel-s3cret@collector.example.com:4318",
	}
	stdout, stderr := validateWant(t, 0, vars, "--config", path)
	for _, want := range []string{
		"\nserve: at most 3 runs at once per process (max_concurrent_runs); admin API on (POST /api/jobs/NAME/run|pause|resume with admin_token)\n",
		"\nnotify: audit (on success, failure, missed); ops (on failure, recovery)\n",
		"\ntracing: OTLP http/protobuf to https://collector.example.com:4318 (OTEL_EXPORTER_OTLP_* variables)\n",
		"parquet " + filepath.Join(filepath.Dir(path), "stores.parquet") + "\n  notify    ops\n",
		"  notify    ops, audit\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("validate output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout+stderr, "s3cret") {
		t.Errorf("validate printed a secret (the admin token, a webhook URL or the endpoint's password):\n%s%s", stdout, stderr)
	}

	if strings.Contains(stderr, "warning: notify") {
		t.Errorf("validate warns about a notifier although every one is named by a job:\n%s", stderr)
	}

	// A notifier no job names is a warning, not a problem.
	unused := strings.Replace(readFile(t, path), `notify = ["ops", "audit"]`, `notify = ["ops"]`, 1)
	code, _, stderr := runValidateCmd(t, vars, "--config", writeConfig(t, unused))
	if want := `warning: notify.audit: no job names it, so it is never sent anything (add notify = ["audit"] to a job or to [defaults])` + "\n"; code != 0 || !strings.Contains(stderr, want) {
		t.Errorf("validate with notifier audit named by no job: exit %d, stderr %q; want 0 and %q", code, stderr, want)
	}

	vars["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/json"
	code, stdout, stderr = runValidateCmd(t, vars, "--config", path)
	if want := "cubesync validate: OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\": not supported (want http/protobuf, the default, or grpc)\n"; code != 2 || stdout != "" || stderr != want {
		t.Errorf("validate with OTEL_EXPORTER_OTLP_PROTOCOL=http/json: exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, want)
	}
}

// TestValidateReportsOperatingKeyProblems: every key of spreading work, full refreshes,
// lookback, notifications and the admin API is checked by validate, each problem on its
// file and line.
func TestValidateReportsOperatingKeyProblems(t *testing.T) {
	path := writeConfig(t, `[targets.emu]
base_url = "embedded"
[sources.wh]
type = "postgres"
dsn = "postgres://etl@db/warehouse"
[serve]
max_concurrent_runs = 0
admin_token = "${CUBESYNC_TEST_SHORT_TOKEN}"
[notify.ops]
url = "ftp://hooks.example.com/x"
on = ["failure", "sucess"]
[defaults]
jitter = "-5m"
notify = ["opps"]
[jobs.a]
full_refresh = "0 3 * * 0"
jitter = "10m"
notify = ["ops", "audit"]
target = "emu"
dataset = { name = "A" }
[[jobs.a.tables]]
name = "orders"
policy = "add"
source = "wh"
query = "SELECT * FROM orders WHERE updated_at > $1"
incremental = { column = "updated_at", initial = "2024-01-01", lookback = "10m" }
[[jobs.a.tables]]
name = "events"
policy = "upsert"
key = ["id"]
source = "wh"
query = "SELECT * FROM events WHERE id > $1"
incremental = { column = "id", initial = 0, lookback = "1h" }
[jobs.b]
schedule = "0 2 * * *"
full_refresh = "sundays"
target = "emu"
dataset = { name = "B" }
[[jobs.b.tables]]
name = "stores"
policy = "replace"
parquet = "stores.parquet"
`)
	code, stdout, stderr := runValidateCmd(t, map[string]string{"CUBESYNC_TEST_SHORT_TOKEN": "short-s3cret"}, "--config", path)
	if code != 2 || stdout != "" {
		t.Errorf("validate of a bad file: exit %d, stdout %q; want 2 and nothing on stdout", code, stdout)
	}
	want := []string{
		`:7: serve.max_concurrent_runs: must be between 1 and 10000 (got 0): it is how many runs one serve process starts at once`,
		`:8: serve.admin_token: is 12 characters long, want at least 16 (generate one with: openssl rand -hex 32), best from the environment: admin_token = "${CUBESYNC_ADMIN_TOKEN}"`,
		`:10: notify.ops.url: want the webhook's http(s) URL, best from the environment: url = "${OPS_WEBHOOK_URL}"`,
		`:11: notify.ops.on[1]: unknown event "sucess" (want failure, recovery, success or missed)`,
		`:13: defaults.jitter: must not be negative (got "-5m0s")`,
		`:14: defaults.notify[0]: unknown notifier "opps" (defined: ops)`,
		`:16: jobs.a.full_refresh: the job has no schedule: full_refresh adds full-refresh slots to a scheduled job (for a one-off, use run-job --full-refresh)`,
		`:17: jobs.a.jitter: the job has no schedule: jitter delays scheduled slots (add a schedule, or remove jitter)`,
		`:18: jobs.a.notify[1]: unknown notifier "audit" (defined: ops)`,
		`:26: jobs.a.tables[0].incremental.lookback: cannot be used with policy "add": the rows in the lookback window are read again and would be added twice; use policy "upsert" (or "update") with a key`,
		`:33: jobs.a.tables[1].incremental.lookback: needs a timestamp or date column: initial 0 is an integer, and a duration cannot move an integer watermark back (remove lookback)`,
		`:36: jobs.b.full_refresh: bad cron spec "sundays": expected 5 to 6 fields, found 1: [sundays] (want a cron spec such as "0 3 * * 0": its slots run as full refreshes)`,
	}
	var b strings.Builder
	for _, w := range want {
		b.WriteString(path + w + "\n")
	}
	fmt.Fprintf(&b, "cubesync validate: %s: %d problems\n", path, len(want))
	if stderr != b.String() {
		t.Errorf("validate stderr:\n%s\nwant:\n%s", stderr, b.String())
	}
	if strings.Contains(stderr, "s3cret") {
		t.Errorf("validate printed the admin token")
	}
}

// TestReadmeKubernetesJobsFile: the jobs.toml of the README's Kubernetes ConfigMap loads,
// with one job added where it says, and sets what the Deployment's text promises.
func TestReadmeKubernetesJobsFile(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "\n  jobs.toml: |\n")
	block, _, ok2 := strings.Cut(block, "\n---\n")
	if !ok || !ok2 {
		t.Fatal("README has no ConfigMap with a jobs.toml followed by ---")
	}
	var b strings.Builder
	for _, line := range strings.Split(block, "\n") {
		b.WriteString(strings.TrimPrefix(line, "    ") + "\n")
	}
	b.WriteString(`
[jobs.sales]
schedule = "30 2 * * *"
target = "mstr"
dataset = { name = "Sales" }
[[jobs.sales.tables]]
name = "stores"
policy = "replace"
parquet = "stores.parquet"
`)
	vars := map[string]string{"CUBESYNC_STATE_DSN": "postgres://cubesync@postgres/cubesync", "CUBESYNC_ADMIN_TOKEN": "0123456789abcdef0123456789abcdef",
		"OPS_WEBHOOK_URL": "https://hooks.example.com/x", "MSTR_PASSWORD": "pw"}
	cfg, err := jobs.Parse(strings.NewReader(b.String()), "jobs.toml", func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatalf("the README's Kubernetes jobs.toml does not load: %v\n%s", err, b.String())
	}
	sales := cfg.Jobs["sales"]
	if cfg.Serve.MaxConcurrentRuns != 2 || cfg.Serve.AdminToken == "" || cfg.State.DatabaseURL == "" || sales.Jitter == 0 || len(sales.Notify) != 1 {
		t.Errorf("README's Kubernetes jobs.toml: max_concurrent_runs %d, admin token %t, Postgres state %t, sales jitter %s, notifiers %d; want 2, an admin token, Postgres state, a jitter and the ops notifier",
			cfg.Serve.MaxConcurrentRuns, cfg.Serve.AdminToken != "", cfg.State.DatabaseURL != "", sales.Jitter, len(sales.Notify))
	}
}
