package sink

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// fuzzRow is one row of FuzzEncode's table; a nil field is NULL.
type fuzzRow struct {
	i64   *int64
	f32   *float32
	f64   *float64
	dec   *decimal128.Num
	str   *string
	date  *int32
	stamp *int64
}

const fuzzScale = 3

var fuzzDecimal = &arrow.Decimal128Type{Precision: 38, Scale: fuzzScale}

// fuzzRows reads rows from data: a null mask byte, fixed-width values, a string length
// byte and the string's bytes, until data runs out.
func fuzzRows(data []byte) []fuzzRow {
	var rows []fuzzRow
	for len(data) >= 50 {
		mask := data[0]
		le := binary.LittleEndian
		var r fuzzRow
		i64, f32, f64 := int64(le.Uint64(data[1:])), math.Float32frombits(le.Uint32(data[9:])), math.Float64frombits(le.Uint64(data[13:]))
		dec := decimal128.New(int64(le.Uint64(data[21:])), le.Uint64(data[29:]))
		date, stamp := int32(le.Uint32(data[37:])), int64(le.Uint64(data[41:]))
		n := int(data[49])
		data = data[50:]
		n = min(n, len(data))
		str := string(data[:n])
		data = data[n:]
		set := func(bit uint, f func()) {
			if mask&(1<<bit) == 0 {
				f()
			}
		}
		set(0, func() { r.i64 = &i64 })
		set(1, func() { r.f32 = &f32 })
		set(2, func() { r.f64 = &f64 })
		set(3, func() { r.dec = &dec })
		set(4, func() { r.str = &str })
		set(5, func() { r.date = &date })
		set(6, func() { r.stamp = &stamp })
		rows = append(rows, r)
	}
	return rows
}

func fuzzRecord(mem memory.Allocator, rows []fuzzRow) arrow.RecordBatch {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "dec", Type: fuzzDecimal, Nullable: true},
		{Name: "str", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "date", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "stamp", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for _, r := range rows {
		appendOrNull(b.Field(0), r.i64, b.Field(0).(*array.Int64Builder).Append)
		appendOrNull(b.Field(1), r.f32, b.Field(1).(*array.Float32Builder).Append)
		appendOrNull(b.Field(2), r.f64, b.Field(2).(*array.Float64Builder).Append)
		appendOrNull(b.Field(3), r.dec, b.Field(3).(*array.Decimal128Builder).Append)
		appendOrNull(b.Field(4), r.str, b.Field(4).(*array.StringBuilder).Append)
		appendOrNull(b.Field(5), r.date, func(v int32) { b.Field(5).(*array.Date32Builder).Append(arrow.Date32(v)) })
		appendOrNull(b.Field(6), r.stamp, func(v int64) { b.Field(6).(*array.TimestampBuilder).Append(arrow.Timestamp(v)) })
	}
	return b.NewRecordBatch()
}

func appendOrNull[T any](b array.Builder, v *T, app func(T)) {
	if v == nil {
		b.AppendNull()
		return
	}
	app(*v)
}

// FuzzEncode encodes rows read from the fuzz input, in records and chunks of sizes from
// the input, and checks that decoding the chunks' JSON gives back every value: integers
// and decimals exactly, floats at their own precision, strings after U+FFFD replacement,
// dates and timestamps as the same instant.
func FuzzEncode(f *testing.F) {
	seed := func(rows ...[]byte) []byte { return bytes.Join(rows, nil) }
	row := func(mask byte, fill byte, s string) []byte {
		r := append([]byte{mask}, bytes.Repeat([]byte{fill}, 48)...)
		return append(append(r, byte(len(s))), s...)
	}
	f.Add(seed(row(0, 0, "plain"), row(0x7f, 0, "")), uint16(0), uint8(1))
	f.Add(seed(row(0, 0xff, "\xff\"\\\n\u2028"), row(0, 0x7f, "日本"), row(0, 0x80, "x")), uint16(7), uint8(2))
	f.Add(seed(row(0, 0x3f, "a"), row(0x55, 0x40, "b"), row(0x2a, 0xc0, "c"), row(0, 0x01, "d")), uint16(300), uint8(0))

	f.Fuzz(func(t *testing.T, data []byte, extra uint16, perRecord uint8) {
		rows := fuzzRows(data)
		if len(rows) == 0 {
			return
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)

		var recs []arrow.RecordBatch
		for lo, step := 0, int(perRecord%16)+1; lo < len(rows); lo += step {
			recs = append(recs, fuzzRecord(mem, rows[lo:min(lo+step, len(rows))]))
		}
		defer releaseAll(recs)
		// A row is at most ~1.7 KB of JSON (a 255-byte string escaped 6 bytes a byte).
		chunkSize := 2000 + int64(extra)
		docs, stats := encodeAll(t, chunkSize, allColumns(recs[0]), recs...)

		cols := make([][]any, 7)
		for _, doc := range docs {
			if int64(len(doc)) > chunkSize {
				t.Fatalf("chunk of %d bytes, more than the chunk size %d", len(doc), chunkSize)
			}
			dec := json.NewDecoder(bytes.NewReader(doc))
			dec.UseNumber()
			var chunk [][]any
			if err := dec.Decode(&chunk); err != nil {
				t.Fatalf("chunk is not valid JSON: %v\n%s", err, doc)
			}
			for c := range chunk {
				cols[c] = append(cols[c], chunk[c]...)
			}
		}
		var nonFinite, invalid int64
		for i, r := range rows {
			checkValue(t, "i64", i, cols[0][i], r.i64, func(s string, v int64) bool {
				got, err := strconv.ParseInt(s, 10, 64)
				return err == nil && got == v
			})
			checkValue(t, "f32", i, cols[1][i], finite32(r.f32, &nonFinite), func(s string, v float32) bool {
				got, err := strconv.ParseFloat(s, 32)
				return err == nil && math.Float32bits(float32(got)) == math.Float32bits(v) &&
					sigDigits(s) <= sigDigits(strconv.FormatFloat(float64(v), 'e', -1, 32))
			})
			checkValue(t, "f64", i, cols[2][i], finite64(r.f64, &nonFinite), func(s string, v float64) bool {
				got, err := strconv.ParseFloat(s, 64)
				return err == nil && math.Float64bits(got) == math.Float64bits(v) &&
					sigDigits(s) <= sigDigits(strconv.FormatFloat(v, 'e', -1, 64))
			})
			checkValue(t, "dec", i, cols[3][i], r.dec, func(s string, v decimal128.Num) bool {
				got, ok := new(big.Rat).SetString(s)
				want := new(big.Rat).SetFrac(v.BigInt(), new(big.Int).Exp(big.NewInt(10), big.NewInt(fuzzScale), nil))
				return ok && got.Cmp(want) == 0 && decimalScale.MatchString(s)
			})
			if r.str != nil && string([]rune(*r.str)) != *r.str {
				invalid++
			}
			checkValue(t, "str", i, cols[4][i], r.str, func(s string, v string) bool {
				return s == string([]rune(v)) // each invalid byte becomes U+FFFD
			})
			checkValue(t, "date", i, cols[5][i], r.date, func(s string, v int32) bool {
				y, m, d, ok := parseDate(s)
				return ok && s == dateOnly.FindString(s) && time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix() == int64(v)*86400
			})
			checkValue(t, "stamp", i, cols[6][i], r.stamp, func(s string, v int64) bool {
				got, ok := parseDateTime(s)
				return ok && got.UnixMicro() == v
			})
		}
		if stats.NonFinite != nonFinite || stats.InvalidUTF8 != invalid || stats.Rows != int64(len(rows)) {
			t.Errorf("Stats() = %+v, want %d rows, %d non-finite, %d invalid UTF-8", stats, len(rows), nonFinite, invalid)
		}
	})
}

var (
	decimalScale = regexp.MustCompile(`^-?[0-9]+\.[0-9]{3}$`)
	dateOnly     = regexp.MustCompile(`^[+-]?[0-9]{4,}-[0-9]{2}-[0-9]{2}$`)
	dateTime     = regexp.MustCompile(`^([+-]?[0-9]{4,}-[0-9]{2}-[0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]*[1-9])?$`)
)

// checkValue checks the decoded JSON value got of row i: null when want is nil, else a
// number or string whose text ok accepts.
func checkValue[T any](t *testing.T, col string, i int, got any, want *T, ok func(string, T) bool) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Errorf("%s row %d = %v, want null", col, i, got)
		}
		return
	}
	var s string
	switch g := got.(type) {
	case json.Number:
		s = string(g)
	case string:
		s = g
	default:
		t.Errorf("%s row %d = %#v, want %v", col, i, got, *want)
		return
	}
	if !ok(s, *want) {
		t.Errorf("%s row %d = %q, does not read back as %v", col, i, s, *want)
	}
}

// sigDigits counts the significant digits of a number's text: its mantissa's digits
// without leading and trailing zeros.
func sigDigits(s string) int {
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	s = strings.Trim(strings.NewReplacer("-", "", ".", "").Replace(s), "0")
	return len(s)
}

func finite32(v *float32, nonFinite *int64) *float32 {
	if v != nil && (math.IsNaN(float64(*v)) || math.IsInf(float64(*v), 0)) {
		*nonFinite++
		return nil
	}
	return v
}

func finite64(v *float64, nonFinite *int64) *float64 {
	if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
		*nonFinite++
		return nil
	}
	return v
}

// parseDate reads [+-]YYYY[Y...]-MM-DD with an astronomical year.
func parseDate(s string) (y, m, d int, ok bool) {
	sign := 1
	if s != "" && (s[0] == '+' || s[0] == '-') {
		if s[0] == '-' {
			sign = -1
		}
		s = s[1:]
	}
	if _, err := fmt.Sscanf(s, "%d-%d-%d", &y, &m, &d); err != nil {
		return 0, 0, 0, false
	}
	return sign * y, m, d, m >= 1 && m <= 12 && d >= 1 && d <= 31
}

func parseDateTime(s string) (time.Time, bool) {
	m := dateTime.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	y, mo, d, ok := parseDate(m[1])
	if !ok {
		return time.Time{}, false
	}
	h, _ := strconv.Atoi(m[2])
	mi, _ := strconv.Atoi(m[3])
	sec, _ := strconv.Atoi(m[4])
	ns := 0
	if m[5] != "" {
		frac := (m[5][1:] + "000000000")[:9]
		ns, _ = strconv.Atoi(frac)
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC), true
}
