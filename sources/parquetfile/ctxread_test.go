package parquetfile

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// cancelOnAllocate is an allocator that cancels a context at its first allocation once
// armed: the run is cancelled while Next is decoding, between two reads of the file.
type cancelOnAllocate struct {
	memory.Allocator
	mu     sync.Mutex
	cancel context.CancelFunc // nil until armed
}

func (a *cancelOnAllocate) Allocate(n int) []byte {
	a.mu.Lock()
	if a.cancel != nil {
		a.cancel()
		a.cancel = nil
	}
	a.mu.Unlock()
	return a.Allocator.Allocate(n)
}

func (a *cancelOnAllocate) arm(cancel context.CancelFunc) {
	a.mu.Lock()
	a.cancel = cancel
	a.mu.Unlock()
}

// TestReadsStopWhenTheRunIsCancelled: a run cancelled (its timeout, SIGTERM) while Next is
// under way stops at the next read of the file, rather than reading the rest of a large row
// group (on a slow or hung file system, for a long time).
func TestReadsStopWhenTheRunIsCancelled(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	mem := &cancelOnAllocate{Allocator: checked}

	path := filepath.Join(t.TempDir(), "t.parquet")
	// One row group of two columns: Next reads the second column's pages after it has
	// begun decoding the first.
	twoColumns := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	writeFile(t, checked, path, twoColumns, 0, 10_000, 10_000)
	r := mustOpen(t, path, "", Options{Allocator: mem, BatchRows: 10_000})
	defer r.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mem.arm(cancel)
	rec, err := r.Next(ctx)
	if err == nil {
		rec.Release()
		t.Fatal("Next read the whole batch after the run was cancelled in the middle of it, want it to stop at the next read")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Next error = %v, want context.Canceled", err)
	}
}
