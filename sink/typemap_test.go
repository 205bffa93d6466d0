package sink

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/extensions"
)

func TestMapTypeSupported(t *testing.T) {
	tests := []struct {
		typ  arrow.DataType
		want DataType
	}{
		{arrow.PrimitiveTypes.Int8, Integer},
		{arrow.PrimitiveTypes.Int16, Integer},
		{arrow.PrimitiveTypes.Int32, Integer},
		{arrow.PrimitiveTypes.Uint8, Integer},
		{arrow.PrimitiveTypes.Uint16, Integer},
		{arrow.PrimitiveTypes.Int64, BigInteger},
		{arrow.PrimitiveTypes.Uint32, BigInteger},
		{arrow.FixedWidthTypes.Float16, Double},
		{arrow.PrimitiveTypes.Float32, Double},
		{arrow.PrimitiveTypes.Float64, Double},
		{&arrow.Decimal32Type{Precision: 9, Scale: 2}, BigDecimal},
		{&arrow.Decimal64Type{Precision: 18, Scale: 2}, BigDecimal},
		{&arrow.Decimal128Type{Precision: 38, Scale: 10}, BigDecimal},
		{&arrow.Decimal256Type{Precision: 76, Scale: 0}, BigDecimal},
		{arrow.FixedWidthTypes.Boolean, Bool},
		{arrow.BinaryTypes.String, String},
		{arrow.BinaryTypes.LargeString, String},
		{arrow.BinaryTypes.StringView, String},
		{&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}, String},
		{&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Uint64, ValueType: arrow.BinaryTypes.LargeString}, String},
		{arrow.FixedWidthTypes.Date32, Date},
		{arrow.FixedWidthTypes.Date64, Date},
		{arrow.FixedWidthTypes.Time32s, Time},
		{arrow.FixedWidthTypes.Time32ms, Time},
		{arrow.FixedWidthTypes.Time64us, Time},
		{arrow.FixedWidthTypes.Time64ns, Time},
		{&arrow.TimestampType{Unit: arrow.Second}, DateTime},
		{&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, DateTime},
		{&arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "Europe/Berlin"}, DateTime},
		{extensions.NewUUIDType(), String},
	}
	for _, tt := range tests {
		t.Run(tt.typ.String(), func(t *testing.T) {
			got, err := MapType(tt.typ)
			if err != nil || got != tt.want {
				t.Errorf("MapType(%s) = %q, %v; want %q", tt.typ, got, err, tt.want)
			}
			// Every mapped type can be encoded as its own dataType and as STRING.
			for _, dt := range []DataType{got, String} {
				if !overrideAllowed(tt.typ, dt) {
					t.Errorf("overrideAllowed(%s, %s) = false, want true", tt.typ, dt)
				}
				if _, err := newRenderer(tt.typ, dt); err != nil {
					t.Errorf("newRenderer(%s, %s): %v", tt.typ, dt, err)
				}
			}
		})
	}
}

func TestMapTypeUnsupported(t *testing.T) {
	tests := []struct {
		typ  arrow.DataType
		want []string // substrings of the error: the type and the way out
	}{
		{arrow.PrimitiveTypes.Uint64, []string{"uint64", "col::numeric", "int64 or decimal", "BIGINTEGER"}},
		{arrow.BinaryTypes.Binary, []string{"binary", "col::text", "encode(col, 'hex')", "Parquet column to a string"}},
		{arrow.BinaryTypes.LargeBinary, []string{"large_binary", "col::text"}},
		{&arrow.FixedSizeBinaryType{ByteWidth: 16}, []string{"fixed_size_binary[16]", "col::text"}},
		{arrow.BinaryTypes.BinaryView, []string{"binary_view", "col::text"}},
		{arrow.ListOf(arrow.PrimitiveTypes.Int32), []string{"list<item: int32", "array_to_string", "Parquet column"}},
		{arrow.LargeListOf(arrow.BinaryTypes.String), []string{"large_list", "array_to_string"}},
		{arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float64), []string{"fixed_size_list", "col::text"}},
		{arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64}), []string{"struct<a: int64>", "to_jsonb(col)::text"}},
		{arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), []string{"map<utf8, int64", "to_jsonb(col)::text"}},
		{arrow.FixedWidthTypes.MonthDayNanoInterval, []string{"month_day_nano_interval", "col::text", "extract(epoch from col)"}},
		{arrow.FixedWidthTypes.MonthInterval, []string{"month_interval", "col::text"}},
		{arrow.FixedWidthTypes.Duration_us, []string{"duration[us]", "col::text"}},
		{arrow.Null, []string{"null", "NULL::text"}},
		{&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.PrimitiveTypes.Int64}, []string{"dictionary<values=int64", "only dictionaries of strings", "col::text"}},
		{extensions.NewBool8Type(), []string{"bool8", "col::text"}},
	}
	for _, tt := range tests {
		t.Run(tt.typ.String(), func(t *testing.T) {
			got, err := MapType(tt.typ)
			if err == nil {
				t.Fatalf("MapType(%s) = %q, want an error", tt.typ, got)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("MapType(%s) error = %q, want it to contain %q", tt.typ, err, w)
				}
			}
		})
	}
}

// TestOverrides checks which dataTypes each kind of Arrow type may be pushed as: the
// override rules of EncodeColumn.Type.
func TestOverrides(t *testing.T) {
	tests := []struct {
		typ  arrow.DataType
		want []DataType
	}{
		{arrow.PrimitiveTypes.Int64, []DataType{String, Integer, BigInteger, Double, BigDecimal}},
		{arrow.PrimitiveTypes.Uint64, []DataType{String, Integer, BigInteger, Double, BigDecimal}},
		{arrow.PrimitiveTypes.Int8, []DataType{String, Integer, BigInteger, Double, BigDecimal}},
		{arrow.PrimitiveTypes.Float32, []DataType{String, Double, BigDecimal}},
		{&arrow.Decimal128Type{Precision: 10, Scale: 2}, []DataType{String, Double, BigDecimal}},
		{arrow.FixedWidthTypes.Boolean, []DataType{String, Bool}},
		{arrow.BinaryTypes.String, []DataType{String}},
		{arrow.FixedWidthTypes.Date32, []DataType{String, Date}},
		{arrow.FixedWidthTypes.Time64us, []DataType{String, Time}},
		{&arrow.TimestampType{Unit: arrow.Microsecond}, []DataType{String, DateTime}},
		{arrow.BinaryTypes.Binary, nil},
	}
	for _, tt := range tests {
		t.Run(tt.typ.String(), func(t *testing.T) {
			if got := allowedOverrides(tt.typ); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("allowed overrides of %s = %v, want %v", tt.typ, got, tt.want)
			}
		})
	}
}

// TestPushType checks the one decision every source's columns go through: the dataType
// pushed, an override that fits, and errors naming the type, the override and the
// overrides allowed.
func TestPushType(t *testing.T) {
	tests := []struct {
		typ      arrow.DataType
		override DataType
		want     DataType
		wantErr  []string
	}{
		{arrow.PrimitiveTypes.Int64, "", BigInteger, nil},
		{arrow.PrimitiveTypes.Int64, Integer, Integer, nil},
		{arrow.PrimitiveTypes.Int64, String, String, nil},
		{extensions.NewUUIDType(), "", String, nil},
		{arrow.BinaryTypes.StringView, "", String, nil},
		{&arrow.Decimal32Type{Precision: 9, Scale: 2}, "", BigDecimal, nil},
		{&arrow.Decimal64Type{Precision: 18, Scale: 2}, Double, Double, nil},
		{arrow.PrimitiveTypes.Uint64, BigInteger, BigInteger, nil},
		{arrow.PrimitiveTypes.Int64, Date, "", []string{"source type int64 cannot be pushed as DATE", "type overrides allowed for it: STRING, INTEGER, BIGINTEGER, DOUBLE, BIGDECIMAL"}},
		{arrow.BinaryTypes.String, Double, "", []string{"source type utf8 cannot be pushed as DOUBLE", "allowed for it: STRING)"}},
		{arrow.PrimitiveTypes.Uint64, "", "", []string{"source type uint64 is not supported: its values can exceed"}},
		{arrow.BinaryTypes.Binary, String, "", []string{"source type binary is not supported: cast it to text", "the type override STRING cannot change that"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s as %q", tt.typ, tt.override), func(t *testing.T) {
			got, err := PushType(tt.typ, tt.override)
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("PushType = %q, %v; want %q", got, err, tt.want)
				}
				if _, err := newRenderer(tt.typ, got); err != nil {
					t.Errorf("the encoder cannot render %s as %s, which PushType allowed: %v", tt.typ, got, err)
				}
				return
			}
			var te *TypeError
			if !errors.As(err, &te) {
				t.Fatalf("PushType = %q, %v; want a *TypeError", got, err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
