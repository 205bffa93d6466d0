package postgres_test

import (
	"context"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/cubesync/cubesync/sources/postgres"
)

// benchRows is the size of the benchmark table. The pipeline benchmark uses 5M rows;
// 1M keeps this one to seconds per iteration on a 2-core machine.
const benchRows = 1_000_000

// benchQuery reads the six columns the pipeline benchmark compares against raw COPY.
const benchQuery = "SELECT id, d, t, s, f, ts FROM bench6"

// benchTable creates bench6 (bigint, date, time, text, float8, timestamptz) with benchRows
// rows in a fresh database and returns its DSN. A real table, not generate_series in the
// query, so both benchmarks measure a sequential scan rather than materialising a function.
func benchTable(b *testing.B) string {
	b.Helper()
	dsn := setup(b,
		"CREATE TABLE bench6 (id bigint, d date, t time, s text, f float8, ts timestamptz)",
		`INSERT INTO bench6
		 SELECT g, DATE '2020-01-01' + g % 3650, TIME '00:00' + make_interval(secs => g % 86400 + 0.123456),
		        'customer ' || g, g * 1.25, TIMESTAMPTZ '2020-01-01 00:00:00Z' + make_interval(secs => g + 0.5)
		 FROM generate_series(1, `+strconv.Itoa(benchRows)+`) g`,
		"VACUUM ANALYZE bench6")
	return dsn
}

// BenchmarkPostgres6Col reads benchRows rows of six columns through the Reader into Arrow.
//
//	go test -run '^$' -bench 'Postgres6Col|CopyBinary' -benchtime 5x ./sources/postgres
func BenchmarkPostgres6Col(b *testing.B) {
	dsn := benchTable(b)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(b, 0)
	ctx := context.Background()

	var total time.Duration
	for b.Loop() {
		start := time.Now()
		r, err := postgres.Open(ctx, dsn, benchQuery, nil, postgres.Options{Allocator: mem})
		if err != nil {
			b.Fatal(err)
		}
		rows := int64(0)
		for {
			rec, err := r.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows += rec.NumRows()
			rec.Release()
		}
		if err := r.Close(); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		if rows != benchRows {
			b.Fatalf("read %d rows, want %d", rows, benchRows)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/total.Seconds(), "rows/s")
}

// BenchmarkCopyBinary sends the same query's result through COPY ... (FORMAT binary) into
// io.Discard: the floor the Reader is measured against.
func BenchmarkCopyBinary(b *testing.B) {
	dsn := benchTable(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)

	var total time.Duration
	for b.Loop() {
		start := time.Now()
		tag, err := conn.PgConn().CopyTo(ctx, io.Discard, "COPY ("+benchQuery+") TO STDOUT (FORMAT binary)")
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		if tag.RowsAffected() != benchRows {
			b.Fatalf("COPY sent %d rows, want %d", tag.RowsAffected(), benchRows)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/total.Seconds(), "rows/s")
}
