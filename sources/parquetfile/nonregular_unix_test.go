//go:build unix

package parquetfile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// mkfifo makes a named pipe at path. Opening it for reading blocks until a writer comes, so
// a reader that opens it without looking first hangs; the cleanup opens it for writing once
// to let such a reader go.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatalf("mkfifo %s: %v", path, err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
}

// within runs f and fails the test when it has not returned after d.
func within(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s still blocked after %s", what, d)
		return nil
	}
}

func TestNonRegularFilesAreRefusedByName(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	base := t.TempDir()
	writeFile(t, mem, filepath.Join(base, "data", "a.parquet"), idSchema, 0, 2, 10)
	fifo := filepath.Join(base, "data", "pipe.parquet")
	mkfifo(t, fifo)
	link := filepath.Join(base, "link.parquet") // a symlink to the pipe is the pipe
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ name, pattern, names string }{
		{"named directly", "data/pipe.parquet", fifo},
		{"through a symlink", "link.parquet", link},
		{"matched by a glob", "data/*.parquet", fifo},
		{"in a directory", "data", fifo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, call := range []struct {
				what string
				f    func() error
			}{
				{"Open", func() error {
					r, err := Open(context.Background(), tc.pattern, base, Options{Allocator: mem})
					if err == nil {
						r.Close()
					}
					return err
				}},
				{"Files", func() error { _, err := Files(tc.pattern, base, ""); return err }},
			} {
				err := within(t, 5*time.Second, call.what+"("+tc.pattern+")", call.f)
				if err == nil {
					t.Fatalf("%s(%q) succeeded on a named pipe, want it refused", call.what, tc.pattern)
				}
				if !strings.Contains(err.Error(), tc.names) || !strings.Contains(err.Error(), "not a regular file") {
					t.Errorf("%s(%q) error %q, want it to name %s as not a regular file", call.what, tc.pattern, err, tc.names)
				}
			}
		})
	}
}

// A file that was regular when the pattern was resolved may be swapped for a pipe before it
// is opened: the open itself must not block on it.
func TestOpenDoesNotBlockOnAFileSwappedForAPipe(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	dir := t.TempDir()
	path := filepath.Join(dir, "t.parquet")
	writeFile(t, mem, path, idSchema, 0, 2, 10)
	r := mustOpen(t, path, "", Options{Allocator: mem})
	defer r.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	mkfifo(t, path)

	err := within(t, 5*time.Second, "Next after the file became a pipe", func() error {
		rec, err := r.Next(context.Background())
		if err == nil {
			rec.Release()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Next error = %v, want one naming %s as not a regular file", err, path)
	}
}
