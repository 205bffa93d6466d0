package filestate_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/jobs/filestate"
	"github.com/cubesync/cubesync/jobs/storetest"
)

// The test binary doubles as the other process of the multi-process tests: run with
// childEnv set, it does what the variable says in the directory childDirEnv names.
const (
	childEnv    = "FILESTATE_TEST_CHILD"
	childDirEnv = "FILESTATE_TEST_DIR"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		if err := child(role, os.Getenv(childDirEnv)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child is the body of a child process. "lock" and "serve" take a lock, say "locked" and
// wait to be killed; "runs" starts 50 runs and prints their ids.
func child(role, dir string) error {
	ctx := context.Background()
	s, err := filestate.Open(dir)
	if err != nil {
		return err
	}
	switch role {
	case "lock", "serve":
		if role == "lock" {
			_, err = s.Lock(ctx, "sales")
		} else {
			_, err = s.LockServe()
		}
		if err != nil {
			return err
		}
		fmt.Println("locked")
		time.Sleep(time.Minute) // killed long before
		return errors.New("child was not killed")
	case "runs":
		for range 50 {
			r, err := s.StartRun(ctx, jobs.Run{Job: "sales", Trigger: jobs.TriggerManual})
			if err != nil {
				return err
			}
			fmt.Println(r.ID)
		}
		return nil
	}
	return fmt.Errorf("unknown child role %q", role)
}

func startChild(t *testing.T, role, dir string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role, childDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child process: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, bufio.NewScanner(out)
}

func TestConformance(t *testing.T) {
	dir := storetest.PerTest(func(t *testing.T) string { return filepath.Join(t.TempDir(), ".cubesync") })
	storetest.Run(t, func(t *testing.T) jobs.Store {
		t.Helper()
		return open(t, dir(t))
	})
}

func open(t *testing.T, dir string, opts ...filestate.Option) *filestate.Store {
	t.Helper()
	s, err := filestate.Open(dir, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestLockReleasedWhenHolderDies kills a process holding a lock (SIGKILL: no deferred
// unlock runs) and checks the lock is free afterwards.
func TestLockReleasedWhenHolderDies(t *testing.T) {
	tests := []struct {
		role    string
		lock    func(s *filestate.Store) (func() error, error)
		refused error
	}{
		{"lock", func(s *filestate.Store) (func() error, error) {
			l, err := s.Lock(context.Background(), "sales")
			if err != nil {
				return nil, err
			}
			return l.Unlock, nil
		}, jobs.ErrLocked},
		{"serve", func(s *filestate.Store) (func() error, error) { return s.LockServe() }, filestate.ErrServeRunning},
	}
	for _, tc := range tests {
		t.Run(tc.role, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			cmd, out := startChild(t, tc.role, dir)
			if !out.Scan() || out.Text() != "locked" {
				t.Fatalf("child process did not take the lock (said %q)", out.Text())
			}

			_, err := tc.lock(s)
			if !errors.Is(err, tc.refused) {
				t.Fatalf("lock while the child holds it: err = %v, want %v", err, tc.refused)
			}
			if pid := strconv.Itoa(cmd.Process.Pid); !strings.Contains(err.Error(), "held by ") || !strings.Contains(err.Error(), ":"+pid+")") {
				t.Errorf("refusal %q does not name the holder's pid %s", err, pid)
			}

			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			unlock, err := tc.lock(s)
			if err != nil {
				t.Fatalf("lock after its holder was killed: %v", err)
			}
			if err := unlock(); err != nil {
				t.Errorf("unlock: %v", err)
			}
		})
	}
}

// TestLockLostWhenFileRemoved removes the lock file of a held job lock (a cleanup script, an
// operator): another process can then lock a new file at the same path, so the holder's
// lease must report the lock lost, at once when checked and within seconds unasked.
func TestLockLostWhenFileRemoved(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := filestate.Open(dir, filestate.WithLeaseInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	lease, err := s.Lock(ctx, "sales")
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Unlock()
	if err := lease.Check(ctx); err != nil {
		t.Fatalf("Check of a held lock: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "locks", "sales.lock")); err != nil {
		t.Fatal(err)
	}
	other, err := open(t, dir).Lock(ctx, "sales")
	if err != nil {
		t.Fatalf("Lock after the lock file was removed: %v (the new file is free)", err)
	}
	defer other.Unlock()
	select {
	case <-lease.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the lease of the removed lock file was not found lost within 5s")
	}
	if err := lease.Check(ctx); !errors.Is(err, jobs.ErrLockLost) || !strings.Contains(err.Error(), "sales.lock") {
		t.Errorf("Check after the lock file was replaced: err = %v, want ErrLockLost naming sales.lock", err)
	}
	if err := other.Check(ctx); err != nil {
		t.Errorf("Check of the new holder: %v, want nil", err)
	}
}

func TestLockServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".cubesync")
	first, second := open(t, dir), open(t, dir)
	unlock, err := first.LockServe()
	if err != nil {
		t.Fatalf("first LockServe: %v", err)
	}
	_, err = second.LockServe()
	if !errors.Is(err, filestate.ErrServeRunning) {
		t.Fatalf("second LockServe: err = %v, want ErrServeRunning", err)
	}
	for _, want := range []string{dir, "database_url"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second LockServe: %q does not mention %q", err, want)
		}
	}
	// A run-job next to serve only needs the job's lock.
	unlockJob, err := second.Lock(context.Background(), "sales")
	if err != nil {
		t.Errorf("Lock(sales) while serve holds the directory: %v", err)
	} else {
		unlockJob.Unlock()
	}
	if err := unlock(); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	unlock, err = second.LockServe()
	if err != nil {
		t.Fatalf("LockServe after the first serve stopped: %v", err)
	}
	unlock()
}

// TestRunIDsUniqueAcrossProcesses starts runs from two processes at once.
func TestRunIDsUniqueAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var ids []int64
	var wg sync.WaitGroup
	for range 2 {
		cmd, out := startChild(t, "runs", dir)
		wg.Go(func() {
			for out.Scan() {
				id, err := strconv.ParseInt(out.Text(), 10, 64)
				if err != nil {
					t.Errorf("child printed %q, want a run id", out.Text())
					continue
				}
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("child process: %v", err)
			}
		})
	}
	wg.Wait()
	slices.Sort(ids)
	if len(ids) != 100 || len(slices.Compact(slices.Clone(ids))) != 100 {
		t.Fatalf("two processes starting 50 runs each got %d ids, %d distinct; want 100 distinct", len(ids), len(slices.Compact(slices.Clone(ids))))
	}
	runs, err := open(t, dir).Runs(context.Background(), "sales", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 100 {
		t.Errorf("Runs after two processes started 50 each: %d runs, want 100 (a write was lost)", len(runs))
	}
}

func TestHistoryBounded(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), filestate.WithHistory(3))
	dead, err := s.StartRun(ctx, jobs.Run{Job: "sales", Trigger: jobs.TriggerManual})
	if err != nil {
		t.Fatal(err)
	}
	var finished []int64
	for range 5 {
		r, err := s.StartRun(ctx, jobs.Run{Job: "sales", Trigger: jobs.TriggerManual})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, r.ID, jobs.Outcome{Status: jobs.StatusSucceeded}); err != nil {
			t.Fatal(err)
		}
		finished = append(finished, r.ID)
	}
	runs, err := s.Runs(ctx, "sales", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, r := range runs {
		got = append(got, r.ID)
	}
	want := []int64{finished[4], finished[3], finished[2], dead.ID}
	if !slices.Equal(got, want) {
		t.Errorf("Runs with history 3 = %v, want the 3 newest finished runs and the unfinished one: %v", got, want)
	}
}

func TestJobNamesStayInsideDirectory(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "state")
	s := open(t, dir)
	names := []string{"../escape", "a/b", ".", "..", "sales", "Sales", "sales.json", "ünïcode job"}
	for i, name := range names {
		if err := s.SetDatasetID(ctx, name, fmt.Sprint("DS", i), name); err != nil {
			t.Fatalf("SetDatasetID(%q): %v", name, err)
		}
	}
	for i, name := range names {
		if got, err := s.DatasetID(ctx, name); err != nil || got != fmt.Sprint("DS", i) {
			t.Errorf("DatasetID(%q) = %q, %v; want DS%d", name, got, err, i)
		}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("files were written beside the state directory: %v", entries)
	}
	runs, err := s.Runs(ctx, "", 0)
	if err != nil || len(runs) != 0 {
		t.Errorf("Runs over odd job names = %v, %v; want none", runs, err)
	}
}

func TestDamagedFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.SetDatasetID(ctx, "sales", "DS1", "Sales"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "jobs", "sales.json")
	if err := os.WriteFile(path, []byte(`{"version": 1, "job": "sales", "runs": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := s.DatasetID(ctx, "sales")
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("DatasetID with a truncated file: err = %v, want one naming %s as damaged", err, path)
	}
	if err := s.SetDatasetID(ctx, "sales", "DS2", "Sales"); err == nil {
		t.Errorf("SetDatasetID over a damaged file: err = nil, want an error (the file must not be overwritten)")
	}
}

func TestNoTemporaryFilesLeft(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	r, err := s.StartRun(ctx, jobs.Run{Job: "sales", Trigger: jobs.TriggerManual})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, r.ID, jobs.Outcome{Status: jobs.StatusSucceeded}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimSlot(ctx, "sales", time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{".", "jobs"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".tmp") {
				t.Errorf("temporary file %s left in %s", e.Name(), sub)
			}
		}
	}
}

func TestFinishRunOfAnotherProcessRun(t *testing.T) {
	// The next process finds a dead run in the files, not in its memory.
	ctx := context.Background()
	dir := t.TempDir()
	first := open(t, dir)
	dead, err := first.StartRun(ctx, jobs.Run{Job: "sales", Trigger: jobs.TriggerManual})
	if err != nil {
		t.Fatal(err)
	}
	next := open(t, dir)
	if err := next.FinishRun(ctx, dead.ID, jobs.Outcome{Status: jobs.StatusAbandoned}); err != nil {
		t.Fatalf("FinishRun of a run another Store started: %v", err)
	}
	runs, err := first.Runs(ctx, "sales", 1)
	if err != nil || len(runs) != 1 || runs[0].Status != jobs.StatusAbandoned {
		t.Errorf("Runs = %v, %v; want run %d abandoned", runs, err, dead.ID)
	}
}
