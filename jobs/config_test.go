package jobs

// Tests of loading jobs.toml, one cohesive thing kept in one file: every problem the
// validator reports (table-driven, with the line of each key), variables, sizes, defaults,
// the shipped jobs.toml and its examples, and the key-line scanner (config_lines.go).

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/cubesync/cubesync/sink"
)

// noEnv is an environment where no variable is set.
func noEnv(string) (string, bool) { return "", false }

// envOf is an environment holding exactly vars.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// mustParse parses src and fails the test on any problem.
func mustParse(t testing.TB, src string, getenv func(string) (string, bool)) *Config {
	t.Helper()
	cfg, err := Parse(strings.NewReader(src), "jobs.toml", getenv)
	if err != nil {
		t.Fatalf("Parse: unexpected error:\n%v", err)
	}
	return cfg
}

// problems parses src and returns the lines a user would see; the config must be bad.
func problems(t testing.TB, src string, getenv func(string) (string, bool)) []string {
	t.Helper()
	_, err := Parse(strings.NewReader(src), "jobs.toml", getenv)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Parse: got error %v, want a *ConfigError", err)
	}
	if got := strings.Join(ce.Messages(), "\n"); got != ce.Error() {
		t.Errorf("Error() = %q, want the messages joined by newlines %q", ce.Error(), got)
	}
	return ce.Messages()
}

// prelude defines a target "emu" and a source "wh" in lines 1-5, so cases start at line 6.
const prelude = `[targets.emu]
base_url = "embedded"
[sources.wh]
type = "postgres"
dsn = "postgres://etl:hunter2@db/wh"
`

func TestParseProblems(t *testing.T) {
	long := strings.Repeat("x", 251)
	tests := []struct {
		name string
		src  string // appended to prelude: its first line is line 6
		env  map[string]string
		want []string
	}{
		{
			name: "unknown key with a near miss",
			src: `[jobs.a]
target = "emu"
dataset = { name = "A" }
[[jobs.a.tables]]
name = "t"
polcy = "replace"
parquet = "x.parquet"
`,
			want: []string{
				`jobs.toml:9: jobs.a.tables[0].policy: missing (want add, update, upsert or replace)`,
				`jobs.toml:11: jobs.a.tables[0].polcy: unknown key (did you mean policy?)`,
			},
		},
		{
			name: "unknown key without a near miss lists the allowed keys",
			src: `[serve]
port = 9746
`,
			want: []string{`jobs.toml:7: serve.port: unknown key (allowed here: listen, shutdown_grace, max_concurrent_runs, admin_token)`},
		},
		{
			name: "unknown section",
			src: `[job.a]
target = "emu"
`,
			want: []string{`jobs.toml:6: job: unknown key (did you mean jobs?)`},
		},
		{
			name: "wrong case is an unknown key",
			src: `[defaults]
Timeout = "1h"
`,
			want: []string{`jobs.toml:7: defaults.Timeout: unknown key (did you mean timeout?)`},
		},
		{
			name: "wrong type",
			src: `[defaults]
timeout = 90
overlap = true
retry = 3
`,
			want: []string{
				`jobs.toml:7: defaults.timeout: want a duration such as "90s", "15m" or "2h" (got an integer 90)`,
				`jobs.toml:8: defaults.overlap: want a string (got a boolean true)`,
				`jobs.toml:9: defaults.retry: want a table (got an integer 3)`,
			},
		},
		{
			name: "operating keys",
			src: `[serve]
max_concurrent_runs = 0
admin_token = "short"
[defaults]
jitter = "-1m"
[jobs.a]
full_refresh = "0 3 * * 0"
target = "emu"
dataset = { name = "A" }
[[jobs.a.tables]]
name = "t"
policy = "add"
source = "wh"
query = "SELECT * FROM t WHERE u > $1"
incremental = { column = "u", initial = "2024-01-01", lookback = "10m" }
[jobs.b]
schedule = "0 2 * * *"
full_refresh = "sundays"
target = "emu"
dataset = { name = "B" }
[[jobs.b.tables]]
name = "t"
policy = "upsert"
key = ["k"]
source = "wh"
query = "SELECT * FROM t WHERE u > $1"
incremental = { column = "u", initial = "2024-01-01", lookback = "soon" }
`,
			want: []string{
				`jobs.toml:7: serve.max_concurrent_runs: must be between 1 and 10000 (got 0): it is how many runs one serve process starts at once`,
				`jobs.toml:8: serve.admin_token: is 5 characters long, want at least 16 (generate one with: openssl rand -hex 32), best from the environment: admin_token = "${CUBESYNC_ADMIN_TOKEN}"`,
				`jobs.toml:10: defaults.jitter: must not be negative (got "-1m0s")`,
				`jobs.toml:12: jobs.a.full_refresh: the job has no schedule: full_refresh adds full-refresh slots to a scheduled job (for a one-off, use run-job --full-refresh)`,
				`jobs.toml:20: jobs.a.tables[0].incremental.lookback: cannot be used with policy "add": the rows in the lookback window are read again and would be added twice; use policy "upsert" (or "update") with a key`,
				`jobs.toml:23: jobs.b.full_refresh: bad cron spec "sundays": expected 5 to 6 fields, found 1: [sundays] (want a cron spec such as "0 3 * * 0": its slots run as full refreshes)`,
				`jobs.toml:32: jobs.b.tables[0].incremental.lookback: invalid duration "soon" (want a duration such as "90s", "15m" or "2h")`,
			},
		},
		{
			name: "lookback and jitter where they cannot apply",
			src: `[jobs.a]
jitter = "5m"
target = "emu"
dataset = { name = "A" }
[[jobs.a.tables]]
name = "t"
policy = "upsert"
key = ["k"]
source = "wh"
query = "SELECT * FROM t WHERE id > $1"
incremental = { column = "id", initial = 0, lookback = "10m" }
[[jobs.a.tables]]
name = "p"
policy = "upsert"
key = ["k"]
parquet = "p.parquet"
incremental = { files = "new", lookback = "10m" }
`,
			want: []string{
				`jobs.toml:7: jobs.a.jitter: the job has no schedule: jitter delays scheduled slots (add a schedule, or remove jitter)`,
				`jobs.toml:16: jobs.a.tables[0].incremental.lookback: needs a timestamp or date column: initial 0 is an integer, and a duration cannot move an integer watermark back (remove lookback)`,
				`jobs.toml:22: jobs.a.tables[1].incremental.lookback: is for query tables: a parquet table loads whole new files, so there is no window to read again (remove lookback)`,
			},
		},
		{
			name: "notifiers",
			src: `[notify.ops]
url = "ftp://example.com/hook"
on = ["failure", "sucess"]
[notify.team]
[defaults]
notify = ["ops", "opps"]
`,
			want: []string{
				`jobs.toml:7: notify.ops.url: want the webhook's http(s) URL, best from the environment: url = "${OPS_WEBHOOK_URL}"`,
				`jobs.toml:8: notify.ops.on[1]: unknown event "sucess" (want failure, recovery, success or missed)`,
				`jobs.toml:9: notify.team.url: missing (want the webhook's URL, best from the environment: url = "${OPS_WEBHOOK_URL}")`,
				`jobs.toml:11: defaults.notify[1]: unknown notifier "opps" (defined: ops, team)`,
			},
		},
		{
			name: "bad durations",
			src: `[defaults]
timeout = "2 hours"
catchup_window = "-1h"
[serve]
shutdown_grace = "25"
`,
			want: []string{
				`jobs.toml:7: defaults.timeout: invalid duration "2 hours" (want a duration such as "90s", "15m" or "2h")`,
				`jobs.toml:8: defaults.catchup_window: must not be negative (got "-1h0m0s")`,
				`jobs.toml:10: serve.shutdown_grace: invalid duration "25" (want a duration such as "90s", "15m" or "2h")`,
			},
		},
		{
			name: "bad sizes",
			src: `[defaults]
chunk_size = "100M"
[jobs.a]
chunk_size = "2GB"
[jobs.b]
chunk_size = "512B"
`,
			want: []string{
				`jobs.toml:7: defaults.chunk_size: invalid size "100M" (want a number and a unit: KB, MB, GB (1000-based), KiB, MiB, GiB (1024-based) or B, e.g. "100MB")`,
				`jobs.toml:8: jobs.a.target: missing (want the name of a target: defined: emu)`,
				`jobs.toml:8: jobs.a.dataset: missing (want a table such as dataset = { name = "Sales" })`,
				`jobs.toml:8: jobs.a.tables: missing (want at least one [[jobs.a.tables]])`,
				`jobs.toml:9: jobs.a.chunk_size: must be between 1KB and 1GB (got 2GB)`,
				`jobs.toml:10: jobs.b.target: missing (want the name of a target: defined: emu)`,
				`jobs.toml:10: jobs.b.dataset: missing (want a table such as dataset = { name = "Sales" })`,
				`jobs.toml:10: jobs.b.tables: missing (want at least one [[jobs.b.tables]])`,
				`jobs.toml:11: jobs.b.chunk_size: must be between 1KB and 1GB (got 512B)`,
			},
		},
		{
			name: "bad parallel reads",
			src: `[jobs.a]
target = "emu"
dataset = { name = "A" }
[[jobs.a.tables]]
name = "files"
policy = "replace"
parquet = "x.parquet"
parallel = 2
[[jobs.a.tables]]
name = "big"
policy = "replace"
source = "wh"
query = "SELECT * FROM big"
parallel = 65
[[jobs.a.tables]]
name = "by"
policy = "replace"
source = "wh"
query = "SELECT * FROM by"
parallel_column = "id"
`,
			want: []string{
				`jobs.toml:13: jobs.a.tables[0].parallel: is for query tables (parquet files are always read several row groups at a time)`,
				`jobs.toml:19: jobs.a.tables[1].parallel: want 1 to 64 connections (got 65)`,
				`jobs.toml:25: jobs.a.tables[2].parallel_column: splits a read over several connections, but parallel is not set: add parallel = 4 (say)`,
			},
		},
		{
			name: "bad policy in the second table",
			src: `[jobs.sales]
target = "emu"
dataset = { name = "Sales" }
[[jobs.sales.tables]]
name = "stores"
policy = "replace"
parquet = "stores.parquet"
[[jobs.sales.tables]]
name = "orders"
policy = "upsrt"
parquet = "orders/"
`,
			want: []string{`jobs.toml:15: jobs.sales.tables[1].policy: unknown policy "upsrt" (want add, update, upsert or replace)`},
		},
		{
			name: "bad enumerations",
			src: `[targets.m]
base_url = "https://mstr.example.com/MicroStrategyLibrary/"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "u"
password = "p"
login_mode = "saml"
[defaults]
overlap = "queue"
[jobs.a]
target = "emu"
dataset = { name = "A" }
[[jobs.a.tables]]
name = "t"
policy = "replace"
parquet = "t.parquet"
columns.amount = { role = "measure", type = "TEXT" }
`,
			want: []string{
				`jobs.toml:11: targets.m.login_mode: unknown login_mode "saml" (want standard, ldap or api_token)`,
				`jobs.toml:13: defaults.overlap: unknown overlap "queue" (want skip or wait)`,
				`jobs.toml:21: jobs.a.tables[0].columns.amount.role: table "t": unknown role "measure" (want attribute or metric)`,
				`jobs.toml:21: jobs.a.tables[0].columns.amount.type: table "t": unknown dataType "TEXT" (want one of STRING, INTEGER, BIGINTEGER, BOOL, DOUBLE, BIGDECIMAL, DATE, TIME, DATETIME)`,
			},
		},
		{
			name: "bad cron specs",
			src: `[jobs.a]
schedule = "30 2 * *"
target = "emu"
dataset = { name = "A" }
tables = [{ name = "t", policy = "replace", parquet = "t.parquet" }]
[jobs.b]
schedule = "CRON_TZ=Europe/Berln 30 2 * * *"
target = "emu"
dataset = { name = "B" }
tables = [{ name = "t", policy = "replace", parquet = "t.parquet" }]
`,
			want: []string{
				`jobs.toml:7: jobs.a.schedule: bad cron spec "30 2 * *": expected 5 to 6 fields, found 4: [30 2 * *] (want 5 fields "m h dom mon dow", 6 with seconds first, @daily/@hourly/@every 1h, optionally after CRON_TZ=Area/City)`,
				`jobs.toml:12: jobs.b.schedule: bad cron spec "CRON_TZ=Europe/Berln 30 2 * * *": provided bad location Europe/Berln: unknown time zone Europe/Berln (want 5 fields "m h dom mon dow", 6 with seconds first, @daily/@hourly/@every 1h, optionally after CRON_TZ=Area/City)`,
			},
		},
		{
			name: "both, neither, and a query without source",
			src: `[jobs.a]
target = "emu"
dataset = { name = "A" }
[[jobs.a.tables]]
name = "both"
policy = "replace"
query = "SELECT 1"
source = "wh"
parquet = "x.parquet"
[[jobs.a.tables]]
name = "neither"
policy = "replace"
[[jobs.a.tables]]
name = "nosource"
policy = "replace"
query = "SELECT 1"
`,
			want: []string{
				`jobs.toml:9: jobs.a.tables[0]: has both query and parquet: a table reads either a query (with source) or parquet files`,
				`jobs.toml:15: jobs.a.tables[1]: has neither query nor parquet: a table reads a query (with source = "name") or parquet files (parquet = "path")`,
				`jobs.toml:18: jobs.a.tables[2].source: missing (want the name of the source the query runs on: defined: wh)`,
			},
		},
		{
			name: "unknown target and source name the defined ones",
			src: `[jobs.a]
target = "mstr"
dataset = { name = "A" }
[[jobs.a.tables]]
name = "t"
policy = "replace"
source = "warehouse"
query = "SELECT 1"
`,
			want: []string{
				`jobs.toml:7: jobs.a.target: unknown target "mstr" (defined: emu)`,
				`jobs.toml:12: jobs.a.tables[0].source: unknown source "warehouse" (defined: wh)`,
			},
		},
		{
			name: "a job without tables",
			src: `[jobs.a]
target = "emu"
dataset = { name = "A" }
tables = []
`,
			want: []string{`jobs.toml:9: jobs.a.tables: a job needs at least one table`},
		},
		{
			name: "duplicate table names",
			src: `[jobs.a]
target = "emu"
dataset = { name = "A" }
[[jobs.a.tables]]
name = "t"
policy = "replace"
parquet = "a.parquet"
[[jobs.a.tables]]
name = "t"
policy = "add"
parquet = "b.parquet"
`,
			want: []string{`jobs.toml:14: jobs.a.tables[1].name: duplicate table name "t" (also tables[0]); table names are unique within a dataset`},
		},
		{
			name: "update without key, and key in exclude",
			src: `[jobs.a]
target = "emu"
dataset = { name = "A" }
[[jobs.a.tables]]
name = "t"
policy = "update"
parquet = "a.parquet"
[[jobs.a.tables]]
name = "u"
policy = "upsert"
parquet = "b.parquet"
key = ["id", "day"]
exclude = ["note", "day"]
[[jobs.a.tables]]
name = "v"
policy = "upsert"
parquet = "c.parquet"
key = []
`,
			want: []string{
				`jobs.toml:9: jobs.a.tables[0].key: table "t": missing (want the columns rows are matched on, e.g. key = ["order_id"]: policy "update" updates rows by key; or use policy = "replace")`,
				`jobs.toml:18: jobs.a.tables[1].exclude[1]: table "u": column "day" is in key, and key columns must be pushed: remove it from exclude or from key`,
				`jobs.toml:23: jobs.a.tables[2].key: table "v": is empty: policy "upsert" matches rows on the key columns, so name them (key = ["order_id"]), or use policy = "replace"`,
			},
		},
		{
			name: "incremental mistakes",
			src: `[jobs.a]
target = "emu"
dataset = { name = "A" }
[[jobs.a.tables]]
name = "replace_inc"
policy = "replace"
source = "wh"
query = "SELECT * FROM t WHERE ts > $1"
incremental = { column = "ts", initial = "2024-01-01" }
[[jobs.a.tables]]
name = "no_column"
policy = "add"
source = "wh"
query = "SELECT * FROM t WHERE ts > $1"
incremental = { initial = "2024-01-01" }
[[jobs.a.tables]]
name = "files_on_query"
policy = "add"
source = "wh"
query = "SELECT * FROM t"
incremental = { files = "new" }
[[jobs.a.tables]]
name = "column_on_parquet"
policy = "add"
parquet = "p/"
incremental = { column = "ts", initial = "2024-01-01" }
[[jobs.a.tables]]
name = "no_param"
policy = "add"
source = "wh"
query = "SELECT * FROM t WHERE id > $10"
incremental = { column = "id", initial = "yesterday" }
[[jobs.a.tables]]
name = "param_without_incremental"
policy = "add"
source = "wh"
query = "SELECT * FROM t WHERE id > $1"
`,
			want: []string{
				`jobs.toml:14: jobs.a.tables[0].incremental: an incremental table cannot use policy "replace": replace empties the table and the run would push only the new rows; use add, update or upsert`,
				`jobs.toml:20: jobs.a.tables[1].incremental.column: missing (want the column whose greatest value among pushed rows is passed as $1 to the next run)`,
				`jobs.toml:26: jobs.a.tables[2].incremental.files: files = "new" is for parquet tables; a query table is incremental by column: incremental = { column = "updated_at", initial = "..." }`,
				`jobs.toml:26: jobs.a.tables[2].incremental.column: missing (want the column whose greatest value among pushed rows is passed as $1 to the next run)`,
				`jobs.toml:26: jobs.a.tables[2].incremental.initial: missing (want the $1 of the first run, e.g. "1970-01-01T00:00:00Z" or 0 to load everything)`,
				`jobs.toml:31: jobs.a.tables[3].incremental: a parquet table is incremental by files: incremental = { files = "new" } (column and initial are for query tables)`,
				`jobs.toml:36: jobs.a.tables[4].query: does not use $1: an incremental query must filter on the watermark, e.g. WHERE id > $1`,
				`jobs.toml:37: jobs.a.tables[4].incremental.initial: invalid initial value "yesterday" (want an integer, a date "2024-01-31" or a timestamp "2024-01-31T00:00:00Z")`,
				`jobs.toml:42: jobs.a.tables[5].query: uses $1, which is the incremental watermark, but the table has no incremental = { column = "...", initial = "..." }`,
			},
		},
		{
			name: "retry and target limits",
			src: `[targets.m]
base_url = "https://mstr.example.com/MicroStrategyLibrary"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "u"
password = "p"
call_retries = -1
request_timeout = "0s"
[defaults]
retry = { attempts = 0, initial_delay = "1m", max_delay = "10s" }
`,
			want: []string{
				`jobs.toml:11: targets.m.call_retries: must be between 0 (no retry) and 100 (got -1)`,
				`jobs.toml:12: targets.m.request_timeout: must be greater than zero (got "0s")`,
				`jobs.toml:14: defaults.retry.attempts: must be between 1 (no retry) and 100 (got 0)`,
				`jobs.toml:14: defaults.retry: max_delay (10s) is shorter than initial_delay (1m0s)`,
			},
		},
		{
			name: "names the server refuses",
			src: `[jobs.a]
target = "emu"
dataset = { name = "Sales [EU]" }
[[jobs.a.tables]]
name = "` + long + `"
policy = "upsert"
parquet = "a.parquet"
key = ["order\\id"]
`,
			want: []string{
				`jobs.toml:8: jobs.a.dataset.name: dataset name "Sales [EU]" contains one of \ " [ ], which the server refuses in names`,
				`jobs.toml:10: jobs.a.tables[0].name: table name is 251 characters long; the server allows at most 250`,
				`jobs.toml:13: jobs.a.tables[0].key[0]: column name "order\\id" contains one of \ " [ ], which the server refuses in names`,
			},
		},
		{
			name: "bad job name and dataset id",
			src: `[jobs."nightly sales"]
target = "emu"
dataset = { name = "A", id = "42" }
tables = [{ name = "t", policy = "replace", parquet = "t.parquet" }]
`,
			want: []string{
				`jobs.toml:6: jobs."nightly sales": bad job name: use at most 100 letters, digits, - and _ (the name is typed on the command line and names state files)`,
				`jobs.toml:8: jobs."nightly sales".dataset.id: want the id of an existing dataset, 32 hex digits, or "" to create it on the first run (got "42")`,
			},
		},
		{
			name: "column overrides that contradict the key rule",
			src: `[jobs.a]
target = "emu"
dataset = { name = "A" }
[[jobs.a.tables]]
name = "t"
policy = "upsert"
parquet = "t.parquet"
key = ["id"]
exclude = ["note"]
columns.note = { type = "STRING" }
columns.id = { role = "metric" }
columns.region = { role = "attribute" }
columns.amount = { role = "metric", type = "DATE" }
columns.qty = {}
`,
			want: []string{
				`jobs.toml:15: jobs.a.tables[0].columns.note: table "t": column "note" is excluded, so it is not pushed: remove the override or the exclude`,
				`jobs.toml:16: jobs.a.tables[0].columns.id.role: table "t": column "id" is in key, and key columns are attributes`,
				`jobs.toml:17: jobs.a.tables[0].columns.region.role: table "t": with policy "upsert" rows are matched on the key's attributes, so every other column must be a metric: add "region" to key, exclude it, or use policy = "replace"`,
				`jobs.toml:18: jobs.a.tables[0].columns.amount: table "t": role = "metric" needs a numeric type (INTEGER, BIGINTEGER, DOUBLE or BIGDECIMAL), not DATE`,
				`jobs.toml:19: jobs.a.tables[0].columns.qty: table "t": sets nothing (want role = "attribute" or "metric", and/or type = a dataType)`,
			},
		},
		{
			name: "bad targets",
			src: `[targets.a]
base_url = "mstr.example.com"
project_id = "proj"
[targets.b]
base_url = "https://etl:hunter2@mstr.example.com/MicroStrategyLibrary"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
login_mode = "api_token"
folder_id = "Shared Reports"
[targets.c]
base_url = "https://mstr.example.com/MicroStrategyLibrary?x=1"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = ""
password = ""
`,
			want: []string{
				`jobs.toml:6: targets.a.username: missing (want the user to log in as)`,
				`jobs.toml:6: targets.a.password: missing (want the user's password, best from the environment: password = "${MSTR_PASSWORD}")`,
				`jobs.toml:7: targets.a.base_url: want "https://host/MicroStrategyLibrary" or "embedded" (got "mstr.example.com")`,
				`jobs.toml:8: targets.a.project_id: want the project's id, 32 hex digits (got "proj")`,
				`jobs.toml:9: targets.b.username: missing (want the API token, best from the environment: username = "${MSTR_API_TOKEN}" (or give it as password))`,
				`jobs.toml:10: targets.b.base_url: credentials do not belong in base_url ("https://etl:xxxxx@mstr.example.com/MicroStrategyLibrary"): set username and password`,
				`jobs.toml:13: targets.b.folder_id: want the folder's id, 32 hex digits, or "" for the server's default (got "Shared Reports")`,
				`jobs.toml:15: targets.c.base_url: "https://mstr.example.com/MicroStrategyLibrary?x=1" has a query or fragment (want "https://host/MicroStrategyLibrary")`,
				`jobs.toml:17: targets.c.username: is empty (want the user to log in as)`,
			},
		},
		{
			name: "missing variables name the variable and its line",
			src: `[targets.m]
base_url = "${MSTR_BASE_URL}"
project_id = "${MSTR_PROJECT_ID:-B7CA92F04B9FAE8D941C3E9B7E0CD754}"
username = "${MSTR_USER}"
password = "${MSTR_PASSWORD}"
call_retries = "${RETRIES:-five}"
[sources.other]
type = "postgres"
dsn = "${OTHER_DSN:-postgres://u:pw@h/db"
`,
			env: map[string]string{"MSTR_USER": "etl"},
			want: []string{
				`jobs.toml:7: targets.m.base_url: environment variable MSTR_BASE_URL is not set (set it, or give a default: ${MSTR_BASE_URL:-default})`,
				`jobs.toml:10: targets.m.password: environment variable MSTR_PASSWORD is not set (set it, or give a default: ${MSTR_PASSWORD:-default})`,
				`jobs.toml:11: targets.m.call_retries: want an integer (got "${RETRIES:-five}" after expanding variables)`,
				`jobs.toml:14: sources.other.dsn: unterminated "${" (want ${VAR} or ${VAR:-default})`,
			},
		},
		{
			name: "secrets of the wrong type are not shown",
			src: `[targets.m]
base_url = "embedded"
password = 123456
[state]
database_url = "mysql://root:hunter2@db/state"
`,
			want: []string{
				`jobs.toml:8: targets.m.password: want a string (got an integer)`,
				`jobs.toml:10: state.database_url: want a Postgres URL ("postgres://user:password@host:5432/db") or key=value connection string, or "" for local state under ./.cubesync`,
			},
		},
		{
			name: "TOML syntax error",
			src: `[jobs.a]
target = "emu
`,
			want: []string{`jobs.toml:7: invalid TOML: strings cannot contain newlines`},
		},
		{
			name: "source and serve mistakes",
			src: `[sources.mysql]
type = "mysql"
dsn = ""
[serve]
listen = "9746"
`,
			want: []string{
				`jobs.toml:7: sources.mysql.type: unknown source type "mysql" (want postgres)`,
				`jobs.toml:8: sources.mysql.dsn: is empty (want a Postgres URL or key=value connection string)`,
				`jobs.toml:10: serve.listen: invalid address "9746" (want host:port such as "127.0.0.1:9746" or ":9746")`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, prelude+tc.src, envOf(tc.env))
			if !slices.Equal(got, tc.want) {
				t.Errorf("Parse problems:\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// A user fixing a config wants every problem at once, in file order.
func TestParseReportsEveryProblemInFileOrder(t *testing.T) {
	src := prelude + `[jobs.b]
target = "nope"
dataset = { name = "B" }
tables = [{ name = "t", policy = "replace", parquet = "t.parquet", exlude = ["x"] }]
[jobs.a]
timeout = "forever"
target = "emu"
dataset = { name = "A" }
tables = [{ name = "t", policy = "sometimes", parquet = "t.parquet" }]
`
	got := problems(t, src, noEnv)
	want := []string{
		`jobs.toml:7: jobs.b.target: unknown target "nope" (defined: emu)`,
		`jobs.toml:9: jobs.b.tables[0].exlude: unknown key (did you mean exclude?)`,
		`jobs.toml:11: jobs.a.timeout: invalid duration "forever" (want a duration such as "90s", "15m" or "2h")`,
		`jobs.toml:14: jobs.a.tables[0].policy: unknown policy "sometimes" (want add, update, upsert or replace)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Parse problems:\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// No problem, whatever it is about, may print a password, a DSN or a state URL.
func TestProblemsNeverShowSecrets(t *testing.T) {
	src := `[state]
database_url = "http://admin:st4te-pw@db/state"
[targets.m]
base_url = "https://u:b4se-pw@mstr.example.com"
project_id = "x"
password = "${NOPE:-pa55-word"
[targets.n]
base_url = "embedded"
password = ["l1st-pw"]
[sources.s]
type = "postgres"
dsn = "${1BAD:-postgres://u:d5n-pw@h/db}"
[sources.t]
type = "oracle"
dsn = { user = "u", password = "t4ble-pw" }
`
	msgs := strings.Join(problems(t, src, noEnv), "\n")
	for _, secret := range []string{"st4te-pw", "b4se-pw", "pa55-word", "l1st-pw", "d5n-pw", "t4ble-pw"} {
		if strings.Contains(msgs, secret) {
			t.Errorf("problems show the secret %q:\n%s", secret, msgs)
		}
	}
	if !strings.Contains(msgs, "sources.s.dsn: bad variable reference") {
		t.Errorf("problems do not report the bad reference in sources.s.dsn:\n%s", msgs)
	}
}

func TestParseExpandsVariables(t *testing.T) {
	src := `[targets.m]
base_url = "${MSTR_URL}"
project_id = "${PROJECT:-B7CA92F04B9FAE8D941C3E9B7E0CD754}"
username = "${USER_EMPTY:-fallback}"
password = "${MSTR_PASSWORD}"
call_retries = "${RETRIES:-7}"
insecure_skip_verify = "${INSECURE:-false}"
[sources.wh]
type = "postgres"
dsn = "host=${PGHOST:-localhost} password=${PGPASSWORD}"
[jobs.a]
schedule = "${SCHEDULE:-0 */5 * * * *}"
target = "m"
dataset = { name = "${DATASET:-Sales} $$ report" }
[[jobs.a.tables]]
name = "orders"
policy = "add"
source = "wh"
query = "SELECT id, $$literal$$ AS x FROM t WHERE id > $1 AND cost > $2"
incremental = { column = "id", initial = "${SINCE:-0}" }
`
	cfg := mustParse(t, src, envOf(map[string]string{
		"MSTR_URL":      "https://mstr.example.com/Library/",
		"USER_EMPTY":    "",
		"MSTR_PASSWORD": `pa"ss\word`, // quotes and backslashes stay as they are
		"PGPASSWORD":    "pg pw",
		"RETRIES":       "2",
	}))
	tg := cfg.Targets["m"]
	if tg.BaseURL != "https://mstr.example.com/Library" {
		t.Errorf("BaseURL = %q, want the variable's value without the trailing slash", tg.BaseURL)
	}
	if tg.ProjectID != "B7CA92F04B9FAE8D941C3E9B7E0CD754" || tg.Username != "fallback" || tg.Password != `pa"ss\word` {
		t.Errorf("target = project %q, user %q, password %q; want the default project, the default user for an empty variable, and the password verbatim", tg.ProjectID, tg.Username, tg.Password)
	}
	if tg.CallRetries != 2 || tg.InsecureSkipVerify {
		t.Errorf("CallRetries = %d, InsecureSkipVerify = %v; want 2 and false from the environment", tg.CallRetries, tg.InsecureSkipVerify)
	}
	if got := cfg.Sources["wh"].DSN; got != "host=localhost password=pg pw" {
		t.Errorf("DSN = %q", got)
	}
	j := cfg.Jobs["a"]
	if j.Schedule != "0 */5 * * * *" || j.ScheduleSpec == nil {
		t.Errorf("Schedule = %q (spec %v), want the default with seconds", j.Schedule, j.ScheduleSpec)
	}
	if j.Dataset.Name != "Sales $$ report" {
		t.Errorf("Dataset.Name = %q, want $$ kept", j.Dataset.Name)
	}
	if q := j.Tables[0].Query; q != "SELECT id, $$literal$$ AS x FROM t WHERE id > $1 AND cost > $2" {
		t.Errorf("Query = %q, want $$ and $1, $2 untouched", q)
	}
}

func TestExpandEnv(t *testing.T) {
	env := envOf(map[string]string{"A": "alpha", "EMPTY": "", "B_2": "two"})
	tests := []struct {
		in, want string
		problem  string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x${A}y${B_2}z", want: "xalphaytwoz"},
		{in: "${EMPTY}", want: ""},
		{in: "${EMPTY:-dflt}", want: "dflt"},
		{in: "${MISSING:-dflt}", want: "dflt"},
		{in: "${MISSING:-}", want: ""},
		{in: "${A:-dflt}", want: "alpha"},
		{in: "${MISSING:-a:-b}", want: "a:-b"},
		{in: "WHERE x > $1 AND y = $$q$$ AND z = $A", want: "WHERE x > $1 AND y = $$q$$ AND z = $A"},
		{in: "cost $ 5 {A}", want: "cost $ 5 {A}"},
		{in: "${MISSING}", want: "", problem: "environment variable MISSING is not set (set it, or give a default: ${MISSING:-default})"},
		{in: "${A", want: "${A", problem: `unterminated "${" (want ${VAR} or ${VAR:-default})`},
		{in: "${A:=x}", want: "", problem: `bad variable reference "${A:=x}" (want ${VAR} or ${VAR:-default}, VAR made of letters, digits and _)`},
		{in: "${}", want: "", problem: `bad variable reference "${}" (want ${VAR} or ${VAR:-default}, VAR made of letters, digits and _)`},
		{in: "${1A}", want: "", problem: `bad variable reference "${1A}" (want ${VAR} or ${VAR:-default}, VAR made of letters, digits and _)`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, probs, unset := expandEnv(tc.in, env, false)
			if got != tc.want {
				t.Errorf("expandEnv(%q) = %q, want %q", tc.in, got, tc.want)
			}
			for _, name := range unset {
				probs = append(probs, unsetMessage(name))
			}
			var want []string
			if tc.problem != "" {
				want = []string{tc.problem}
			}
			if !slices.Equal(probs, want) {
				t.Errorf("expandEnv(%q) problems = %q, want %q", tc.in, probs, want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{in: "100MB", want: 100_000_000},
		{in: "16MiB", want: 16 << 20},
		{in: "1KB", want: 1000},
		{in: "1KiB", want: 1024},
		{in: "2GB", want: 2_000_000_000},
		{in: "1GiB", want: 1 << 30},
		{in: "1.5GB", want: 1_500_000_000},
		{in: " 64 mib ", want: 64 << 20},
		{in: "500B", want: 500},
		{in: "12345", want: 12345},
		{in: "0", want: 0},
		{in: "100M", err: `invalid size "100M" (want a number and a unit: KB, MB, GB (1000-based), KiB, MiB, GiB (1024-based) or B, e.g. "100MB")`},
		{in: "MB", err: `invalid size "MB" (want a number and a unit: KB, MB, GB (1000-based), KiB, MiB, GiB (1024-based) or B, e.g. "100MB")`},
		{in: "-1MB", err: `invalid size "-1MB" (want a number and a unit: KB, MB, GB (1000-based), KiB, MiB, GiB (1024-based) or B, e.g. "100MB")`},
		{in: "", err: `invalid size "" (want a number and a unit: KB, MB, GB (1000-based), KiB, MiB, GiB (1024-based) or B, e.g. "100MB")`},
		{in: "1.5B", err: `invalid size "1.5B": not a whole number of bytes`},
		{in: "99999999999GiB", err: `invalid size "99999999999GiB": too large`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("ParseSize(%q) = %d, %v; want error %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestDefaultsInheritance(t *testing.T) {
	src := prelude + `[defaults]
chunk_size = "16MiB"
overlap = "wait"
retry = { attempts = 5, max_delay = "1h" }
[jobs.builtin]
target = "emu"
dataset = { name = "A" }
tables = [{ name = "t", policy = "replace", parquet = "t.parquet" }]
[jobs.own]
target = "emu"
dataset = { name = "B" }
timeout = "90m"
chunk_size = 50000000
catchup_window = "0s"
tables = [{ name = "t", policy = "replace", parquet = "t.parquet" }]
[jobs.own.retry]
initial_delay = "5s"
`
	cfg := mustParse(t, src, noEnv)
	wantDefaults := JobSettings{
		ChunkSize:     16 << 20,
		Timeout:       2 * time.Hour,
		Overlap:       OverlapWait,
		CatchupWindow: 6 * time.Hour,
		Retry:         Retry{Attempts: 5, InitialDelay: 30 * time.Second, MaxDelay: time.Hour},
	}
	if cfg.Defaults != wantDefaults {
		t.Errorf("Defaults = %+v, want built-ins overridden by [defaults] %+v", cfg.Defaults, wantDefaults)
	}
	if got := cfg.Jobs["builtin"].JobSettings; got != wantDefaults {
		t.Errorf("job without overrides = %+v, want [defaults] %+v", got, wantDefaults)
	}
	wantOwn := JobSettings{
		ChunkSize:     50_000_000,
		Timeout:       90 * time.Minute,
		Overlap:       OverlapWait,
		CatchupWindow: 0,
		Retry:         Retry{Attempts: 5, InitialDelay: 5 * time.Second, MaxDelay: time.Hour},
	}
	if got := cfg.Jobs["own"].JobSettings; got != wantOwn {
		t.Errorf("job with overrides = %+v, want %+v (retry merged key by key)", got, wantOwn)
	}
}

func TestBuiltinDefaults(t *testing.T) {
	cfg := mustParse(t, prelude+`[jobs.a]
target = "emu"
dataset = { name = "A" }
tables = [{ name = "t", policy = "replace", parquet = "t.parquet" }]
[targets.real]
base_url = "https://mstr.example.com/MicroStrategyLibrary"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "u"
password = "p"
[targets.token]
base_url = "https://mstr.example.com/MicroStrategyLibrary"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
login_mode = "api_token"
password = "${CUBESYNC_TEST_TOKEN:-t0ken}"
`, noEnv)
	if tok := cfg.Targets["token"]; tok.LoginMode != LoginAPIToken || tok.Password != "t0ken" || tok.Username != "" {
		t.Errorf("api_token target = %+v, want the token in Password and no username required", tok)
	}
	want := JobSettings{ChunkSize: 100_000_000, Timeout: 2 * time.Hour, Overlap: "skip", CatchupWindow: 6 * time.Hour,
		Retry: Retry{Attempts: 3, InitialDelay: 30 * time.Second, MaxDelay: 10 * time.Minute}}
	if got := cfg.Jobs["a"].JobSettings; got != want {
		t.Errorf("JobSettings = %+v, want the built-in defaults %+v", got, want)
	}
	if cfg.Serve != (Serve{Listen: "127.0.0.1:9746", ShutdownGrace: 25 * time.Second, MaxConcurrentRuns: runtime.NumCPU()}) {
		t.Errorf("Serve = %+v, want 127.0.0.1:9746, 25s and max_concurrent_runs = the CPUs (%d)", cfg.Serve, runtime.NumCPU())
	}
	if cfg.State.DatabaseURL != "" {
		t.Errorf("State.DatabaseURL = %q, want local state", cfg.State.DatabaseURL)
	}
	tg := cfg.Targets["real"]
	if tg.LoginMode != "standard" || tg.RequestTimeout != 5*time.Minute || tg.CallRetries != 5 || tg.CallBackoff != time.Second || tg.Embedded() {
		t.Errorf("target defaults = %+v, want standard login, 5m, 5 retries, 1s backoff, not embedded", tg)
	}
	if !cfg.Targets["emu"].Embedded() {
		t.Errorf(`target with base_url = "embedded": Embedded() = false`)
	}
	if j := cfg.Jobs["a"]; j.Schedule != "" || j.ScheduleSpec != nil {
		t.Errorf("job without schedule: Schedule %q, ScheduleSpec %v; want none", j.Schedule, j.ScheduleSpec)
	}
}

func TestParseFullJob(t *testing.T) {
	src := prelude + `[jobs.sales]
description = "Nightly upsert"
schedule = "CRON_TZ=Europe/Berlin 30 2 * * *"
target = "emu"
dataset = { name = "Sales", id = "0123456789abcdef0123456789ABCDEF" }
[[jobs.sales.tables]]
name = "orders"
policy = "upsert"
source = "wh"
query = """
  SELECT order_id, store, amount, qty, updated_at
  FROM sales.orders
  WHERE updated_at > $1"""
key = ["order_id", "store"]
exclude = ["updated_at"]
incremental = { column = "updated_at", initial = 2024-01-01T00:00:00Z }
columns.qty = { type = "biginteger" }
columns.store = { role = "attribute" }
[[jobs.sales.tables]]
name = "stores"
policy = "add"
parquet = "exports/stores/*.parquet"
incremental = { files = "new" }
allow_empty = true
`
	cfg, err := Parse(strings.NewReader(src), filepath.Join("conf", "jobs.toml"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	j := cfg.Jobs["sales"]
	if j.Target != cfg.Targets["emu"] || j.Description != "Nightly upsert" || j.Dataset != (Dataset{Name: "Sales", ID: "0123456789abcdef0123456789ABCDEF"}) {
		t.Errorf("job = target %v, description %q, dataset %+v", j.Target, j.Description, j.Dataset)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	from := time.Date(2024, 3, 30, 12, 0, 0, 0, time.UTC)
	if got, want := j.ScheduleSpec.Next(from), time.Date(2024, 3, 31, 2, 30, 0, 0, berlin); !got.Equal(want) && !got.Equal(time.Date(2024, 4, 1, 2, 30, 0, 0, berlin)) {
		t.Errorf("ScheduleSpec.Next(%v) = %v, want 02:30 Berlin time", from, got)
	}
	orders, stores := j.Tables[0], j.Tables[1]
	if orders.Source != cfg.Sources["wh"] || !strings.HasPrefix(orders.Query, "  SELECT order_id") || orders.Policy != sink.Upsert {
		t.Errorf("orders = source %v, policy %q, query %q", orders.Source, orders.Policy, orders.Query)
	}
	if *orders.Incremental != (Incremental{Column: "updated_at", Initial: "2024-01-01T00:00:00Z"}) {
		t.Errorf("orders.Incremental = %+v, want the TOML datetime as RFC 3339 text", *orders.Incremental)
	}
	if orders.Columns["qty"] != (ColumnOverride{Type: sink.BigInteger}) || orders.Columns["store"] != (ColumnOverride{Role: "attribute"}) {
		t.Errorf("orders.Columns = %+v", orders.Columns)
	}
	if stores.Source != nil || stores.Parquet != filepath.Join("conf", "exports", "stores", "*.parquet") {
		t.Errorf("stores = source %v, parquet %q; want no source and the glob resolved against conf/", stores.Source, stores.Parquet)
	}
	if !stores.Incremental.NewFiles || !stores.AllowEmpty {
		t.Errorf("stores = incremental %+v, allow_empty %v", stores.Incremental, stores.AllowEmpty)
	}
	if cfg.Dir != "conf" || cfg.File != filepath.Join("conf", "jobs.toml") {
		t.Errorf("File, Dir = %q, %q", cfg.File, cfg.Dir)
	}
}

func TestLoadResolvesPathsAgainstTheConfigDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "etc", "jobs.toml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	src := `[targets.m]
base_url = "https://mstr.example.com/MicroStrategyLibrary"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "u"
password = "p"
tls_ca_file = "certs/ca.pem"
[jobs.a]
target = "m"
dataset = { name = "A" }
[[jobs.a.tables]]
name = "rel"
policy = "replace"
parquet = "../data/rel.parquet"
[[jobs.a.tables]]
name = "abs"
policy = "replace"
parquet = "/srv/abs.parquet"
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Targets["m"].TLSCAFile, filepath.Join(dir, "etc", "certs", "ca.pem"); got != want {
		t.Errorf("TLSCAFile = %q, want %q", got, want)
	}
	tables := cfg.Jobs["a"].Tables
	if got, want := tables[0].Parquet, filepath.Join(dir, "data", "rel.parquet"); got != want {
		t.Errorf("relative parquet = %q, want %q", got, want)
	}
	if tables[1].Parquet != "/srv/abs.parquet" {
		t.Errorf("absolute parquet = %q, want it unchanged", tables[1].Parquet)
	}
	if cfg.File != path || cfg.Dir != filepath.Join(dir, "etc") {
		t.Errorf("File, Dir = %q, %q", cfg.File, cfg.Dir)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.toml")
	_, err := Load(path, noEnv)
	if err == nil || !strings.Contains(err.Error(), path+" does not exist (pass --config or set CUBESYNC_CONFIG)") {
		t.Errorf("Load(missing) = %v, want an error naming the file and how to point at another", err)
	}
}

func TestJobNamesSorted(t *testing.T) {
	cfg := mustParse(t, prelude+`[jobs.zeta]
target = "emu"
dataset = { name = "Z" }
tables = [{ name = "t", policy = "replace", parquet = "t.parquet" }]
[jobs.alpha]
target = "emu"
dataset = { name = "A" }
tables = [{ name = "t", policy = "replace", parquet = "t.parquet" }]
`, noEnv)
	if got := cfg.JobNames(); !slices.Equal(got, []string{"alpha", "zeta"}) {
		t.Errorf("JobNames() = %v, want [alpha zeta]", got)
	}
}

// The shipped jobs.toml must load with no environment and describe the demo the README
// promises: two Parquet tables into the built-in emulator.
func TestShippedJobsTOML(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "jobs.toml"), noEnv)
	if err != nil {
		t.Fatalf("the shipped jobs.toml does not load:\n%v", err)
	}
	demo := cfg.Jobs["demo"]
	if demo == nil || !demo.Target.Embedded() || demo.Dataset.Name != "Demo Sales" || len(demo.Tables) != 2 {
		t.Fatalf("demo job = %+v, want two tables into the embedded emulator", demo)
	}
	orders, stores := demo.Tables[0], demo.Tables[1]
	if orders.Name != "orders" || orders.Policy != sink.Upsert || orders.Parquet != filepath.Join("..", "testdata", "demo", "orders") {
		t.Errorf("orders = %q %q %q", orders.Name, orders.Policy, orders.Parquet)
	}
	if stores.Name != "stores" || stores.Policy != sink.Replace || stores.Parquet != filepath.Join("..", "testdata", "demo", "stores.parquet") {
		t.Errorf("stores = %q %q %q", stores.Name, stores.Policy, stores.Parquet)
	}
	for _, tb := range demo.Tables {
		if _, err := os.Stat(tb.Parquet); err != nil {
			t.Errorf("table %s: the demo data is not in the repository: %v", tb.Name, err)
		}
	}
	// The key rule holds for the demo's orders files (see testdata/demo/README.md): what is
	// left after exclude is the key and numeric columns.
	pushed := []sink.Column{
		{Name: "order_id", DataType: sink.BigInteger}, {Name: "store_id", DataType: sink.Integer},
		{Name: "ordered_at", DataType: sink.DateTime}, {Name: "customer", DataType: sink.String},
		{Name: "channel", DataType: sink.String}, {Name: "gift", DataType: sink.Bool},
		{Name: "quantity", DataType: sink.Integer}, {Name: "unit_price", DataType: sink.BigDecimal},
		{Name: "discount", DataType: sink.Double}, {Name: "amount", DataType: sink.Double},
	}
	if err := orders.CheckColumns(pushed); err != nil {
		t.Errorf("orders.CheckColumns: %v", err)
	}
	source := []string{"order_id", "store_id", "ordered_at", "ship_date", "pickup_time", "customer", "channel", "quantity", "unit_price", "discount", "amount", "gift"}
	if err := orders.CheckSourceColumns(source); err != nil {
		t.Errorf("orders.CheckSourceColumns: %v", err)
	}
}

// The commented-out examples in the shipped jobs.toml must stay valid: uncommented, the
// file still loads with no environment set.
func TestShippedJobsTOMLExamples(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "jobs.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	inExample := false
	for _, line := range strings.Split(string(src), "\n") {
		switch {
		case strings.HasPrefix(line, "# ["):
			inExample = true
		case !strings.HasPrefix(line, "#"):
			inExample = false
		}
		if inExample {
			line = strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ")
		}
		out = append(out, line)
	}
	cfg, err := Parse(strings.NewReader(strings.Join(out, "\n")), filepath.Join("..", "jobs.toml"), noEnv)
	if err != nil {
		t.Fatalf("jobs.toml with its examples uncommented does not load:\n%v\n\n%s", err, strings.Join(out, "\n"))
	}
	sales := cfg.Jobs["sales"]
	if sales == nil || sales.Target.Name != "mstr" || sales.ScheduleSpec == nil || len(sales.Tables) != 2 || sales.Tables[0].Source.Name != "warehouse" {
		t.Errorf("the sales example = %+v, want a scheduled job on mstr with a warehouse query table", sales)
	}
	if sales != nil && (sales.FullRefreshSpec == nil || len(sales.Notify) != 1 || sales.Notify[0].Name != "ops" || sales.Tables[0].Incremental.Lookback == 0) {
		t.Errorf("the sales example sets no full_refresh, notify = [\"ops\"] or lookback: jobs.toml shows every key")
	}
}

func TestKeyLines(t *testing.T) {
	src := `# comment [not.a.table]
top = 1
[a]
b.c = "x # not a comment"
d = { e = 1, f = [1, 2] }
q = """
[not.a.header]
name = "not a key"
"""
lit = '''
x = 1'''
arr = [
  { g = 1 },  # comment
  { g = 2 },
]
[[list]]
name = "first"
[list.sub]
k = 1
[[list]]
name = "second"
"quoted key" = 'v'
[[list.inner]]
z = 1
`
	want := map[string]int{
		"top": 2, "a": 3, "a.b": 4, "a.b.c": 4, "a.d": 5, "a.d.e": 5, "a.d.f": 5, "a.d.f[1]": 5,
		"a.q": 6, "a.lit": 10, "a.arr": 12, "a.arr[0]": 13, "a.arr[0].g": 13, "a.arr[1].g": 14,
		"list": 16, "list[0]": 16, "list[0].name": 17, "list[0].sub": 18, "list[0].sub.k": 19,
		"list[1]": 20, "list[1].name": 21, `list[1]."quoted key"`: 22, "list[1].inner[0]": 23, "list[1].inner[0].z": 24,
	}
	got := keyLines(src)
	for k, line := range want {
		if got[k] != line {
			t.Errorf("line of %s = %d, want %d", k, got[k], line)
		}
	}
	for _, bogus := range []string{"not", "name", "x", "not.a.header"} {
		if _, ok := got[bogus]; ok {
			t.Errorf("keyLines found key %q inside a string or comment", bogus)
		}
	}
}

// Every key the TOML decoder sees in the shipped file has a line, so no problem about it
// is reported without one.
func TestKeyLinesCoverShippedFile(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "jobs.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	md, err := toml.Decode(string(src), &v)
	if err != nil {
		t.Fatal(err)
	}
	lines := keyLines(string(src))
	index := regexp.MustCompile(`\[\d+\]`)
	have := map[string]bool{}
	for k := range lines {
		have[index.ReplaceAllString(k, "")] = true
	}
	for _, k := range md.Keys() {
		if !have[keyPath(k).String()] {
			t.Errorf("key %s has no line", keyPath(k))
		}
	}
}

func TestCheckColumns(t *testing.T) {
	upsert := &Table{
		Name: "orders", Policy: sink.Upsert, Key: []string{"order_id", "store"},
		Columns: map[string]ColumnOverride{"qty": {Type: sink.BigInteger}},
	}
	col := func(name string, dt sink.DataType) sink.Column { return sink.Column{Name: name, DataType: dt} }
	tests := []struct {
		name  string
		table *Table
		cols  []sink.Column
		want  string
	}{
		{
			name:  "key and numeric metrics",
			table: upsert,
			cols:  []sink.Column{col("order_id", sink.BigInteger), col("store", sink.String), col("amount", sink.BigDecimal), col("qty", sink.BigInteger)},
		},
		{
			name:  "one non-numeric column outside key",
			table: upsert,
			cols:  []sink.Column{col("order_id", sink.BigInteger), col("store", sink.String), col("qty", sink.BigInteger), col("status", sink.String)},
			want:  `policy "upsert" matches rows on the key columns and updates only numeric metrics, but "status" (STRING) outside key is not numeric, so a change there would add a new row instead of updating one: add it to key, exclude it, or use policy = "replace"`,
		},
		{
			name:  "several",
			table: upsert,
			cols:  []sink.Column{col("order_id", sink.BigInteger), col("store", sink.String), col("qty", sink.BigInteger), col("day", sink.Date), col("paid", sink.Bool)},
			want:  `policy "upsert" matches rows on the key columns and updates only numeric metrics, but "day" (DATE), "paid" (BOOL) outside key are not numeric, so a change there would add a new row instead of updating one: add them to key, exclude them, or use policy = "replace"`,
		},
		{
			name:  "key column not pushed and override of an unknown column",
			table: upsert,
			cols:  []sink.Column{col("order_id", sink.BigInteger), col("amount", sink.Double)},
			want: `key "store" not among the pushed columns (order_id, amount); ` +
				`columns overrides "qty", which are not among the pushed columns (order_id, amount)`,
		},
		{
			name:  "replace allows anything",
			table: &Table{Name: "stores", Policy: sink.Replace},
			cols:  []sink.Column{col("name", sink.String), col("opened", sink.Date)},
		},
		{
			name:  "metric role on text",
			table: &Table{Name: "stores", Policy: sink.Replace, Columns: map[string]ColumnOverride{"code": {Role: "metric"}}},
			cols:  []sink.Column{col("code", sink.String)},
			want:  `column "code" is STRING, and role = "metric" needs a numeric column: set its type to INTEGER, BIGINTEGER, DOUBLE or BIGDECIMAL, or remove the role`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.table.CheckColumns(tc.cols)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckColumns: unexpected error %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("CheckColumns error:\ngot  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestCheckSourceColumns(t *testing.T) {
	tb := &Table{
		Name: "orders", Exclude: []string{"updated_at", "notes"},
		Columns:     map[string]ColumnOverride{"qty": {Type: sink.BigInteger}, "weight": {Role: "metric"}},
		Incremental: &Incremental{Column: "modified"},
	}
	err := tb.CheckSourceColumns([]string{"id", "qty", "updated_at"})
	want := `exclude names "notes", which the source does not have; columns overrides "weight", which the source does not have; incremental.column "modified" is not a column of the source (the source has id, qty, updated_at)`
	if err == nil || err.Error() != want {
		t.Errorf("CheckSourceColumns error:\ngot  %v\nwant %s", err, want)
	}
	if err := tb.CheckSourceColumns([]string{"id", "qty", "updated_at", "notes", "weight", "modified"}); err != nil {
		t.Errorf("CheckSourceColumns with every column: %v", err)
	}
}

// keyLines must finish on any input, valid TOML or not.
func FuzzKeyLines(f *testing.F) {
	f.Add(prelude)
	f.Add("a = [\n{ b = '''x\n''' },\n]\n[[c]]\n[c.d]\ne.f = \"\\\"\"")
	f.Add("[[\n\"unterminated")
	f.Add("x = \"\"\"\\")
	f.Fuzz(func(t *testing.T, src string) {
		keyLines(src)
	})
}

// Parse must return a config or an error on any input, never panic.
func FuzzParse(f *testing.F) {
	if src, err := os.ReadFile(filepath.Join("..", "jobs.toml")); err == nil {
		f.Add(string(src))
	}
	f.Add(prelude + "[jobs.a]\ntarget = \"emu\"\ndataset = { name = \"A\" }\ntables = [{ name = \"t\", policy = \"upsert\", parquet = \"x\", key = [\"k\"], columns.k = { role = \"metric\" } }]\n")
	f.Add("[defaults]\nretry = { attempts = \"${N:-x}\" }\nchunk_size = \"1.5KiB\"\n")
	f.Fuzz(func(t *testing.T, src string) {
		cfg, err := Parse(strings.NewReader(src), "jobs.toml", noEnv)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse = %v, %v; want exactly one of a config and an error", cfg, err)
		}
	})
}
