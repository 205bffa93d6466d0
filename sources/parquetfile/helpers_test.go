package parquetfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// allTypes has one column of every Arrow type the push carries that Parquet stores as such.
var allTypes = arrow.NewSchema([]arrow.Field{
	{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "i64", Type: arrow.PrimitiveTypes.Int64},
	{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
	{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "f16", Type: arrow.FixedWidthTypes.Float16, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "dec128", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
	{Name: "dec256", Type: &arrow.Decimal256Type{Precision: 40, Scale: 5}, Nullable: true},
	{Name: "flag", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "dict", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, Nullable: true},
	{Name: "d32", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "t32ms", Type: arrow.FixedWidthTypes.Time32ms, Nullable: true},
	{Name: "t64us", Type: arrow.FixedWidthTypes.Time64us, Nullable: true},
	{Name: "t64ns", Type: arrow.FixedWidthTypes.Time64ns, Nullable: true},
	{Name: "ts_us", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
	{Name: "ts_ms_berlin", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "Europe/Berlin"}, Nullable: true},
	{Name: "ts_ns_utc", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, Nullable: true},
}, nil)

var regions = []string{"north", "south", "east", "west", "überall ✓"}

// buildRows makes rows [start, start+n) of sc. Values derive from the row number, so any
// reader can recompute them; nullable columns are null on every seventh row. An int64 column
// named id holds the row number.
func buildRows(tb testing.TB, mem memory.Allocator, sc *arrow.Schema, start, n int) arrow.RecordBatch {
	tb.Helper()
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	for row := start; row < start+n; row++ {
		for c, fb := range b.Fields() {
			if sc.Field(c).Name == "id" && sc.Field(c).Type.ID() == arrow.INT64 {
				fb.(*array.Int64Builder).Append(int64(row))
				continue
			}
			if sc.Field(c).Nullable && (row+c)%7 == 3 {
				fb.AppendNull()
				continue
			}
			appendValue(tb, fb, row)
		}
	}
	return b.NewRecordBatch()
}

func appendValue(tb testing.TB, b array.Builder, row int) {
	tb.Helper()
	i := int64(row)
	switch b := b.(type) {
	case *array.Int8Builder:
		b.Append(int8(i%256 - 128))
	case *array.Int16Builder:
		b.Append(int16(i*37%65536 - 32768))
	case *array.Int32Builder:
		b.Append(int32(i*7919 - 1<<30))
	case *array.Int64Builder:
		b.Append(i*1_000_000_007 - 1<<62)
	case *array.Uint8Builder:
		b.Append(uint8(i % 256))
	case *array.Uint16Builder:
		b.Append(uint16(i * 31 % 65536))
	case *array.Uint32Builder:
		b.Append(uint32(4_000_000_000 - i))
	case *array.Float16Builder:
		b.Append(float16.New(float32(i%1000) / 8))
	case *array.Float32Builder:
		b.Append(float32(i) * 0.1)
	case *array.Float64Builder:
		b.Append(float64(i)/3 - 1e9)
	case *array.Decimal128Builder:
		b.Append(decimal128.FromI64(i*12345 - 5_000_000))
	case *array.Decimal256Builder:
		b.Append(decimal256.FromI64(i * -987_654_321_987))
	case *array.BooleanBuilder:
		b.Append(i%3 == 0)
	case *array.StringBuilder:
		b.Append(fmt.Sprintf("row %d, \"quoted\" ✓", i))
	case *array.LargeStringBuilder:
		b.Append(fmt.Sprintf("large %d", i))
	case *array.BinaryDictionaryBuilder:
		if err := b.AppendString(regions[i%int64(len(regions))]); err != nil {
			tb.Fatalf("append dictionary value: %v", err)
		}
	case *array.Date32Builder:
		b.Append(arrow.Date32(19000 + i%2000))
	case *array.Time32Builder:
		b.Append(arrow.Time32(i * 1001 % 86_400_000))
	case *array.Time64Builder:
		b.Append(arrow.Time64(i * 1_000_003 % 86_400_000_000))
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(1_700_000_000_000 + i*3_600_001))
	case *array.BinaryBuilder:
		b.Append([]byte{byte(i), 0xff})
	case *array.Uint64Builder:
		b.Append(uint64(i) << 40)
	case *array.ListBuilder:
		b.Append(true)
		b.ValueBuilder().(*array.Int32Builder).Append(int32(i))
	case *array.StructBuilder:
		b.Append(true)
		b.FieldBuilder(0).(*array.Int32Builder).Append(int32(i))
	default:
		tb.Fatalf("appendValue: no value for builder %T", b)
	}
}

// writeFile writes rows [start, start+n) of sc to path as Parquet, rowGroup rows per row
// group, with the Arrow schema stored so dictionaries and time zones survive.
func writeFile(tb testing.TB, mem memory.Allocator, path string, sc *arrow.Schema, start, n, rowGroup int) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w, err := pqarrow.NewFileWriter(sc, f,
		parquet.NewWriterProperties(parquet.WithAllocator(mem), parquet.WithMaxRowGroupLength(int64(rowGroup)), parquet.WithCompression(compress.Codecs.Snappy)),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(mem)))
	if err != nil {
		tb.Fatalf("new parquet writer for %s: %v", path, err)
	}
	// Write in slices so row groups of rowGroup rows are cut however large n is.
	const step = 50_000
	for s := start; s < start+n; s += step {
		rec := buildRows(tb, mem, sc, s, min(step, start+n-s))
		err := w.WriteBuffered(rec)
		rec.Release()
		if err != nil {
			tb.Fatalf("write %s: %v", path, err)
		}
		if rows, _ := w.RowGroupNumRows(); rows >= rowGroup {
			w.NewBufferedRowGroup()
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatalf("close %s: %v", path, err)
	}
}

// readAll reads r to the end and returns its batches; the caller releases them.
func readAll(tb testing.TB, r *Reader) []arrow.RecordBatch {
	tb.Helper()
	var out []arrow.RecordBatch
	for {
		rec, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			releaseAll(out)
			tb.Fatalf("Next: %v", err)
		}
		out = append(out, rec)
	}
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// rowStrings renders the rows of recs, one string per cell, nulls as "<null>", so values can
// be compared whatever the batch boundaries and dictionaries.
func rowStrings(recs []arrow.RecordBatch) [][]string {
	var rows [][]string
	for _, rec := range recs {
		for i := range int(rec.NumRows()) {
			row := make([]string, rec.NumCols())
			for c, col := range rec.Columns() {
				if col.IsNull(i) {
					row[c] = "<null>"
					continue
				}
				row[c] = col.ValueStr(i)
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// mustOpen opens pattern or fails the test; the caller closes the Reader (before asserting
// the allocator is empty).
func mustOpen(tb testing.TB, pattern, baseDir string, opts Options) *Reader {
	tb.Helper()
	r, err := Open(context.Background(), pattern, baseDir, opts)
	if err != nil {
		tb.Fatalf("Open(%q, %q): %v", pattern, baseDir, err)
	}
	return r
}
