package main

import (
	"strings"
	"testing"
)

const stateTestConfig = `
[targets.emu]
base_url = "embedded"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "u"
password = "p"
[sources.wh]
type = "postgres"
dsn = "postgres://etl@127.0.0.1:1/wh"
[jobs.sales]
target = "emu"
dataset = { name = "Sales" }
[[jobs.sales.tables]]
name = "orders"
policy = "upsert"
source = "wh"
query = "SELECT order_id, amount, updated_at FROM orders WHERE updated_at > $1"
key = ["order_id"]
exclude = ["updated_at"]
incremental = { column = "updated_at", initial = "2024-01-01T00:00:00Z" }
[[jobs.sales.tables]]
name = "stores"
policy = "replace"
parquet = "stores.parquet"
`

func TestStateCommand(t *testing.T) {
	dir := t.TempDir()
	config := writeConfigIn(t, dir, stateTestConfig)
	t.Chdir(dir)
	steps := []struct {
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{args: []string{"state", "get", "sales"}, wantStdout: `(none: next run starts at "2024-01-01T00:00:00Z")`},
		{args: []string{"state", "set", "sales", "--table", "orders", "2024-05-01T10:11:12.123456Z"}, wantStdout: "watermark set to 2024-05-01T10:11:12.123456Z (timestamptz)"},
		{args: []string{"state", "get", "sales", "--table", "orders"}, wantStdout: "2024-05-01T10:11:12.123456Z"},
		{args: []string{"state", "set", "sales", "--table", "orders", "yesterday"}, wantCode: exitUsage, wantStderr: "want an RFC 3339 timestamp"},
		{args: []string{"state", "set", "sales", "--table", "stores", "5"}, wantCode: exitUsage, wantStderr: "has no incremental column"},
		{args: []string{"state", "get", "nope"}, wantCode: exitUsage, wantStderr: `no job "nope"`},
		{args: []string{"state", "clear", "sales", "--table", "orders"}, wantStdout: "watermark cleared for table orders"},
		{args: []string{"state", "get", "sales"}, wantStdout: "(none: next run starts at"},
		{args: []string{"state", "frob", "sales"}, wantCode: exitUsage, wantStderr: "want get, set, clear or forget-dataset"},
	}
	for _, s := range steps {
		code, stdout, stderr := runCmd(t, append(s.args, "--config", config)...)
		if code != s.wantCode || !strings.Contains(stdout, s.wantStdout) || !strings.Contains(stderr, s.wantStderr) {
			t.Errorf("cubesync %s: exit %d (want %d)\nstdout:\n%s(want %q)\nstderr:\n%s(want %q)",
				strings.Join(s.args, " "), code, s.wantCode, stdout, s.wantStdout, stderr, s.wantStderr)
		}
	}
}
