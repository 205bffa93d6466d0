package sink

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
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
