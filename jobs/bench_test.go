package jobs_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/cubesync/cubesync/internal/benchdata"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/sink"
	"github.com/cubesync/cubesync/sources/parquetfile"
)

// benchRows is the size of the benchmark table: CUBESYNC_BENCH_ROWS, default 1 million.
func benchRows(b *testing.B) int {
	if s := os.Getenv("CUBESYNC_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("CUBESYNC_BENCH_ROWS=%q: %v", s, err)
		}
		return n
	}
	return 1_000_000
}

// benchChunkSize is the chunk size of the benchmark runs: CUBESYNC_BENCH_CHUNK_SIZE bytes,
// default 100 MB (the default of chunk_size).
func benchChunkSize(b *testing.B) int64 {
	if s := os.Getenv("CUBESYNC_BENCH_CHUNK_SIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatalf("CUBESYNC_BENCH_CHUNK_SIZE=%q: %v", s, err)
		}
		return n
	}
	return 100_000_000
}

var benchFileOnce sync.Map // rows → path

// benchParquet writes (once per rows count, cached in the temp dir) the 6-column benchmark
// table: bigint, date, time, text, float8, timestamptz, in row groups of 128Ki rows.
func benchParquet(b *testing.B, rows int) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("cubesync-bench-%d.parquet", rows))
	if _, ok := benchFileOnce.Load(rows); ok {
		return path
	}
	if _, err := os.Stat(path); err == nil {
		benchFileOnce.Store(rows, path)
		return path
	}
	schema := benchdata.Schema(false)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		b.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(128*1024)), pqarrow.DefaultWriterProps())
	if err != nil {
		b.Fatal(err)
	}
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	defer bld.Release()
	const batch = 64 * 1024
	for start := 0; start < rows; start += batch {
		benchdata.AppendRows(bld, start, min(start+batch, rows))
		rec := bld.NewRecordBatch()
		if err := w.WriteBuffered(rec); err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	benchFileOnce.Store(rows, path)
	return path
}

// peakHeap samples the heap while it runs and keeps the greatest values seen: in use
// (live objects plus garbage not yet collected, plus unused span space: what GOGC lets
// grow) and live (what the last garbage collection found reachable).
type peakHeap struct {
	stop  chan struct{}
	done  chan struct{}
	inuse atomic.Uint64
	live  atomic.Uint64
	cpu0  time.Duration // the process's CPU time (user+sys) at the start
	cpu   time.Duration // CPU time used between the start and end
}

// processCPU is the CPU time (user+sys) this process has used so far: on a loaded machine
// a steadier measure of cost than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startPeakHeap() *peakHeap {
	runtime.GC()
	p := &peakHeap{stop: make(chan struct{}), done: make(chan struct{}), cpu0: processCPU()}
	go func() {
		defer close(p.done)
		// runtime/metrics, unlike ReadMemStats, does not stop the world at every sample, so
		// the sampler does not slow down what it measures. objects+unused = HeapInuse.
		samples := []metrics.Sample{
			{Name: "/memory/classes/heap/objects:bytes"},
			{Name: "/memory/classes/heap/unused:bytes"},
			{Name: "/gc/heap/live:bytes"},
		}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			if v := samples[0].Value.Uint64() + samples[1].Value.Uint64(); v > p.inuse.Load() {
				p.inuse.Store(v)
			}
			if v := samples[2].Value.Uint64(); v > p.live.Load() {
				p.live.Store(v)
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// end stops sampling and returns the peak heap in use, in MiB.
func (p *peakHeap) end() float64 {
	p.cpu = processCPU() - p.cpu0
	close(p.stop)
	<-p.done
	return float64(p.inuse.Load()) / (1 << 20)
}

// peakLive is the peak live heap in MiB, valid after end.
func (p *peakHeap) peakLive() float64 { return float64(p.live.Load()) / (1 << 20) }

// BenchmarkParquetPath measures the Parquet → Arrow → JSON → base64 → emulator path on the
// 6-column table, against its own baseline in the same run:
//
//	read        Parquet → Arrow record batches, discarded (the baseline)
//	encode      + column-oriented JSON chunks, base64-encoded into io.Discard, with the
//	            run's two goroutines (read+encode, base64)
//	emulator    the whole run-job path: one upload session into the emulator in discard
//	            mode over loopback HTTP, published (the emulator validates every value, on
//	            the same cores)
//	remote      the same into a server that only drains the chunk bodies, as a real server
//	            does on its own machine: cubesync's own cost
//
// Compare the ns/op of the three (benchstat) for the cost of each stage. rows/s, MB/s (of
// JSON), peak-heap-B (in use, garbage included) and peak-live-B (reachable at the last
// collection) are reported per sub-benchmark. Rows: CUBESYNC_BENCH_ROWS.
func BenchmarkParquetPath(b *testing.B) {
	rows := benchRows(b)
	path := benchParquet(b, rows)
	chunkSize := benchChunkSize(b)
	report := func(b *testing.B, peak, live float64, jsonBytes int64, cpu time.Duration) {
		secs := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(float64(rows)/secs, "rows/s")
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-sec/op")
		if jsonBytes > 0 {
			b.ReportMetric(float64(jsonBytes)/secs/1e6, "jsonMB/s")
		}
		// In bytes: benchstat reads a "MB" unit as 10^6 bytes.
		b.ReportMetric(peak*(1<<20), "peak-heap-B")
		b.ReportMetric(live*(1<<20), "peak-live-B")
	}

	b.Run("read", func(b *testing.B) {
		var peak, live float64
		var cpu time.Duration
		for b.Loop() {
			p := startPeakHeap()
			r, err := parquetfile.Open(context.Background(), path, "", parquetfile.Options{})
			if err != nil {
				b.Fatal(err)
			}
			eachBatch(b, r, func(arrow.RecordBatch) error { return nil })
			r.Close()
			peak = max(peak, p.end())
			live = max(live, p.peakLive())
			cpu += p.cpu
		}
		report(b, peak, live, 0, cpu)
	})

	b.Run("encode", func(b *testing.B) {
		var peak, live float64
		var cpu time.Duration
		var jsonBytes int64
		for b.Loop() {
			p := startPeakHeap()
			r, err := parquetfile.Open(context.Background(), path, "", parquetfile.Options{})
			if err != nil {
				b.Fatal(err)
			}
			var cols []sink.EncodeColumn
			for i, f := range r.Schema().Fields() {
				dt, _ := sink.MapType(f.Type)
				cols = append(cols, sink.EncodeColumn{Index: i, Name: f.Name, Type: dt})
			}
			enc, err := sink.NewEncoder(r.Schema(), cols, chunkSize)
			if err != nil {
				b.Fatal(err)
			}
			// As in a run: reading and encoding on one goroutine, base64 (the client's part
			// of an upload) on another, chunks handed over unbuffered.
			chunks := make(chan *sink.Chunk)
			sent := make(chan error, 1)
			go func() {
				var err error
				for c := range chunks {
					bw := bufio.NewWriterSize(io.Discard, 64<<10)
					w := base64.NewEncoder(base64.StdEncoding, bw)
					if _, werr := c.WriteTo(w); werr != nil && err == nil {
						err = werr
					}
					w.Close()
					bw.Flush()
					c.Release()
				}
				sent <- err
			}()
			emit := func(c *sink.Chunk) error {
				chunks <- c
				return nil
			}
			eachBatch(b, r, func(rec arrow.RecordBatch) error { return enc.Write(rec, emit) })
			if err := enc.Flush(emit); err != nil {
				b.Fatal(err)
			}
			close(chunks)
			if err := <-sent; err != nil {
				b.Fatal(err)
			}
			r.Close()
			jsonBytes = enc.Stats().Bytes
			peak = max(peak, p.end())
			live = max(live, p.peakLive())
			cpu += p.cpu
		}
		report(b, peak, live, jsonBytes, cpu)
	})

	for _, remote := range []bool{false, true} {
		name := "emulator"
		if remote {
			name = "remote" // the server only drains chunk bodies, as on its own machine
		}
		b.Run(name, func(b *testing.B) { benchParquetRun(b, path, chunkSize, rows, remote, report) })
	}
}

// benchParquetRun is BenchmarkParquetPath's whole-run sub-benchmark: the run-job path into
// the emulator in discard mode, validating every value (on the same cores), or with
// remote set into a server that drains the chunk bodies (see drainChunks).
func benchParquetRun(b *testing.B, path string, chunkSize int64, rows int, remote bool, report func(*testing.B, float64, float64, int64, time.Duration)) {
	{
		url := benchServer(b, remote)
		var peak, live float64
		var cpu time.Duration
		var jsonBytes int64
		for b.Loop() {
			runner, job, store := benchRun(b, url, fmt.Sprintf(`
[jobs.bench]
target = "emu"
chunk_size = "%d"
dataset = { name = "Bench" }
[[jobs.bench.tables]]
name = "facts"
policy = "replace"
parquet = %q
`, chunkSize, path))
			p := startPeakHeap()
			res, err := runner.Run(context.Background(), job, jobs.RunOptions{})
			peak = max(peak, p.end())
			live = max(live, p.peakLive())
			cpu += p.cpu
			if err != nil {
				b.Fatal(err)
			}
			jsonBytes = res.Tables[0].Bytes
			store.Close()
		}
		report(b, peak, live, jsonBytes, cpu)
	}
}

// eachBatch reads r to its end and hands every record batch to f, which must not keep it;
// an error from either ends the benchmark.
func eachBatch(b *testing.B, r *parquetfile.Reader, f func(arrow.RecordBatch) error) {
	for {
		rec, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			b.Fatal(err)
		}
		err = f(rec)
		rec.Release()
		if err != nil {
			b.Fatal(err)
		}
	}
}
