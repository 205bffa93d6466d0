package parquetfile

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/cubesync/cubesync/sources"
)

// Before a row is read, the Reader knows from the footers how many rows and bytes the
// selected files hold (what a progress bar needs for its total); the counter moves with
// every batch and ends exactly on those totals.
func TestTotalAndCounterFromFooters(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	dir := t.TempDir()
	writeFile(t, mem, filepath.Join(dir, "a.parquet"), sc, 0, 5000, 1500)
	writeFile(t, mem, filepath.Join(dir, "b.parquet"), sc, 5000, 2500, 1000)
	writeFile(t, mem, filepath.Join(dir, "c.parquet"), sc, 7500, 100, 1000)

	var c sources.Counter
	r := mustOpen(t, dir, "", Options{BatchRows: 700, Allocator: mem, Counter: &c,
		Only: func(f FileInfo) bool { return filepath.Base(f.Path) != "c.parquet" }})
	defer r.Close()
	totalRows, totalBytes := r.Total()
	if totalRows != 7500 {
		t.Errorf("Total() rows = %d, want 7500 (a.parquet and b.parquet; c.parquet is not selected)", totalRows)
	}
	if totalBytes <= 0 {
		t.Errorf("Total() bytes = %d, want the compressed size of the columns", totalBytes)
	}
	if rows, _ := c.Load(); rows != 0 {
		t.Errorf("counter = %d rows before any Next, want 0", rows)
	}
	var seen int64
	for {
		rec, err := r.Next(t.Context())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		seen += rec.NumRows()
		if rows, bytes := c.Load(); rows != seen || bytes > totalBytes {
			t.Errorf("after %d rows returned the counter says %d rows, %d bytes (total %d bytes)", seen, rows, bytes, totalBytes)
		}
		rec.Release()
	}
	if rows, bytes := c.Load(); rows != totalRows || bytes != totalBytes {
		t.Errorf("at the end the counter says %d rows, %d bytes; want the totals %d rows, %d bytes", rows, bytes, totalRows, totalBytes)
	}
}
