package jobs_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/cubesync/cubesync/jobs"
)

// TestPooledBuffersPushWhatFreshBuffersPush pushes a Parquet file and a query of several
// record batches each with the runner's default allocator, which reuses the buffers of
// released batches, and with fresh Go buffers for every batch, and compares the published
// tables value by value: a buffer reused while a batch still needed it would show as
// changed values.
func TestPooledBuffersPushWhatFreshBuffersPush(t *testing.T) {
	const rows = 150_000 // a few batches
	w := newWarehouse(t)
	w.exec(t, `CREATE TABLE facts AS SELECT
		i::bigint AS id,
		CASE WHEN i % 7 = 0 THEN NULL ELSE 'label "' || i || '"' END AS label,
		i * 0.37::float8 AS value,
		date '2024-01-01' + i % 400 AS day,
		timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second 7 microseconds' AS at
		FROM generate_series(1, `+strconv.Itoa(rows)+`) AS i`)

	dir := t.TempDir()
	mem := memory.NewGoAllocator()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "label", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "value", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	for i := 1; i <= rows; i++ {
		bld.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%7 == 0 {
			bld.Field(1).AppendNull()
		} else {
			bld.Field(1).(*array.StringBuilder).Append("label " + strconv.Itoa(i*31))
		}
		bld.Field(2).(*array.Float64Builder).Append(float64(i) * 0.37)
	}
	rec := bld.NewRecordBatch()
	bld.Release()
	path := writeParquet(t, dir, "facts.parquet", rec)
	rec.Release()

	tables := map[string]string{
		"parquet": fmt.Sprintf("parquet = %q\n", filepath.ToSlash(path)),
		"query":   "source = \"warehouse\"\nquery = \"SELECT * FROM facts ORDER BY id\"\n",
	}
	for name, table := range tables {
		t.Run(name, func(t *testing.T) {
			push := func(pooled bool) []string {
				t.Helper()
				b := setup(t)
				if pooled {
					b.runner.Allocator = nil // the default: a pool per table
				}
				job := b.job(t, "facts", w.source()+`
[jobs.facts]
target = "emu"
dataset = { name = "Facts" }
chunk_size = "1MiB"
[[jobs.facts.tables]]
name = "facts"
policy = "replace"
`+table)
				res, err := b.runner.Run(context.Background(), job, jobs.RunOptions{})
				if err != nil {
					t.Fatalf("run (pooled %v): %v", pooled, err)
				}
				if got := res.Tables[0].Rows; got != rows {
					t.Fatalf("run (pooled %v) pushed %d rows, want %d", pooled, got, rows)
				}
				return b.rows(t, res.DatasetID, "facts")
			}
			want, got := push(false), push(true)
			if len(got) != len(want) {
				t.Fatalf("pooled buffers pushed %d rows, fresh ones %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("row %d pushed with pooled buffers is %q, with fresh ones %q", i, got[i], want[i])
				}
			}
		})
	}
}
