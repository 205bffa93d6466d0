package jobs_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/jobs/filestate"
	"github.com/cubesync/cubesync/sink"
	"github.com/cubesync/cubesync/sink/emulator"
)

// benchQuery reads the 6-column benchmark table: bigint, date, time, text, float8,
// timestamptz.
const benchQuery = "SELECT id, day, at_time, label, value, updated_at FROM bench"

// benchTable creates the benchmark table of rows rows in a fresh pgtest database (the
// same values as benchParquet) and returns the database's DSN.
func benchTable(b *testing.B, rows int) string {
	b.Helper()
	dsn := pgtest.DSN(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	start := time.Now()
	if _, err := conn.Exec(ctx, `CREATE TABLE bench AS SELECT
			i * 7919 AS id,
			date '2022-01-08' + (i % 3650)::int AS day,
			time '00:00' + (i % 86400) * interval '1 second' AS at_time,
			'customer-' || (i % 100000) AS label,
			i * 0.37::float8 AS value,
			timestamptz '2024-01-01 00:00:00+00' + i * interval '1.000003 second' AS updated_at
		FROM generate_series(0::int8, $1::int8 - 1) AS i`, rows); err != nil {
		b.Fatalf("create the benchmark table: %v", err)
	}
	// Hint bits set and statistics known now, so the first timed read does not pay for them.
	if _, err := conn.Exec(ctx, "VACUUM (FREEZE, ANALYZE) bench"); err != nil {
		b.Fatalf("vacuum the benchmark table: %v", err)
	}
	b.Logf("benchmark table of %d rows created in %s", rows, time.Since(start).Round(time.Millisecond))
	return dsn
}

// BenchmarkPostgresPath measures the Postgres → Arrow → JSON → base64 → emulator path on one
// 6-column table (CUBESYNC_BENCH_ROWS rows, created once per run of the benchmark binary)
// against Postgres's own fastest way out, in the same run:
//
//	copy      COPY (SELECT ...) TO STDOUT (FORMAT binary) into io.Discard (the baseline)
//	pipeline  the whole run-job path with chunk_size 100 MB (CUBESYNC_BENCH_CHUNK_SIZE): the query source, the encoder,
//	          base64, one upload session into the emulator in discard mode over loopback
//	          HTTP, published
//
// Each reports rows/s and peak-heap-B (HeapInuse sampled every 5ms); pipeline also
// reports x-copy, its time per run over the median time of the copy runs before it. Run
//
//	go test -run '^$' -bench BenchmarkPostgresPath -benchtime 3x -count 5 ./jobs/
//
// and compare the two with benchstat.
func BenchmarkPostgresPath(b *testing.B) {
	rows := benchRows(b)
	dsn := benchTable(b, rows)
	chunkSize := int(benchChunkSize(b))
	report := func(b *testing.B, peak float64, cpu time.Duration) float64 {
		secs := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(float64(rows)/secs, "rows/s")
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-sec/op")
		// In bytes: benchstat reads a "MB" unit as 10^6 bytes, and startPeakHeap gives MiB.
		b.ReportMetric(peak*(1<<20), "peak-heap-B")
		return secs
	}
	var copySecs []float64 // per run of the copy sub-benchmark; -count runs it repeatedly

	b.Run("copy", func(b *testing.B) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(ctx)
		var peak float64
		var cpu time.Duration
		for b.Loop() {
			p := startPeakHeap()
			tag, err := conn.PgConn().CopyTo(ctx, io.Discard, "COPY ("+benchQuery+") TO STDOUT (FORMAT binary)")
			peak = max(peak, p.end())
			cpu += p.cpu
			if err != nil {
				b.Fatal(err)
			}
			if tag.RowsAffected() != int64(rows) {
				b.Fatalf("COPY sent %d rows, want %d", tag.RowsAffected(), rows)
			}
		}
		copySecs = append(copySecs, report(b, peak, cpu))
	})

	// pipeline measures against the emulator validating every value in this process, on
	// the same two cores; pipeline-remote against a server that only drains the chunk
	// bodies, as a real server does on its own machine (the emulator still answers every
	// other call). The target is about the second: cubesync's own cost over COPY.
	for _, remote := range []bool{false, true} {
		name := "pipeline"
		if remote {
			name = "pipeline-remote"
		}
		b.Run(name, func(b *testing.B) {
			peak, cpu := runBenchPipeline(b, benchServer(b, remote), dsn, chunkSize, rows)
			secs := report(b, peak, cpu)
			if len(copySecs) > 0 {
				s := slices.Sorted(slices.Values(copySecs))
				b.ReportMetric(secs/s[len(s)/2], "x-copy")
			}
		})
	}
}

// benchServer starts the emulator in discard mode, validating every value, or with remote
// set behind drainChunks, and returns its URL; both stop when b ends.
func benchServer(b *testing.B, remote bool) string {
	emu, err := emulator.New(emulator.Options{Discard: true})
	if err != nil {
		b.Fatal(err)
	}
	var h http.Handler = emu
	if remote {
		h = drainChunks(emu)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(func() { srv.Close(); emu.Close() })
	return srv.URL
}

// benchRun is one run of a benchmark's job: a runner on a fresh state store in dir that
// pushes to the server at url, and the job bench loaded from a jobs file in dir: a target
// emu and what follows.
func benchRun(b *testing.B, url, jobsAfterTarget string) (*jobs.Runner, *jobs.Job, jobs.Store) {
	dir := b.TempDir()
	store, err := filestate.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	runner := &jobs.Runner{Store: store, Connect: func(ctx context.Context, t *jobs.Target) (*sink.Client, error) {
		cfg, err := t.ClientConfig(nil)
		if err != nil {
			return nil, err
		}
		cfg.BaseURL = url // the benchmark's server, whatever the config says
		return sink.NewClient(cfg)
	}}
	cfgPath := filepath.Join(dir, "jobs.toml")
	if err := os.WriteFile(cfgPath, []byte(`
[targets.emu]
base_url = "http://unused.invalid"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "bench"
password = "bench"
`+jobsAfterTarget), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := jobs.Load(cfgPath, func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	return runner, cfg.Jobs["bench"], store
}

// drainChunks answers chunk uploads (PUT …/uploadSessions/{id}) by reading and dropping the
// body, and hands every other call to next.
func drainChunks(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/uploadSessions/") {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusOK)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// runBenchPipeline runs the whole run-job path of the benchmark table b.N times against the
// server at url and returns the peak heap in use, in MiB.
func runBenchPipeline(b *testing.B, url, dsn string, chunkSize, rows int) (float64, time.Duration) {
	var peak float64
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		runner, job, store := benchRun(b, url, fmt.Sprintf(`
[sources.warehouse]
type = "postgres"
dsn = %q
[jobs.bench]
target = "emu"
chunk_size = "%d"
dataset = { name = "Bench" }
[[jobs.bench.tables]]
name = "facts"
policy = "replace"
source = "warehouse"
query = %q
`, dsn, chunkSize, benchQuery))
		b.StartTimer()

		p := startPeakHeap()
		res, err := runner.Run(context.Background(), job, jobs.RunOptions{})
		peak = max(peak, p.end())
		cpu += p.cpu
		if err != nil {
			b.Fatal(err)
		}
		if got := res.Tables[0].Rows; got != int64(rows) {
			b.Fatalf("run pushed %d rows, want %d", got, rows)
		}
		b.StopTimer()
		store.Close()
		b.StartTimer()
	}
	return peak, cpu
}
