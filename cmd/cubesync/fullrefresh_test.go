package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyFile copies the file src to dst.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunJobFullRefreshReplaces: run-job --full-refresh reads every file again and pushes
// the incremental table with replace, so the dataset ends up with what the source has now:
// the rows of a file deleted at the source leave it, and the rows of the files still
// there are not added a second time (the table's policy is add).
func TestRunJobFullRefreshReplaces(t *testing.T) {
	dir := t.TempDir()
	emu, url := startEmulator(t)
	exports := filepath.Join(dir, "exports")
	if err := os.Mkdir(exports, 0o755); err != nil {
		t.Fatal(err)
	}
	demo := demoData(t, "orders")
	q1, q2 := filepath.Join(exports, "q1.parquet"), filepath.Join(exports, "q2.parquet")
	copyFile(t, filepath.Join(demo, "orders-2024-q1.parquet"), q1) // 1,800 orders
	config := writeConfigIn(t, dir, emuTarget(url)+`
[jobs.orders]
target = "emu"
dataset = { name = "Orders" }
[[jobs.orders.tables]]
name = "orders"
policy = "add"
parquet = "exports/*.parquet"
incremental = { files = "new" }
`)
	t.Chdir(dir) // the local state goes to ./.cubesync
	rows := func() int {
		t.Helper()
		tb, err := emu.Table("Orders", "orders")
		if err != nil {
			t.Fatal(err)
		}
		return len(tb.Rows)
	}
	run := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runCmd(t, append([]string{"run-job", "orders", "--config", config, "--progress", "none"}, args...)...)
		if code != exitOK {
			t.Fatalf("run-job %v: exit %d\n%s\n%s", args, code, stdout, stderr)
		}
		return stdout
	}

	run()
	copyFile(t, filepath.Join(demo, "orders-2024-q2.parquet"), q2) // 2,100 orders more
	run()
	if got := rows(); got != 3900 {
		t.Fatalf("after two incremental runs the dataset has %d orders, want 1800 + 2100", got)
	}
	if err := os.Remove(q1); err != nil { // deleted at the source
		t.Fatal(err)
	}
	out := run("--full-refresh")
	if got := rows(); got != 2100 {
		t.Errorf("after run-job --full-refresh the dataset has %d orders, want 2100: only q2's, once", got)
	}
	if !strings.Contains(out, "replace") {
		t.Errorf("run-job --full-refresh summary does not show policy replace:\n%s", out)
	}
}
