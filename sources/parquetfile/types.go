package parquetfile

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// UnsupportedTypeError reports a column whose Arrow type the push cannot carry.
type UnsupportedTypeError struct {
	File   string
	Column string
	Type   arrow.DataType
}

func (e *UnsupportedTypeError) Error() string {
	return fmt.Sprintf("parquet file %s column %q: type %s is not supported: %s",
		e.File, e.Column, e.Type, conversionHint(e.Type))
}

// SchemaMismatchError reports two files of one table whose schemas differ.
type SchemaMismatchError struct {
	File, OtherFile string
	// Detail names the column and how it differs, e.g. `column "qty" is int32 in one and int64 in the other`.
	Detail string
}

func (e *SchemaMismatchError) Error() string {
	return fmt.Sprintf("parquet files %s and %s have different schemas: %s (all files of a table must share one schema: rewrite the odd file or point the table at files of one shape)",
		e.File, e.OtherFile, e.Detail)
}

// supported reports whether values of t can be pushed, following product.md's type table.
func supported(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32,
		arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64,
		arrow.DECIMAL128, arrow.DECIMAL256,
		arrow.BOOL,
		arrow.STRING, arrow.LARGE_STRING,
		arrow.DATE32, arrow.DATE64,
		arrow.TIME32, arrow.TIME64,
		arrow.TIMESTAMP:
		return true
	case arrow.DICTIONARY:
		switch t.(*arrow.DictionaryType).ValueType.ID() {
		case arrow.STRING, arrow.LARGE_STRING:
			return true
		}
	}
	return false
}

// conversionHint says how to turn a column of type t into one the push accepts.
func conversionHint(t arrow.DataType) string {
	switch t.ID() {
	case arrow.UINT64:
		return "cast it to int64 when the values fit, else to decimal128(20,0), or exclude the column"
	case arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW, arrow.FIXED_SIZE_BINARY:
		return "convert it to a string column (UTF-8 text, or hex/base64 for raw bytes), or exclude the column"
	case arrow.STRING_VIEW:
		return "write it as a plain string column, or exclude the column"
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.LIST_VIEW, arrow.LARGE_LIST_VIEW,
		arrow.STRUCT, arrow.MAP, arrow.SPARSE_UNION, arrow.DENSE_UNION:
		return "flatten it into scalar columns or serialise it to a JSON string column, or exclude the column"
	case arrow.DURATION, arrow.INTERVAL_MONTHS, arrow.INTERVAL_DAY_TIME, arrow.INTERVAL_MONTH_DAY_NANO:
		return "convert it to a number (for example int64 seconds), or exclude the column"
	case arrow.NULL:
		return "the column has no type (every value is null): write it with a concrete type, or exclude the column"
	case arrow.DICTIONARY:
		return "decode it to its value type (only dictionaries of strings are read as such), or exclude the column"
	}
	return "convert it to a supported type (integer, float, decimal, bool, string, date, time or timestamp), or exclude the column"
}
