package parquetfile

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// peakAllocator tracks the most bytes held at once through it.
type peakAllocator struct {
	memory.Allocator
	mu        sync.Mutex
	cur, peak int
}

func (a *peakAllocator) add(n int) {
	a.mu.Lock()
	a.cur += n
	a.peak = max(a.peak, a.cur)
	a.mu.Unlock()
}

func (a *peakAllocator) Allocate(size int) []byte {
	a.add(size)
	return a.Allocator.Allocate(size)
}

func (a *peakAllocator) Reallocate(size int, b []byte) []byte {
	a.add(size - len(b))
	return a.Allocator.Reallocate(size, b)
}

func (a *peakAllocator) Free(b []byte) {
	a.add(-len(b))
	a.Allocator.Free(b)
}

// BenchmarkRead reads a 1M-row file of the 6-column shape of issue 3's benchmarks (bigint,
// date, time, text, float8, timestamptz) and reports rows/s and the peak bytes of Arrow
// memory held, which must stay near one batch however large the file.
//
//	go test -run '^$' -bench BenchmarkRead -benchtime 5x ./sources/parquetfile/
func BenchmarkRead(b *testing.B) {
	const rows = 1_000_000
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "at", Type: arrow.FixedWidthTypes.Time64us, Nullable: true},
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	}, nil)
	path := filepath.Join(b.TempDir(), "big.parquet")
	writeFile(b, memory.DefaultAllocator, path, sc, 0, rows, 256*1024)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("1M rows", func(b *testing.B) {
		b.SetBytes(st.Size())
		mem := &peakAllocator{Allocator: memory.NewGoAllocator()}
		for b.Loop() {
			r, err := Open(context.Background(), path, "", Options{Allocator: mem})
			if err != nil {
				b.Fatal(err)
			}
			n := int64(0)
			for {
				rec, err := r.Next(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				n += rec.NumRows()
				rec.Release()
			}
			if err := r.Close(); err != nil {
				b.Fatal(err)
			}
			if n != rows {
				b.Fatalf("read %d rows, want %d", n, rows)
			}
		}
		b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(mem.peak)/(1<<20), "peak-arrow-MiB")
		b.ReportMetric(float64(st.Size())/(1<<20), "file-MiB")
	})
}
