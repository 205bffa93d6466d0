package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cubesync/cubesync/jobs/filestate"
)

// runCmd runs cubesync with args in the current directory and returns the exit code and
// both streams.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	code = Run(context.Background(), e, args)
	return code, out.String(), errOut.String()
}

// The README's first command: the shipped demo job runs on the embedded defaults, twice,
// updating the same dataset, and its runs are in the history.
func TestRunJobShippedDemo(t *testing.T) {
	config, err := filepath.Abs(filepath.Join("..", "..", "jobs.toml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // state goes to ./.cubesync, as for a user in a fresh clone

	for run := 1; run <= 2; run++ {
		code, stdout, stderr := runCmd(t, "run-job", "--config", config, "demo")
		if code != 0 {
			t.Fatalf("run %d: run-job demo exit %d\nstdout:\n%s\nstderr:\n%s", run, code, stdout, stderr)
		}
		for _, want := range []string{"job demo: published", "orders", "upsert", "3900", "stores", "replace", "25", "orders: 3900 rows", "stores: 25 rows", "Hamburg Altona"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("run %d: output lacks %q:\n%s", run, want, stdout)
			}
		}
	}
	entries, err := os.ReadDir(filepath.Join(".cubesync", "emulator"))
	if err != nil || len(entries) != 1 {
		t.Errorf("embedded emulator data dir holds %d entries (err %v), want the one demo dataset", len(entries), err)
	}
	code, stdout, _ := runCmd(t, "history", "--config", config, "demo")
	if code != 0 || strings.Count(stdout, "succeeded") != 2 {
		t.Errorf("history exit %d, want two succeeded runs:\n%s", code, stdout)
	}
}

func TestRunJobExitCodes(t *testing.T) {
	config, err := filepath.Abs(filepath.Join("..", "..", "jobs.toml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("[jobs.x]\npolicy = \"upsrt\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())

	tests := []struct {
		name       string
		args       []string
		setup      func(t *testing.T)
		wantCode   int
		wantStderr string
	}{
		{name: "no job named", args: []string{"run-job", "--config", config}, wantCode: exitUsage, wantStderr: "name at least one job"},
		{name: "unknown job", args: []string{"run-job", "--config", config, "nope"}, wantCode: exitUsage, wantStderr: `no job "nope"`},
		{name: "unknown table", args: []string{"run-job", "--config", config, "--tables", "nope", "demo"}, wantCode: exitUsage, wantStderr: `no table "nope"`},
		{name: "bad config", args: []string{"run-job", "--config", bad, "x"}, wantCode: exitUsage, wantStderr: "bad.toml"},
		{name: "bad flag", args: []string{"run-job", "--progress", "loud", "demo"}, wantCode: exitUsage, wantStderr: "--progress"},
		{
			name:       "job running elsewhere",
			args:       []string{"run-job", "--config", config, "demo"},
			setup:      func(t *testing.T) { lockLocally(t, "demo") },
			wantCode:   exitSkipped,
			wantStderr: "already running",
		},
		{name: "dry run", args: []string{"run-job", "--config", config, "--dry-run", "demo"}, wantCode: exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(t)
			}
			code, stdout, stderr := runCmd(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("cubesync %s: exit %d, want %d with stderr mentioning %q\nstdout:\n%s\nstderr:\n%s",
					strings.Join(tt.args, " "), code, tt.wantCode, tt.wantStderr, stdout, stderr)
			}
		})
	}
}

// lockLocally holds job's lock in the local state store (.cubesync in the working
// directory), as a run-job in another process would, until the test ends.
func lockLocally(t *testing.T, job string) {
	t.Helper()
	s, err := filestate.Open(".cubesync")
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := s.Lock(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unlock.Unlock(); s.Close() })
}
