package main

// The pieces of jobs files that the cmd/cubesync tests share, and where they write them.

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/sink/emulator"
)

// serveSetup prepares a test of serve processes on a Postgres state store: a fresh database
// (its DSN), the cubesync binary, and a directory for the jobs file and the processes.
func serveSetup(t *testing.T) (dsn, bin, dir string) {
	t.Helper()
	return pgtest.DSN(t), buildCubesync(t), t.TempDir()
}

// emuTarget is the section [targets.emu] for the emulator at baseURL ("embedded" for the
// built-in one), logging in as alice with the password s3cret-pw, with the lines keys after
// (call_retries = 1, say).
func emuTarget(baseURL string, keys ...string) string {
	s := fmt.Sprintf(`[targets.emu]
base_url = %q
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "alice"
password = "s3cret-pw"
`, baseURL)
	for _, k := range keys {
		s += k + "\n"
	}
	return s
}

// serveHead starts the jobs file of a serve test: the Postgres state store at dsn ("" leaves
// [state] out: the file store), the emulator at baseURL as target emu with the lines
// targetKeys, and [serve] listening on a free port of the loopback. Keys written after it
// (admin_token, say) belong to [serve].
func serveHead(dsn, baseURL string, targetKeys ...string) string {
	head := ""
	if dsn != "" {
		head = fmt.Sprintf("[state]\ndatabase_url = %q\n\n", dsn)
	}
	return head + emuTarget(baseURL, targetKeys...) + `
[serve]
listen = "127.0.0.1:0"
`
}

// storesJob is the job name replacing table stores of dataset with the demo stores, with
// the job's lines keys (schedule = "@every 1s", say) first.
func storesJob(t testing.TB, name, dataset string, keys ...string) string {
	t.Helper()
	s := fmt.Sprintf("\n[jobs.%s]\n", name)
	for _, k := range keys {
		s += k + "\n"
	}
	return s + fmt.Sprintf(`target = "emu"
dataset = { name = %q }
[[jobs.%s.tables]]
name = "stores"
policy = "replace"
parquet = %q
`, dataset, name, demoData(t, "stores.parquet"))
}

// writeConfigIn writes text to dir/jobs.toml and returns its path.
func writeConfigIn(t testing.TB, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "jobs.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeConfig writes a jobs file into a temporary directory and returns its path.
func writeConfig(t testing.TB, text string) string {
	t.Helper()
	return writeConfigIn(t, t.TempDir(), text)
}

// mustLoad loads the jobs file at path, with no environment variable set.
func mustLoad(t testing.TB, path string) *jobs.Config {
	t.Helper()
	cfg, err := jobs.Load(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// demoData is the absolute path of testdata/demo/name (a file or directory of the demo job).
func demoData(t testing.TB, name string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "testdata", "demo", name))
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// tableRows is how many rows the emulator's table of dataset holds, -1 while there is none.
func tableRows(emu *emulator.Server, dataset, table string) int {
	tb, err := emu.Table(dataset, table)
	if err != nil {
		return -1
	}
	return len(tb.Rows)
}
