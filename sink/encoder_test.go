package sink

// Tests of the encoder, one cohesive thing kept in one file: golden JSON for every type,
// chunk cutting, stats, value errors and their advice, flushing, allocations per chunk,
// and the parallel renderer giving the same bytes as the serial one.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// column is one test column: its Arrow type, the pushed dataType ("" for MapType's) and a
// func appending its values to a builder of that type.
type column struct {
	name     string
	typ      arrow.DataType
	override DataType
	build    func(b array.Builder)
	// make, when set, builds the array instead of build (for types without a builder).
	make func(mem memory.Allocator) arrow.Array
}

// newRecord builds a record of the given columns on mem; every build must append the
// same number of rows.
func newRecord(t testing.TB, mem memory.Allocator, cols ...column) arrow.RecordBatch {
	t.Helper()
	fields := make([]arrow.Field, len(cols))
	arrs := make([]arrow.Array, len(cols))
	for i, c := range cols {
		if c.make != nil {
			arrs[i] = c.make(mem)
		} else {
			b := array.NewBuilder(mem, c.typ)
			c.build(b)
			arrs[i] = b.NewArray()
			b.Release()
		}
		fields[i] = arrow.Field{Name: c.name, Type: c.typ, Nullable: true}
		if i > 0 && arrs[i].Len() != arrs[0].Len() {
			t.Fatalf("column %q has %d rows, column %q has %d", c.name, arrs[i].Len(), cols[0].name, arrs[0].Len())
		}
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, int64(arrs[0].Len()))
	for _, a := range arrs {
		a.Release()
	}
	return rec
}

// encodeColumns are EncodeColumns for every field of the test columns, in order.
func encodeColumns(cols ...column) []EncodeColumn {
	out := make([]EncodeColumn, len(cols))
	for i, c := range cols {
		out[i] = EncodeColumn{Index: i, Name: c.name, Type: c.override}
	}
	return out
}

// collect returns an emit func that keeps a copy of every chunk's JSON and row count
// and releases the chunk.
func collect(docs *[][]byte, rows *[]int) func(*Chunk) error {
	return func(ch *Chunk) error {
		*docs = append(*docs, ch.Bytes())
		if rows != nil {
			*rows = append(*rows, ch.Rows())
		}
		ch.Release()
		return nil
	}
}

// encodeAll writes recs through a new encoder and returns the chunks' JSON documents.
func encodeAll(t testing.TB, chunkSize int64, cols []EncodeColumn, recs ...arrow.RecordBatch) ([][]byte, EncodeStats) {
	t.Helper()
	enc, err := NewEncoder(recs[0].Schema(), cols, chunkSize)
	if err != nil {
		t.Fatalf("NewEncoder: %v", err)
	}
	var docs [][]byte
	for _, rec := range recs {
		if err := enc.Write(rec, collect(&docs, nil)); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if err := enc.Flush(collect(&docs, nil)); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return docs, enc.Stats()
}

func appendAll[T any](app func(T), nulls func(int)) func(vals ...any) {
	return func(vals ...any) {
		for _, v := range vals {
			if v == nil {
				nulls(1)
				continue
			}
			app(v.(T))
		}
	}
}

// values returns a build func appending vals, nil meaning null, to a builder whose
// Append takes T.
func values[T any](vals ...any) func(array.Builder) {
	return func(b array.Builder) {
		app, ok := any(b).(interface{ Append(T) })
		if !ok {
			panic(fmt.Sprintf("%T has no Append(%T)", b, *new(T)))
		}
		appendAll(app.Append, b.AppendNulls)(vals...)
	}
}

// stringValues appends strings (nil meaning null) to any string-like or dictionary builder.
func stringValues(vals ...any) func(array.Builder) {
	return func(b array.Builder) {
		for _, v := range vals {
			switch b := b.(type) {
			case interface{ AppendString(string) }:
				if v != nil {
					b.AppendString(v.(string))
					continue
				}
			case interface{ AppendString(string) error }:
				if v != nil {
					if err := b.AppendString(v.(string)); err != nil {
						panic(err)
					}
					continue
				}
			default:
				panic(fmt.Sprintf("%T has no AppendString", b))
			}
			b.AppendNull()
		}
	}
}

func halfBits(bits ...any) func(array.Builder) {
	return func(b array.Builder) {
		for _, v := range bits {
			if v == nil {
				b.AppendNull()
				continue
			}
			b.(*array.Float16Builder).Append(float16.FromBits(uint16(v.(int))))
		}
	}
}

func dec128(s string) decimal128.Num {
	n, err := decimal128.FromString(s, 38, 0)
	if err != nil {
		panic(err)
	}
	return n
}

func dec256(s string) decimal256.Num {
	n, err := decimal256.FromString(s, 76, 0)
	if err != nil {
		panic(err)
	}
	return n
}

var (
	day   = int64(86400)
	utc   = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	naive = &arrow.TimestampType{Unit: arrow.Microsecond}
)

// goldenCases are one column each; their chunk JSON is compared with
// testdata/golden/NAME.json. The goldens are the rendering contract of product.md's type
// table: review a diff in them as a change of what users' datasets receive.
var goldenCases = []column{
	{name: "int8", typ: arrow.PrimitiveTypes.Int8, build: values[int8](int8(-128), int8(0), int8(127), nil)},
	{name: "int16", typ: arrow.PrimitiveTypes.Int16, build: values[int16](int16(-32768), int16(7), int16(32767), nil)},
	{name: "int32", typ: arrow.PrimitiveTypes.Int32, build: values[int32](int32(math.MinInt32), int32(-1), int32(math.MaxInt32), nil)},
	{name: "uint8", typ: arrow.PrimitiveTypes.Uint8, build: values[uint8](uint8(0), uint8(255), nil)},
	{name: "uint16", typ: arrow.PrimitiveTypes.Uint16, build: values[uint16](uint16(0), uint16(65535), nil)},
	{name: "int64", typ: arrow.PrimitiveTypes.Int64, build: values[int64](int64(math.MinInt64), int64(9007199254740993), int64(math.MaxInt64), int64(0), nil)},
	{name: "uint32", typ: arrow.PrimitiveTypes.Uint32, build: values[uint32](uint32(0), uint32(math.MaxUint32), nil)},
	{name: "float64", typ: arrow.PrimitiveTypes.Float64, build: values[float64](
		0.1, 1.0, -2.5, 100.0, 123456789.125, 1e20, 1e21, 1.5e300, 1e-6, 1e-7, 5e-324, math.MaxFloat64,
		math.Copysign(0, -1), 0.0, math.NaN(), math.Inf(1), math.Inf(-1), nil)},
	{name: "float32", typ: arrow.PrimitiveTypes.Float32, build: values[float32](
		float32(0.1), float32(1.0/3), float32(16777216), float32(3.4028235e38), float32(1e-7), float32(1.4e-45),
		float32(2.5), float32(math.NaN()), float32(math.Inf(-1)), nil)},
	// 0x2e66 is the half nearest 0.1, 0x3555 the nearest 1/3, 0x7bff the largest (65504),
	// 0x0001 the smallest subnormal, 0x7c00 +Inf, 0x7e00 NaN.
	{name: "float16", typ: arrow.FixedWidthTypes.Float16, build: halfBits(0x2e66, 0x3555, 0x7bff, 0x0001, 0x3c00, 0xc100, 0x8000, 0x7c00, 0x7e00, nil)},
	{name: "decimal128", typ: &arrow.Decimal128Type{Precision: 10, Scale: 2}, build: values[decimal128.Num](
		decimal128.FromI64(-5), decimal128.FromI64(12345), decimal128.FromI64(0), decimal128.FromI64(-100000), decimal128.FromI64(7), nil)},
	{name: "decimal128_scale4", typ: &arrow.Decimal128Type{Precision: 7, Scale: 4}, build: values[decimal128.Num](
		decimal128.FromI64(1234500), decimal128.FromI64(-1), nil)},
	{name: "decimal128_38digits", typ: &arrow.Decimal128Type{Precision: 38, Scale: 10}, build: values[decimal128.Num](
		dec128("99999999999999999999999999999999999999"), dec128("-99999999999999999999999999999999999999"),
		dec128("18446744073709551616"), dec128("-18446744073709551616"))},
	{name: "decimal128_negative_scale", typ: &arrow.Decimal128Type{Precision: 5, Scale: -3}, build: values[decimal128.Num](
		decimal128.FromI64(12), decimal128.FromI64(-4), decimal128.FromI64(0))},
	{name: "decimal256", typ: &arrow.Decimal256Type{Precision: 76, Scale: 20}, build: values[decimal256.Num](
		dec256("9999999999999999999999999999999999999999999999999999999999999999999999999999"),
		dec256("-1"), dec256("100000000000000000000"), nil)},
	{name: "decimal32", typ: &arrow.Decimal32Type{Precision: 9, Scale: 3}, build: values[decimal.Decimal32](
		decimal.Decimal32(-1500), decimal.Decimal32(999999999), decimal.Decimal32(0), nil)},
	{name: "decimal64", typ: &arrow.Decimal64Type{Precision: 18, Scale: 6}, build: values[decimal.Decimal64](
		decimal.Decimal64(-1), decimal.Decimal64(123456789012345678), nil)},
	{name: "bool", typ: arrow.FixedWidthTypes.Boolean, build: values[bool](true, false, nil)},
	{name: "string", typ: arrow.BinaryTypes.String, build: stringValues(
		"plain", "", "quote \" backslash \\ slash /", "tab\tnewline\nreturn\rbell\x07nul\x00esc\x1bdel\x7f",
		"ünïcödé 日本 🎉", "line\u2028para\u2029", "bad \xff\xfe byte", "cut \xe6\x97", nil)},
	{name: "large_string", typ: arrow.BinaryTypes.LargeString, build: stringValues("a", "b\"c", nil, "\xc0")},
	{name: "string_view", typ: arrow.BinaryTypes.StringView, build: stringValues("short", "a string longer than twelve bytes", nil, "\\")},
	{name: "dictionary_int8_string", typ: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String},
		build: stringValues("red", "green", "red", nil, "blue \"b\"", "green")},
	{name: "dictionary_uint32_large_string", typ: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Uint32, ValueType: arrow.BinaryTypes.LargeString},
		make: func(mem memory.Allocator) arrow.Array {
			// arrow-go has no builder for dictionaries of large strings.
			ib := array.NewUint32Builder(mem)
			defer ib.Release()
			ib.AppendValues([]uint32{0, 1, 0, 0, 2}, []bool{true, true, false, true, true})
			idx := ib.NewArray()
			defer idx.Release()
			db := array.NewLargeStringBuilder(mem)
			defer db.Release()
			db.AppendValues([]string{"x", "y\n", ""}, []bool{true, true, false})
			dict := db.NewArray()
			defer dict.Release()
			return array.NewDictionaryArray(&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Uint32, ValueType: arrow.BinaryTypes.LargeString}, idx, dict)
		}},
	{name: "uuid", typ: extensions.NewUUIDType(), build: func(b array.Builder) {
		ub := b.(*extensions.UUIDBuilder)
		ub.AppendBytes([16]byte{0x01, 0x91, 0xe3, 0xc4, 0x5d, 0x6e, 0x7f, 0x80, 0x9a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x6a, 0x7b})
		ub.AppendNull()
		ub.AppendBytes([16]byte{})
	}},
	{name: "date32", typ: arrow.FixedWidthTypes.Date32, build: values[arrow.Date32](
		arrow.Date32(19753), arrow.Date32(0), arrow.Date32(-1), arrow.Date32(11016), arrow.Date32(-719528),
		arrow.Date32(-719529), arrow.Date32(-735887), arrow.Date32(2932897), arrow.Date32(math.MaxInt32), arrow.Date32(math.MinInt32), nil)},
	{name: "date64", typ: arrow.FixedWidthTypes.Date64, build: values[arrow.Date64](
		arrow.Date64(19753*day*1000), arrow.Date64(-day*1000), arrow.Date64(-1), nil)},
	{name: "time32_s", typ: arrow.FixedWidthTypes.Time32s, build: values[arrow.Time32](
		arrow.Time32(13*3600+45*60), arrow.Time32(0), arrow.Time32(86399), arrow.Time32(86400), nil)},
	{name: "time32_ms", typ: arrow.FixedWidthTypes.Time32ms, build: values[arrow.Time32](
		arrow.Time32(49500000), arrow.Time32(49500500), arrow.Time32(49500123), arrow.Time32(1), nil)},
	{name: "time64_us", typ: arrow.FixedWidthTypes.Time64us, build: values[arrow.Time64](
		arrow.Time64(49500000000), arrow.Time64(49500123456), arrow.Time64(49500500000), arrow.Time64(86399999999), arrow.Time64(1), nil)},
	{name: "time64_ns", typ: arrow.FixedWidthTypes.Time64ns, build: values[arrow.Time64](
		arrow.Time64(49500000000000), arrow.Time64(49500123456789), arrow.Time64(49500000000010), nil)},
	{name: "timestamp_s", typ: &arrow.TimestampType{Unit: arrow.Second}, build: values[arrow.Timestamp](
		arrow.Timestamp(1706708700), arrow.Timestamp(0), arrow.Timestamp(-1), arrow.Timestamp(253402300799), arrow.Timestamp(253402300800), nil)},
	{name: "timestamp_ms", typ: &arrow.TimestampType{Unit: arrow.Millisecond}, build: values[arrow.Timestamp](
		arrow.Timestamp(1706708700123), arrow.Timestamp(-1), nil)},
	{name: "timestamp_us", typ: naive, build: values[arrow.Timestamp](
		arrow.Timestamp(1706708700000000), arrow.Timestamp(1706708700123456), arrow.Timestamp(1706708700100000), arrow.Timestamp(-1), nil)},
	// Zoned timestamps hold the UTC instant: 1706708700 is 2024-01-31T13:45:00Z, which is
	// 08:45 in New York; the instant is pushed in UTC whatever the zone.
	{name: "timestamp_us_utc", typ: utc, build: values[arrow.Timestamp](arrow.Timestamp(1706708700000000), nil)},
	{name: "timestamp_ns_new_york", typ: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "America/New_York"}, build: values[arrow.Timestamp](
		arrow.Timestamp(1706708700000000001), arrow.Timestamp(math.MinInt64), arrow.Timestamp(math.MaxInt64), nil)},

	// Overrides.
	{name: "int64_as_string", typ: arrow.PrimitiveTypes.Int64, override: String, build: values[int64](int64(-42), int64(math.MaxInt64), nil)},
	{name: "float64_as_string", typ: arrow.PrimitiveTypes.Float64, override: String, build: values[float64](0.1, 1e21, math.NaN(), nil)},
	{name: "decimal128_as_string", typ: &arrow.Decimal128Type{Precision: 10, Scale: 2}, override: String, build: values[decimal128.Num](decimal128.FromI64(-5), nil)},
	{name: "bool_as_string", typ: arrow.FixedWidthTypes.Boolean, override: String, build: values[bool](true, false, nil)},
	{name: "date32_as_string", typ: arrow.FixedWidthTypes.Date32, override: String, build: values[arrow.Date32](arrow.Date32(19753), nil)},
	{name: "int64_as_integer", typ: arrow.PrimitiveTypes.Int64, override: Integer, build: values[int64](int64(math.MinInt32), int64(math.MaxInt32), nil)},
	{name: "uint64_as_biginteger", typ: arrow.PrimitiveTypes.Uint64, override: BigInteger, build: values[uint64](uint64(math.MaxInt64), uint64(0), nil)},
	{name: "int32_as_biginteger", typ: arrow.PrimitiveTypes.Int32, override: BigInteger, build: values[int32](int32(5), nil)},
	{name: "int64_as_double", typ: arrow.PrimitiveTypes.Int64, override: Double, build: values[int64](int64(9007199254740993), nil)},
	{name: "decimal128_as_double", typ: &arrow.Decimal128Type{Precision: 10, Scale: 2}, override: Double, build: values[decimal128.Num](decimal128.FromI64(12345), nil)},
	{name: "float32_as_bigdecimal", typ: arrow.PrimitiveTypes.Float32, override: BigDecimal, build: values[float32](float32(0.1), float32(math.Inf(1)), nil)},
}

func TestEncodeGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			rec := newRecord(t, mem, c)
			defer rec.Release()

			docs, _ := encodeAll(t, 1<<20, encodeColumns(c), rec)
			if len(docs) != 1 {
				t.Fatalf("got %d chunks, want 1", len(docs))
			}
			got := docs[0]
			var cols [][]json.RawMessage
			if err := json.Unmarshal(got, &cols); err != nil {
				t.Fatalf("chunk is not valid JSON: %v\n%s", err, got)
			}
			if len(cols) != 1 || len(cols[0]) != int(rec.NumRows()) {
				t.Fatalf("chunk has %d columns of %d values, want 1 of %d:\n%s", len(cols), len(cols[0]), rec.NumRows(), got)
			}
			checkGolden(t, filepath.Join("testdata", "golden", c.name+".json"), append(got, '\n'))
		})
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./sink -run TestEncodeGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("encoded JSON differs from %s:\ngot:  %s\nwant: %s", path, got, want)
	}
}

// mixedRecords builds records of the given sizes over int64, string, float64 and
// timestamp columns with nulls, escapes and multi-byte text, from a fixed seed.
func mixedRecords(t testing.TB, mem memory.Allocator, sizes ...int) []arrow.RecordBatch {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"", "a", "Zürich", "quote\"d", "back\\slash", "tab\there", "日本語のテキスト", "a longer value with spaces, commas, and more"}
	var recs []arrow.RecordBatch
	for _, n := range sizes {
		ints, strs, floats, stamps := make([]any, n), make([]any, n), make([]any, n), make([]any, n)
		for i := range n {
			if rng.IntN(10) > 0 {
				ints[i] = rng.Int64() >> rng.IntN(64)
			}
			if rng.IntN(10) > 0 {
				strs[i] = words[rng.IntN(len(words))] + strings.Repeat("x", rng.IntN(30))
			}
			if rng.IntN(10) > 0 {
				floats[i] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
			}
			if rng.IntN(10) > 0 {
				stamps[i] = arrow.Timestamp(rng.Int64N(4e15) - 1e15)
			}
		}
		recs = append(recs, newRecord(t, mem,
			column{name: "id", typ: arrow.PrimitiveTypes.Int64, build: values[int64](ints...)},
			column{name: "name", typ: arrow.BinaryTypes.String, build: stringValues(strs...)},
			column{name: "amount", typ: arrow.PrimitiveTypes.Float64, build: values[float64](floats...)},
			column{name: "at", typ: utc, build: values[arrow.Timestamp](stamps...)},
		))
	}
	return recs
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

func allColumns(rec arrow.RecordBatch) []EncodeColumn { return schemaColumns(rec.Schema()) }

// schemaColumns pushes every field of schema under its own name and mapped dataType.
func schemaColumns(schema *arrow.Schema) []EncodeColumn {
	cols := make([]EncodeColumn, schema.NumFields())
	for i, f := range schema.Fields() {
		cols[i] = EncodeColumn{Index: i, Name: f.Name}
	}
	return cols
}

// decodeChunk decodes a chunk's JSON into its columns of raw values.
func decodeChunk(t testing.TB, doc []byte) [][]json.RawMessage {
	t.Helper()
	var cols [][]json.RawMessage
	if err := json.Unmarshal(doc, &cols); err != nil {
		t.Fatalf("chunk is not valid JSON: %v\n%.300s", err, doc)
	}
	for i, c := range cols {
		if len(c) != len(cols[0]) {
			t.Fatalf("chunk column %d has %d values, column 0 has %d", i, len(c), len(cols[0]))
		}
	}
	return cols
}

func TestEncodeChunkCutting(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	recs := mixedRecords(t, mem, 1, 7, 50, 3, 200, 1000, 1, 1, 999, 64)
	defer releaseAll(recs)
	cols := allColumns(recs[0])
	total := 0
	for _, r := range recs {
		total += int(r.NumRows())
	}

	// The reference: every row in one chunk.
	one, _ := encodeAll(t, 1<<30, cols, recs...)
	if len(one) != 1 {
		t.Fatalf("with a 1 GiB chunk size got %d chunks, want 1", len(one))
	}
	want := decodeChunk(t, one[0])
	rowSize := func(r int) int { // bytes a row adds to a chunk: its values and commas
		n := 0
		for _, c := range want {
			n += len(c[r]) + 1
		}
		return n
	}
	biggest := 0
	for r := range total {
		biggest = max(biggest, rowSize(r))
	}

	for _, chunkSize := range []int64{int64(biggest) + 9, 500, 4096, 65536} {
		t.Run(fmt.Sprintf("chunk_size_%d", chunkSize), func(t *testing.T) {
			docs, stats := encodeAll(t, chunkSize, cols, recs...)
			got := make([][]json.RawMessage, len(cols))
			var bytesSum int64
			for i, doc := range docs {
				if int64(len(doc)) > chunkSize {
					t.Errorf("chunk %d is %d bytes, more than the chunk size %d", i, len(doc), chunkSize)
				}
				bytesSum += int64(len(doc))
				chunk := decodeChunk(t, doc)
				if len(chunk) != len(cols) || len(chunk[0]) == 0 {
					t.Fatalf("chunk %d has %d columns of %d rows, want %d columns and at least one row", i, len(chunk), len(chunk[0]), len(cols))
				}
				for c := range chunk {
					got[c] = append(got[c], chunk[c]...)
				}
				// Chunks are full: the next row would not have fitted.
				if next := len(got[0]); i < len(docs)-1 && int64(len(doc)+rowSize(next)) <= chunkSize {
					t.Errorf("chunk %d is %d bytes and row %d (%d bytes) would have fitted in %d", i, len(doc), next, rowSize(next), chunkSize)
				}
			}
			for c := range want {
				if len(got[c]) != total {
					t.Fatalf("column %d: chunks hold %d rows, want %d", c, len(got[c]), total)
				}
				for r := range want[c] {
					if !bytes.Equal(got[c][r], want[c][r]) {
						t.Fatalf("column %d row %d = %s, want %s", c, r, got[c][r], want[c][r])
					}
				}
			}
			if stats.Rows != int64(total) || stats.Chunks != int64(len(docs)) || stats.Bytes != bytesSum {
				t.Errorf("Stats() = rows %d, chunks %d, bytes %d; want %d, %d, %d", stats.Rows, stats.Chunks, stats.Bytes, total, len(docs), bytesSum)
			}
		})
	}
}

// TestEncodeSlicedRecords checks that arrays with an offset (record slices, as readers
// produce) render their own rows and nulls.
func TestEncodeSlicedRecords(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := newRecord(t, mem,
		column{name: "i", typ: arrow.PrimitiveTypes.Int32, build: values[int32](int32(1), nil, int32(3), int32(4), nil, int32(6), int32(7), int32(8), int32(9), nil, int32(11))},
		column{name: "s", typ: arrow.BinaryTypes.String, build: stringValues("a", "b", nil, "d\"", "e", nil, "g", "h", "i", "j", "k")},
		column{name: "b", typ: arrow.FixedWidthTypes.Boolean, build: values[bool](true, false, true, nil, false, true, true, false, nil, true, false)},
		column{name: "d", typ: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String},
			build: stringValues("x", "y", "x", nil, "z", "y", "x", nil, "z", "z", "x")},
	)
	defer rec.Release()
	full, _ := encodeAll(t, 1<<20, allColumns(rec), rec)
	fullCols := decodeChunk(t, full[0])
	for _, span := range [][2]int64{{0, 11}, {3, 10}, {9, 11}, {1, 2}} {
		t.Run(fmt.Sprintf("rows_%d_to_%d", span[0], span[1]), func(t *testing.T) {
			slice := rec.NewSlice(span[0], span[1])
			defer slice.Release()
			docs, _ := encodeAll(t, 1<<20, allColumns(rec), slice)
			got := decodeChunk(t, docs[0])
			for c := range got {
				want := fullCols[c][span[0]:span[1]]
				if fmt.Sprint(got[c]) != fmt.Sprint(want) {
					t.Errorf("column %d of the slice = %s, want %s", c, got[c], want)
				}
			}
		})
	}
}

func TestEncodeStats(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := newRecord(t, mem,
		column{name: "price", typ: arrow.PrimitiveTypes.Float64, build: values[float64](math.NaN(), 1.5, math.Inf(1), math.Inf(-1), nil)},
		column{name: "ratio", typ: arrow.PrimitiveTypes.Float32, build: values[float32](float32(0.5), float32(math.NaN()), nil, float32(1), float32(2))},
		column{name: "half", typ: arrow.FixedWidthTypes.Float16, build: halfBits(0x3c00, 0x3c00, 0xfc00, 0x3c00, 0x3c00)},
		column{name: "name", typ: arrow.BinaryTypes.String, build: stringValues("ok", "bad\xff", "two \xfe\xfd bad bytes", nil, "fine")},
		column{name: "tag", typ: arrow.BinaryTypes.String, build: stringValues("a", "b", "c", "d", "e")},
	)
	defer rec.Release()
	docs, stats := encodeAll(t, 1<<20, allColumns(rec), rec, rec)

	want := EncodeStats{
		Rows: 10, Chunks: 1, Bytes: int64(len(docs[0])),
		NonFinite: 10, InvalidUTF8: 4,
		NonFiniteByColumn:   map[string]int64{"price": 6, "ratio": 2, "half": 2},
		InvalidUTF8ByColumn: map[string]int64{"name": 4},
	}
	if fmt.Sprint(stats) != fmt.Sprint(want) {
		t.Errorf("Stats() = %+v\nwant      %+v", stats, want)
	}
	cols := decodeChunk(t, docs[0])
	if got := string(cols[0][2]); got != "null" {
		t.Errorf("+Inf rendered as %s, want null", got)
	}
	if got := string(cols[3][2]); got != `"two `+"\ufffd\ufffd"+` bad bytes"` {
		t.Errorf("invalid UTF-8 rendered as %s, want each bad byte replaced by U+FFFD", got)
	}
}

func TestNewEncoderErrors(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "blob", Type: arrow.BinaryTypes.Binary},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64},
		{Name: "big", Type: arrow.PrimitiveTypes.Uint64},
	}, nil)
	tests := []struct {
		name      string
		cols      []EncodeColumn
		chunkSize int64
		want      []string // substrings of the error
	}{
		{"string as INTEGER", []EncodeColumn{{Index: 0, Name: "name", Type: Integer}}, 1 << 20,
			[]string{`column "name"`, "utf8", "cannot be pushed as INTEGER", "[STRING]"}},
		{"date as DATETIME", []EncodeColumn{{Index: 2, Name: "day", Type: DateTime}}, 1 << 20,
			[]string{`column "day"`, "date32", "DATETIME", "STRING DATE"}},
		{"float as BIGINTEGER", []EncodeColumn{{Index: 3, Name: "price", Type: BigInteger}}, 1 << 20,
			[]string{`column "price"`, "float64", "BIGINTEGER", "STRING DOUBLE BIGDECIMAL"}},
		{"unknown dataType", []EncodeColumn{{Index: 3, Name: "price", Type: "MONEY"}}, 1 << 20,
			[]string{`column "price"`, "MONEY"}},
		{"binary", []EncodeColumn{{Index: 1, Name: "blob"}}, 1 << 20,
			[]string{`column "blob"`, "binary", "col::text", "Parquet"}},
		{"binary as STRING", []EncodeColumn{{Index: 1, Name: "blob", Type: String}}, 1 << 20,
			[]string{`column "blob"`, "binary", "col::text"}},
		{"uint64 without override", []EncodeColumn{{Index: 4, Name: "big"}}, 1 << 20,
			[]string{`column "big"`, "uint64", "BIGINTEGER"}},
		{"duplicate name", []EncodeColumn{{Index: 0, Name: "x"}, {Index: 2, Name: "x"}}, 1 << 20,
			[]string{`column "x" appears twice`}},
		{"index outside schema", []EncodeColumn{{Index: 5, Name: "ghost"}}, 1 << 20,
			[]string{`column "ghost"`, "index 5", "5 fields"}},
		{"no columns", nil, 1 << 20, []string{"no columns"}},
		{"chunk size too small", []EncodeColumn{{Index: 0, Name: "name"}, {Index: 2, Name: "day"}}, 10,
			[]string{"chunk size 10 bytes is too small", "2 columns", "15 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := NewEncoder(schema, tt.cols, tt.chunkSize)
			if err == nil {
				t.Fatalf("NewEncoder(%v) = %v, want an error", tt.cols, enc)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("NewEncoder(%v) error = %q, want it to contain %q", tt.cols, err, w)
				}
			}
		})
	}
}

// writeErr writes recs through enc until one fails and returns that error.
func writeErr(enc *Encoder, recs ...arrow.RecordBatch) error {
	var docs [][]byte
	for _, r := range recs {
		if err := enc.Write(r, collect(&docs, nil)); err != nil {
			return err
		}
	}
	return enc.Flush(collect(&docs, nil))
}

func TestEncodeValueErrors(t *testing.T) {
	tests := []struct {
		name string
		col  column
		want []string
	}{
		{"int64 above INTEGER", column{name: "qty", typ: arrow.PrimitiveTypes.Int64, override: Integer,
			build: values[int64](int64(1), int64(3000000000))}, []string{`column "qty" row 4`, "value 3000000000", "INTEGER", "BIGINTEGER"}},
		{"int64 below INTEGER", column{name: "qty", typ: arrow.PrimitiveTypes.Int64, override: Integer,
			build: values[int64](int64(-2147483649), nil)}, []string{`column "qty" row 3`, "-2147483649"}},
		{"uint32 above INTEGER", column{name: "n", typ: arrow.PrimitiveTypes.Uint32, override: Integer,
			build: values[uint32](nil, uint32(math.MaxUint32))}, []string{`column "n" row 4`, "4294967295", "BIGINTEGER"}},
		{"uint64 above BIGINTEGER", column{name: "n", typ: arrow.PrimitiveTypes.Uint64, override: BigInteger,
			build: values[uint64](uint64(1), uint64(math.MaxUint64))}, []string{`column "n" row 4`, "18446744073709551615", "BIGDECIMAL or STRING"}},
		{"time past midnight", column{name: "t", typ: arrow.FixedWidthTypes.Time32s,
			build: values[arrow.Time32](arrow.Time32(0), arrow.Time32(86401))}, []string{`column "t" row 4`, "86401s", "24:00:00"}},
		{"negative time", column{name: "t", typ: arrow.FixedWidthTypes.Time64us,
			build: values[arrow.Time64](arrow.Time64(-1), nil)}, []string{`column "t" row 3`, "-1us"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			// The first record is fine: row numbers count across records.
			ok := newRecord(t, mem, column{name: tt.col.name, typ: tt.col.typ, build: func(b array.Builder) { b.AppendNulls(2) }})
			defer ok.Release()
			bad := newRecord(t, mem, tt.col)
			defer bad.Release()
			enc, err := NewEncoder(ok.Schema(), encodeColumns(tt.col), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			err = writeErr(enc, ok, bad)
			if err == nil {
				t.Fatal("Write succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Write error = %q, want it to contain %q", err, w)
				}
			}
			if again := writeErr(enc, ok); again == nil || again.Error() != err.Error() {
				t.Errorf("Write after the error = %v, want the same error", again)
			}
		})
	}
}

// TestEncodeValueErrorAdvice checks that a range error is a *ValueError naming column and
// row, and that EncodeColumn.Advice replaces the default advice: a column the caller
// narrowed to the dataset's width cannot be fixed by choosing a wider type in the job.
func TestEncodeValueErrorAdvice(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	col := column{name: "id", typ: arrow.PrimitiveTypes.Int64, build: values[int64](int64(7), int64(1)<<40)}
	rec := newRecord(t, mem, col)
	defer rec.Release()
	for _, tt := range []struct {
		advice, want, notWant string
	}{
		{"", "set the column's type to BIGINTEGER", ""},
		{"the dataset holds 32-bit integers here", "value 1099511627776 does not fit INTEGER (-2147483648 to 2147483647): the dataset holds 32-bit integers here", "set the column's type"},
	} {
		enc, err := NewEncoder(rec.Schema(), []EncodeColumn{{Index: 0, Name: "id", Type: Integer, Advice: tt.advice}}, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		err = writeErr(enc, rec)
		enc.Close()
		var ve *ValueError
		if !errors.As(err, &ve) || ve.Column != "id" || ve.Row != 2 {
			t.Fatalf("Write error = %v, want a *ValueError for column id row 2", err)
		}
		if !strings.Contains(err.Error(), tt.want) || tt.notWant != "" && strings.Contains(err.Error(), tt.notWant) {
			t.Errorf("Write error with advice %q = %q, want %q and not %q", tt.advice, err, tt.want, tt.notWant)
		}
	}
}

func TestEncodeRowTooBig(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := newRecord(t, mem,
		column{name: "id", typ: arrow.PrimitiveTypes.Int64, build: values[int64](int64(1), int64(2), int64(3))},
		column{name: "note", typ: arrow.BinaryTypes.String, build: stringValues("short", strings.Repeat("long ", 40), "short")},
	)
	defer rec.Release()
	enc, err := NewEncoder(rec.Schema(), allColumns(rec), 100)
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	err = enc.Write(rec, collect(&docs, nil))
	if err == nil {
		t.Fatal("Write of a 200-byte row with a 100-byte chunk size succeeded, want an error")
	}
	for _, w := range []string{"row 2", "more than the chunk size of 100 bytes", `column "note" alone is 202 bytes`, "raise chunk_size"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Write error = %q, want it to contain %q", err, w)
		}
	}
	if len(docs) != 1 || string(docs[0]) != `[[1],["short"]]` {
		t.Errorf("chunks before the error = %q, want the first row alone", docs)
	}
}

func TestEncodeEmitError(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	recs := mixedRecords(t, mem, 500)
	defer releaseAll(recs)
	enc, err := NewEncoder(recs[0].Schema(), allColumns(recs[0]), 1000)
	if err != nil {
		t.Fatal(err)
	}
	errUpload := errors.New("upload failed")
	calls := 0
	emit := func(ch *Chunk) error {
		ch.Release()
		calls++
		if calls == 2 {
			return errUpload
		}
		return nil
	}
	if err := enc.Write(recs[0], emit); !errors.Is(err, errUpload) {
		t.Fatalf("Write = %v, want the emit error", err)
	}
	if calls != 2 {
		t.Errorf("emit called %d times, want Write to stop at the failing call (2)", calls)
	}
	if err := enc.Flush(emit); !errors.Is(err, errUpload) {
		t.Errorf("Flush after the emit error = %v, want the emit error again", err)
	}
}

func TestEncodeSchemaMismatch(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	a := newRecord(t, mem, column{name: "n", typ: arrow.PrimitiveTypes.Int64, build: values[int64](int64(1))})
	defer a.Release()
	b := newRecord(t, mem, column{name: "n", typ: arrow.PrimitiveTypes.Int32, build: values[int32](int32(1))})
	defer b.Release()
	enc, err := NewEncoder(a.Schema(), allColumns(a), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	err = writeErr(enc, a, b)
	if err == nil || !strings.Contains(err.Error(), `column "n": record has arrow type int32, the encoder was made for int64`) {
		t.Errorf("Write of an int32 record to an int64 encoder = %v, want a type mismatch error naming the column", err)
	}
}

func TestEncodeFlush(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := newRecord(t, mem, column{name: "n", typ: arrow.PrimitiveTypes.Int64, build: values[int64](int64(1), int64(2))})
	defer rec.Release()
	empty := rec.NewSlice(0, 0)
	defer empty.Release()
	enc, err := NewEncoder(rec.Schema(), allColumns(rec), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	if err := enc.Flush(collect(&docs, nil)); err != nil || len(docs) != 0 {
		t.Fatalf("Flush of a new encoder = %v with %d chunks, want no chunk", err, len(docs))
	}
	if err := enc.Write(empty, collect(&docs, nil)); err != nil {
		t.Fatal(err)
	}
	if err := enc.Flush(collect(&docs, nil)); err != nil || len(docs) != 0 {
		t.Fatalf("Flush after an empty record = %v with %d chunks, want no chunk", err, len(docs))
	}
	for range 2 {
		if err := enc.Write(rec, collect(&docs, nil)); err != nil {
			t.Fatal(err)
		}
		if err := enc.Flush(collect(&docs, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if len(docs) != 2 || string(docs[0]) != "[[1,2]]" || string(docs[1]) != "[[1,2]]" {
		t.Errorf("Write, Flush, Write, Flush gave chunks %q, want two chunks [[1,2]]", docs)
	}
}

// TestEncodeConcurrentRelease uploads and releases chunks and reads Stats on other
// goroutines while the encoder goes on filling recycled buffers; run it with -race.
func TestEncodeConcurrentRelease(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	recs := mixedRecords(t, mem, 700, 300, 1000)
	defer releaseAll(recs)
	cols := allColumns(recs[0])
	want, _ := encodeAll(t, 2000, cols, recs...)

	enc, err := NewEncoder(recs[0].Schema(), cols, 2000)
	if err != nil {
		t.Fatal(err)
	}
	type job struct {
		i  int
		ch *Chunk
	}
	jobs := make(chan job)
	got := make([][]byte, len(want))
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for j := range jobs {
				got[j.i] = j.ch.Bytes()
				j.ch.Release()
				if s := enc.Stats(); s.Chunks < int64(j.i+1) { // as a progress reporter would
					t.Errorf("Stats().Chunks = %d after chunk %d was emitted", s.Chunks, j.i+1)
				}
			}
		})
	}
	n := 0
	emit := func(ch *Chunk) error {
		jobs <- job{n, ch}
		n++
		return nil
	}
	for _, r := range recs {
		if err := enc.Write(r, emit); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Flush(emit); err != nil {
		t.Fatal(err)
	}
	close(jobs)
	wg.Wait()
	if n != len(want) {
		t.Fatalf("got %d chunks, want %d", n, len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("chunk %d released concurrently = %.200s, want %.200s", i, got[i], want[i])
		}
	}
}

// TestEncodeAllocsPerChunk checks that recycled chunk buffers keep a steady pipeline
// from allocating per value or per row.
func TestEncodeAllocsPerChunk(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	recs := mixedRecords(t, mem, 5000)
	defer releaseAll(recs)
	enc, err := NewEncoder(recs[0].Schema(), allColumns(recs[0]), 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	chunks := 0
	emit := func(ch *Chunk) error {
		chunks++
		ch.Release()
		return nil
	}
	for range 3 { // warm up: buffers grow to size
		if err := enc.Write(recs[0], emit); err != nil {
			t.Fatal(err)
		}
	}
	chunks = 0
	allocs := testing.AllocsPerRun(10, func() {
		if err := enc.Write(recs[0], emit); err != nil {
			t.Fatal(err)
		}
	})
	perChunk := allocs / (float64(chunks) / 11)
	t.Logf("%.0f allocations per Write of 5000 rows, %.2f per chunk", allocs, perChunk)
	if perChunk > 2 {
		t.Errorf("%.2f allocations per chunk, want at most 2 (the Chunk itself)", perChunk)
	}
}

// TestCivil checks the fast date algorithm against the plain one on every day of years
// -200 to 4000, across both edges of its range, and on a stride over all of it.
func TestCivil(t *testing.T) {
	check := func(days int64) {
		y, m, d := civil(days)
		wy, wm, wd := civilWide(days)
		if y != wy || m != wm || d != wd {
			t.Fatalf("civil(%d) = %d-%d-%d, want %d-%d-%d", days, y, m, d, wy, wm, wd)
		}
	}
	for days := int64(-800_000); days < 800_000; days++ {
		check(days)
	}
	const lowEdge = -(719468 + 146097*82)
	for _, edge := range []int64{lowEdge, 1 << 29} {
		for days := edge - 1000; days < edge+1000; days++ {
			check(days)
		}
	}
	for days := int64(lowEdge); days < 1<<29; days += 997 {
		check(days)
	}
	for _, days := range []int64{math.MinInt32, math.MaxInt32, 19753} {
		check(days)
	}
	if y, m, d := civil(19753); y != 2024 || m != 1 || d != 31 {
		t.Errorf("civil(19753) = %d-%d-%d, want 2024-1-31", y, m, d)
	}
}

// TestHalfRoundTrip renders every finite float16 and checks that the text reads back, by
// rounding to the nearest half (ties to even), as the same half, and that no text with
// one digit fewer would have without relying on the tie rule (the encoder does not: a
// reader may break ties either way).
func TestHalfRoundTrip(t *testing.T) {
	// Finite non-negative halves increase with their bits: 0x0000 … 0x7bff.
	vals := make([]float64, 0x7c00)
	for h := range vals {
		vals[h] = halfToFloat64(uint16(h))
	}
	// nearest returns the half nearest x >= 0 (0x7c00, +Inf, from 65520 on) and whether x
	// was halfway between two.
	nearest := func(x float64) (int, bool) {
		i, _ := slices.BinarySearch(vals, x)
		switch {
		case x >= 65520:
			return 0x7c00, false
		case i == len(vals):
			return i - 1, false
		case i == 0 || vals[i] == x:
			return i, false
		}
		below, above := x-vals[i-1], vals[i]-x
		if below < above || below == above && (i-1)%2 == 0 {
			return i - 1, below == above
		}
		return i, below == above
	}
	for h := range 0x10000 {
		bits := uint16(h)
		if bits&0x7c00 == 0x7c00 {
			continue // NaN and ±Inf are null
		}
		s := string(appendHalf(nil, bits))
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("half %#04x rendered as %q, not a number: %v", h, s, err)
		}
		got, _ := nearest(math.Abs(x))
		if math.Signbit(x) {
			got |= 0x8000
		}
		if got != h {
			t.Fatalf("half %#04x (%v) rendered as %q, which reads back as half %#04x", h, halfToFloat64(bits), s, got)
		}
		if n := sigDigits(s); n > 1 {
			shorter := strconv.FormatFloat(halfToFloat64(bits), 'e', n-2, 64)
			y, _ := strconv.ParseFloat(shorter, 64)
			if back, tie := nearest(math.Abs(y)); back == h&0x7fff && !tie && y != 0 {
				t.Errorf("half %#04x rendered as %q, but %q reads back as the same half", h, s, shorter)
			}
		}
	}
}

// encodeWith writes recs through a new encoder rendering on workers goroutines and
// returns the chunks emitted, the stats and the first error.
func encodeWith(t testing.TB, chunkSize int64, workers int, cols []EncodeColumn, recs ...arrow.RecordBatch) ([][]byte, EncodeStats, error) {
	t.Helper()
	enc, err := NewEncoder(recs[0].Schema(), cols, chunkSize)
	if err != nil {
		t.Fatalf("NewEncoder: %v", err)
	}
	defer enc.Close()
	enc.SetWorkers(workers)
	var docs [][]byte
	for _, rec := range recs {
		if err := enc.Write(rec, collect(&docs, nil)); err != nil {
			return docs, enc.Stats(), err
		}
	}
	err = enc.Flush(collect(&docs, nil))
	return docs, enc.Stats(), err
}

// TestEncodeParallel checks that rendering rows on several goroutines emits the same
// chunks, byte for byte, with the same stats, as rendering them on one.
func TestEncodeParallel(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	recs := mixedRecords(t, mem, 1, 7, 5000, 3, 20000, 1000, 1, 999, 64, 30000)
	defer releaseAll(recs)
	cols := allColumns(recs[0])
	for _, chunkSize := range []int64{300, 4096, 65536, 1 << 20, 1 << 30} {
		want, wantStats, err := encodeWith(t, chunkSize, 1, cols, recs...)
		if err != nil {
			t.Fatal(err)
		}
		for _, workers := range []int{2, 4} {
			t.Run(fmt.Sprintf("chunk_size_%d_workers_%d", chunkSize, workers), func(t *testing.T) {
				got, stats, err := encodeWith(t, chunkSize, workers, cols, recs...)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("%d workers emitted %d chunks, one emitted %d", workers, len(got), len(want))
				}
				for i := range want {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("chunk %d with %d workers = %.200s, with one %.200s", i, workers, got[i], want[i])
					}
				}
				if fmt.Sprint(stats) != fmt.Sprint(wantStats) {
					t.Errorf("Stats() with %d workers = %+v, with one %+v", workers, stats, wantStats)
				}
			})
		}
	}
}

// TestEncodeParallelErrors checks that a value error in a record rendered on another
// goroutine is reported as it is when rendering on one, row number included, after the
// chunks of the rows before it.
func TestEncodeParallelErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	qty := func(bad int) column {
		vals := make([]any, 30000)
		for i := range vals {
			vals[i] = int64(i)
		}
		if bad >= 0 {
			vals[bad] = int64(1) << 40
		}
		return column{name: "qty", typ: arrow.PrimitiveTypes.Int64, override: Integer, build: values[int64](vals...)}
	}
	good := newRecord(t, mem, qty(-1))
	defer good.Release()
	bad := newRecord(t, mem, qty(12345))
	defer bad.Release()
	cols := encodeColumns(qty(-1))
	all, _, err := encodeWith(t, 4096, 1, cols, good, good, good)
	if err != nil {
		t.Fatal(err)
	}
	_, _, want := encodeWith(t, 4096, 1, cols, good, bad, good)
	if want == nil || !strings.Contains(want.Error(), `column "qty" row 42346`) {
		t.Fatalf("one worker: error = %v, want row 42346 of column qty named", want)
	}
	got, _, err := encodeWith(t, 4096, 4, cols, good, bad, good)
	if err == nil || err.Error() != want.Error() {
		t.Fatalf("4 workers: error = %v, want %v", err, want)
	}
	if len(got) < 30000*6/4096 {
		t.Errorf("4 workers emitted %d chunks before the error, want at least the first record's", len(got))
	}
	for i := range got { // the chunks before the error are those of the good rows
		if !bytes.Equal(got[i], all[i]) {
			t.Fatalf("chunk %d before the error = %.100s, want %.100s", i, got[i], all[i])
		}
	}
}

// TestEncodeRowsLargerThanEstimated checks rows far larger than the encoder guessed
// before it saw any: the task rendering them stops early and the rest is rendered apart,
// and every chunk is still as full as it can be.
func TestEncodeRowsLargerThanEstimated(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	vals := make([]any, 24)
	for i := range vals {
		vals[i] = strings.Repeat(string(rune('a'+i)), 512<<10)
	}
	rec := newRecord(t, mem, column{name: "blob", typ: arrow.BinaryTypes.String, build: stringValues(vals...)})
	defer rec.Release()
	for _, workers := range []int{1, 2} {
		docs, _, err := encodeWith(t, 2_000_000, workers, allColumns(rec), rec)
		if err != nil {
			t.Fatal(err)
		}
		// 512 KiB + 3 bytes a row: three rows fit in 2 MB, four do not.
		if len(docs) != 8 {
			t.Fatalf("%d workers: %d chunks, want 8 of 3 rows", workers, len(docs))
		}
		row := 0
		for i, doc := range docs {
			for _, v := range decodeChunk(t, doc)[0] {
				if want := `"` + vals[row].(string) + `"`; string(v) != want {
					t.Fatalf("%d workers: chunk %d holds %.10s... as row %d, want %.10s...", workers, i, v, row, want)
				}
				row++
			}
		}
	}
}

// TestEncodeParallelEmitError checks that an error from emit, which the assembler goroutine
// calls, is returned as it is by a later Write or by Flush, that emit is not called again
// afterwards, and that the records the tasks still held are released (also when the
// encoder is closed with rows still rendering).
func TestEncodeParallelEmitError(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	recs := mixedRecords(t, mem, 20000, 20000, 20000, 20000)
	defer releaseAll(recs)
	cols := allColumns(recs[0])
	errStop := errors.New("upload failed")
	for _, failAt := range []int{1, 3} {
		t.Run(fmt.Sprintf("fail_at_chunk_%d", failAt), func(t *testing.T) {
			enc, err := NewEncoder(recs[0].Schema(), cols, 4096)
			if err != nil {
				t.Fatal(err)
			}
			enc.SetWorkers(2)
			var calls atomic.Int64
			emit := func(ch *Chunk) error {
				ch.Release()
				if calls.Add(1) >= int64(failAt) {
					return errStop
				}
				return nil
			}
			for _, rec := range recs {
				if err = enc.Write(rec, emit); err != nil {
					break
				}
			}
			if err == nil {
				err = enc.Flush(emit)
			}
			if !errors.Is(err, errStop) {
				t.Fatalf("error = %v, want emit's %v", err, errStop)
			}
			if n := calls.Load(); n != int64(failAt) {
				t.Errorf("emit called %d times, want %d: not again after it failed", n, failAt)
			}
			if err := enc.Write(recs[0], emit); !errors.Is(err, errStop) {
				t.Errorf("Write after the error = %v, want the same error", err)
			}
			enc.Close()
		})
	}
	t.Run("close_while_rendering", func(t *testing.T) {
		enc, err := NewEncoder(recs[0].Schema(), cols, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		enc.SetWorkers(2)
		for _, rec := range recs {
			if err := enc.Write(rec, collect(new([][]byte), nil)); err != nil {
				t.Fatal(err)
			}
		}
		enc.Close() // without Flush: the rows in flight are dropped, their records released
	})
}
