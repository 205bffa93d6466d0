package sink

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// MapType returns the push dataType of an Arrow type, following the type table of
// product.md. A type with no dataType (binary, nested, uint64, interval, duration, ...) is
// an error naming the type and saying which cast or conversion makes it loadable; callers
// wrap it with the table and column names.
func MapType(t arrow.DataType) (DataType, error) {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.UINT8, arrow.UINT16:
		return Integer, nil
	case arrow.INT64, arrow.UINT32:
		return BigInteger, nil
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		return Double, nil
	case arrow.DECIMAL32, arrow.DECIMAL64, arrow.DECIMAL128, arrow.DECIMAL256:
		return BigDecimal, nil
	case arrow.BOOL:
		return Bool, nil
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return String, nil
	case arrow.DICTIONARY:
		dt := t.(*arrow.DictionaryType)
		switch dt.ValueType.ID() {
		case arrow.STRING, arrow.LARGE_STRING:
			return String, nil
		}
		return "", fmt.Errorf("arrow type %s is not supported: only dictionaries of strings are; "+
			"cast it to text in the query (col::text), or convert the Parquet column to plain %s",
			t, dt.ValueType)
	case arrow.DATE32, arrow.DATE64:
		return Date, nil
	case arrow.TIME32, arrow.TIME64:
		return Time, nil
	case arrow.TIMESTAMP:
		return DateTime, nil
	case arrow.EXTENSION:
		if isUUID(t) {
			return String, nil
		}
	}
	return "", fmt.Errorf("arrow type %s is not supported: %s", t, unsupportedAdvice(t))
}

// unsupportedAdvice says how to make a column of an unsupported type loadable, for both
// kinds of source: a cast in the Postgres query, or a conversion of the Parquet column.
func unsupportedAdvice(t arrow.DataType) string {
	switch t.ID() {
	case arrow.UINT64:
		return "its values can exceed BIGINTEGER's range; cast it in the query (col::bigint, or col::numeric " +
			"for values above 9223372036854775807), convert the Parquet column to int64 or decimal, " +
			"or set the column's type to BIGINTEGER, DOUBLE, BIGDECIMAL or STRING to load the values as they are"
	case arrow.BINARY, arrow.LARGE_BINARY, arrow.FIXED_SIZE_BINARY, arrow.BINARY_VIEW:
		return "cast it to text in the query (col::text, or encode(col, 'hex') for bytea), " +
			"or convert the Parquet column to a string"
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.LIST_VIEW, arrow.LARGE_LIST_VIEW:
		return "cast it to text in the query (col::text, or array_to_string(col, ',')), " +
			"or convert the Parquet column to a string"
	case arrow.STRUCT, arrow.MAP, arrow.SPARSE_UNION, arrow.DENSE_UNION:
		return "cast it to text in the query (col::text, or to_jsonb(col)::text), " +
			"or convert the Parquet column to a string"
	case arrow.INTERVAL_MONTHS, arrow.INTERVAL_DAY_TIME, arrow.INTERVAL_MONTH_DAY_NANO, arrow.DURATION:
		return "cast it in the query to text (col::text) or to a number of seconds " +
			"(extract(epoch from col)), or convert the Parquet column to a string or a number"
	case arrow.NULL:
		return "the column has no type because every value is NULL; cast it in the query (NULL::text) " +
			"or give the Parquet column a type"
	}
	return "cast it to text in the query (col::text), or convert the Parquet column to a string"
}

// typeClass groups the Arrow types that render alike, for deciding which dataType
// overrides a column accepts.
type typeClass int

const (
	classUnsupported typeClass = iota
	classSigned
	classUnsigned
	classFloat
	classDecimal
	classBool
	classString
	classDate
	classTime
	classTimestamp
)

func classOf(t arrow.DataType) typeClass {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		return classSigned
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return classUnsigned
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		return classFloat
	case arrow.DECIMAL32, arrow.DECIMAL64, arrow.DECIMAL128, arrow.DECIMAL256:
		return classDecimal
	case arrow.BOOL:
		return classBool
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return classString
	case arrow.DICTIONARY:
		switch t.(*arrow.DictionaryType).ValueType.ID() {
		case arrow.STRING, arrow.LARGE_STRING:
			return classString
		}
	case arrow.DATE32, arrow.DATE64:
		return classDate
	case arrow.TIME32, arrow.TIME64:
		return classTime
	case arrow.TIMESTAMP:
		return classTimestamp
	case arrow.EXTENSION:
		if isUUID(t) {
			return classString
		}
	}
	return classUnsupported
}

// isUUID reports whether t is the canonical arrow.uuid extension type, which pqarrow
// gives Parquet UUID columns; such values are pushed as their 8-4-4-4-12 hex text.
func isUUID(t arrow.DataType) bool {
	ext, ok := t.(arrow.ExtensionType)
	return ok && ext.ExtensionName() == "arrow.uuid" && arrow.TypeEqual(ext.StorageType(), &arrow.FixedSizeBinaryType{ByteWidth: 16})
}

// overrideAllowed reports whether a column of Arrow type t may be pushed as dataType dt.
// STRING takes anything as text; integers may be narrowed or widened (values are range
// checked while encoding); any number may be pushed as DOUBLE or BIGDECIMAL, rendered as
// its own exact text; every other dataType needs the Arrow type it maps from.
func overrideAllowed(t arrow.DataType, dt DataType) bool {
	c := classOf(t)
	if c == classUnsupported {
		return false
	}
	integer := c == classSigned || c == classUnsigned
	switch dt {
	case String:
		return true
	case Integer, BigInteger:
		return integer
	case Double, BigDecimal:
		return integer || c == classFloat || c == classDecimal
	case Bool:
		return c == classBool
	case Date:
		return c == classDate
	case Time:
		return c == classTime
	case DateTime:
		return c == classTimestamp
	}
	return false
}

// TypeError is a column whose Arrow type cannot be pushed, or cannot be pushed as the
// dataType a user chose for it. It names the types and what would work; callers add the
// job, table and column.
type TypeError struct {
	Type     arrow.DataType // the column's Arrow type
	Override DataType       // the dataType asked for; "" when the type has no dataType at all
	Allowed  []DataType     // the overrides the type takes; none when it has no dataType
	advice   string         // how to make an unsupported type loadable
}

func (e *TypeError) Error() string {
	if e.Override == "" || len(e.Allowed) == 0 {
		msg := fmt.Sprintf("source type %s is not supported: %s", e.Type, e.advice)
		if e.Override != "" {
			msg += fmt.Sprintf(" (the type override %s cannot change that)", e.Override)
		}
		return msg
	}
	allowed := make([]string, len(e.Allowed))
	for i, dt := range e.Allowed {
		allowed[i] = string(dt)
	}
	return fmt.Sprintf("source type %s cannot be pushed as %s (type overrides allowed for it: %s)",
		e.Type, e.Override, strings.Join(allowed, ", "))
}

// PushType decides the dataType a column of Arrow type t is pushed as: override when it
// is set and t can be rendered as it, else t's own dataType (MapType). This table, with
// MapType and AllowedOverrides, is the one place that says which source columns push and
// how; every source's schema goes through it before anything is pushed. The error is a
// *TypeError.
func PushType(t arrow.DataType, override DataType) (DataType, error) {
	if override != "" && classOf(t) != classUnsupported {
		if !overrideAllowed(t, override) {
			return "", &TypeError{Type: t, Override: override, Allowed: AllowedOverrides(t)}
		}
		return override, nil
	}
	dt, err := MapType(t)
	if err != nil {
		advice := strings.TrimPrefix(err.Error(), fmt.Sprintf("arrow type %s is not supported: ", t))
		return "", &TypeError{Type: t, Override: override, advice: advice}
	}
	return dt, nil
}

// AllowedOverrides lists the dataTypes a column of Arrow type t may be pushed as.
func AllowedOverrides(t arrow.DataType) []DataType {
	return allowedOverrides(t)
}

// allowedOverrides lists the dataTypes overrideAllowed accepts for t, for error messages.
func allowedOverrides(t arrow.DataType) []DataType {
	var out []DataType
	for _, dt := range DataTypes {
		if overrideAllowed(t, dt) {
			out = append(out, dt)
		}
	}
	return out
}
