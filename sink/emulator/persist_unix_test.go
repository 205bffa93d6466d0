//go:build unix

package emulator

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestLeftoverTempFilesRemovedOnStart: an emulator killed while writing a dataset file leaves
// its temporary file; the next start removes it, but not one another running process is
// writing in a shared data dir.
func TestLeftoverTempFilesRemovedOnStart(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatalf("run a process to take a finished pid from: %v", err)
	}
	const id = "0123456789ABCDEF0123456789ABCDEF"
	dir := t.TempDir()
	left := []string{
		fmt.Sprintf("%s.pid%d.111.tmp", id, dead.Process.Pid), // its writer was killed
		// A killed process whose pid this one has now, as pid 1 in a restarted container.
		fmt.Sprintf("%s.pid%d.333.tmp", id, os.Getpid()),
		id + ".2208737291.tmp", // named before writers put their pid in
	}
	live := fmt.Sprintf("%s.pid%d.222.tmp", id, os.Getppid()) // a writer still running
	for _, name := range append(slices.Clone(left), live) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(`{"id":`), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	srv, err := New(Options{DataDir: dir})
	if err != nil {
		t.Fatalf("New with leftover temporary files: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, name := range left {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s is still there after the start (stat: %v), want it removed", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, live)); err != nil {
		t.Errorf("the temporary file of a running writer was removed: %v", err)
	}
}
