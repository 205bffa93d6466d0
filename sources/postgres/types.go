package postgres

import (
	"context"
	"fmt"
	"regexp"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// kind is how one result column is decoded and which Arrow builder it feeds.
type kind uint8

const (
	kindInt2 kind = iota + 1
	kindInt4
	kindInt8
	kindFloat4
	kindFloat8
	kindBool
	kindNumeric128
	kindNumeric256
	kindDate
	kindTime
	kindTimestamp
	kindString // any text-like type, read in the text format
)

// Postgres numeric typmods store precision and scale; arrow decimals go up to 38 digits
// (decimal128) and 76 digits (decimal256).
const (
	maxDecimal128Precision = 38
	maxDecimal256Precision = 76
)

// builtinKinds maps the built-in type OIDs that cubesync reads. Enums, citext and other
// user-defined string types have OIDs assigned at CREATE TYPE time and are recognised by
// asking pg_type (see resolveColumns).
var builtinKinds = map[uint32]kind{
	pgtype.Int2OID:        kindInt2,
	pgtype.Int4OID:        kindInt4,
	pgtype.Int8OID:        kindInt8,
	pgtype.Float4OID:      kindFloat4,
	pgtype.Float8OID:      kindFloat8,
	pgtype.BoolOID:        kindBool,
	pgtype.NumericOID:     kindNumeric128, // or 256, by precision
	pgtype.DateOID:        kindDate,
	pgtype.TimeOID:        kindTime,
	pgtype.TimestampOID:   kindTimestamp,
	pgtype.TimestamptzOID: kindTimestamp,
	pgtype.TextOID:        kindString,
	pgtype.VarcharOID:     kindString,
	pgtype.BPCharOID:      kindString,
	pgtype.NameOID:        kindString,
	pgtype.QCharOID:       kindString,
	pgtype.UUIDOID:        kindString,
	pgtype.JSONOID:        kindString,
	pgtype.JSONBOID:       kindString,
	pgtype.XMLOID:         kindString,
}

// column is one result column: how to decode it and what it becomes.
type column struct {
	name  string
	kind  kind
	field arrow.Field
	scale int32 // numeric only
}

// UnsupportedTypeError reports a result column whose Postgres type cubesync cannot push. The
// query has to cast it, and Cast says how.
type UnsupportedTypeError struct {
	Column string // the result column's name
	Type   string // the Postgres type, as format_type prints it
	Cast   string // the expression to write instead, such as "d::text"
}

func (e *UnsupportedTypeError) Error() string {
	return fmt.Sprintf("column %q has type %s, which cubesync cannot push: cast it in the query: %s", e.Column, e.Type, e.Cast)
}

// resolveColumns maps the query's result fields to Arrow fields. It asks pg_type about any
// OID that is not built in, so enums and citext become strings and unsupported types get
// their SQL name in the error.
func resolveColumns(ctx context.Context, conn *pgx.Conn, fields []pgconn.FieldDescription) ([]column, error) {
	var unknown []uint32
	for _, f := range fields {
		if _, ok := builtinKinds[f.DataTypeOID]; !ok {
			unknown = append(unknown, f.DataTypeOID)
		}
	}
	catalog, err := lookupTypes(ctx, conn, unknown)
	if err != nil {
		return nil, err
	}

	cols := make([]column, len(fields))
	seen := make(map[string]bool, len(fields))
	for i, f := range fields {
		if f.Name == "?column?" {
			return nil, fmt.Errorf("result column %d has no name: give the expression one with AS", i+1)
		}
		if seen[f.Name] {
			return nil, fmt.Errorf("result column name %q appears more than once: rename all but one with AS", f.Name)
		}
		seen[f.Name] = true

		c, err := resolveColumn(f, catalog[f.DataTypeOID])
		if err != nil {
			return nil, err
		}
		cols[i] = c
	}
	return cols, nil
}

// pgType is what pg_type says about a non-built-in type.
type pgType struct {
	name     string // format_type(oid, NULL)
	typtype  byte   // e = enum, b = base, c = composite, ...
	category byte   // S = string, A = array, ...
}

func lookupTypes(ctx context.Context, conn *pgx.Conn, oids []uint32) (map[uint32]pgType, error) {
	types := make(map[uint32]pgType, len(oids))
	if len(oids) == 0 {
		return types, nil
	}
	rows, err := conn.Query(ctx,
		"SELECT oid, format_type(oid, NULL), typtype::text, typcategory::text FROM pg_catalog.pg_type WHERE oid = ANY($1)",
		oids)
	if err != nil {
		return nil, fmt.Errorf("look up the result's column types: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var oid uint32
		var name, typtype, category string
		if err := rows.Scan(&oid, &name, &typtype, &category); err != nil {
			return nil, fmt.Errorf("look up the result's column types: %w", err)
		}
		types[oid] = pgType{name: name, typtype: typtype[0], category: category[0]}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up the result's column types: %w", err)
	}
	return types, nil
}

func resolveColumn(f pgconn.FieldDescription, catalog pgType) (column, error) {
	c := column{name: f.Name}
	k, builtin := builtinKinds[f.DataTypeOID]
	switch {
	case builtin:
		c.kind = k
	case catalog.typtype == 'e' || catalog.category == 'S':
		// Enums and string-category extension types (citext): their text form is the value.
		c.kind = kindString
	default:
		name := catalog.name
		if name == "" {
			name = fmt.Sprintf("with OID %d", f.DataTypeOID)
		}
		return c, &UnsupportedTypeError{Column: f.Name, Type: name, Cast: castHint(f.Name, name)}
	}

	var typ arrow.DataType
	switch c.kind {
	case kindInt2, kindInt4:
		typ = arrow.PrimitiveTypes.Int32
	case kindInt8:
		typ = arrow.PrimitiveTypes.Int64
	case kindFloat4:
		typ = arrow.PrimitiveTypes.Float32
	case kindFloat8:
		typ = arrow.PrimitiveTypes.Float64
	case kindBool:
		typ = arrow.FixedWidthTypes.Boolean
	case kindDate:
		typ = arrow.FixedWidthTypes.Date32
	case kindTime:
		typ = arrow.FixedWidthTypes.Time64us
	case kindTimestamp:
		if f.DataTypeOID == pgtype.TimestamptzOID {
			typ = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		} else {
			typ = &arrow.TimestampType{Unit: arrow.Microsecond}
		}
	case kindString:
		typ = arrow.BinaryTypes.String
	case kindNumeric128:
		precision, scale, err := numericType(f)
		if err != nil {
			return c, err
		}
		c.scale = scale
		if precision <= maxDecimal128Precision {
			typ = &arrow.Decimal128Type{Precision: precision, Scale: scale}
		} else {
			c.kind = kindNumeric256
			typ = &arrow.Decimal256Type{Precision: precision, Scale: scale}
		}
	}
	c.field = arrow.Field{Name: f.Name, Type: typ, Nullable: true}
	return c, nil
}

// numericType reads a numeric column's precision and scale from its typmod. An unconstrained
// numeric (no typmod, as sum() and arithmetic return) has no fixed scale, so it cannot become
// a decimal column without guessing one; the user is asked to choose it with a cast.
func numericType(f pgconn.FieldDescription) (precision, scale int32, err error) {
	const varhdrsz = 4
	if f.TypeModifier < varhdrsz {
		return 0, 0, &UnsupportedTypeError{Column: f.Name, Type: "numeric without precision and scale",
			Cast: castExpr(f.Name) + "::numeric(38,9) (choose the precision and scale), ::float8 or ::text"}
	}
	mod := f.TypeModifier - varhdrsz
	precision = (mod >> 16) & 0xffff
	scale = ((mod & 0x7ff) ^ 1024) - 1024 // Postgres 15 allows a negative scale: an 11-bit signed field
	// numeric(2,-3) holds 12000: five digits at scale 0. numeric(2,5) holds 0.00012: scale 5 needs
	// five digits of precision.
	if scale < 0 {
		precision -= scale
		scale = 0
	}
	precision = max(precision, scale)
	if precision > maxDecimal256Precision {
		return 0, 0, &UnsupportedTypeError{Column: f.Name, Type: fmt.Sprintf("numeric(%d,%d)", precision, scale),
			Cast: fmt.Sprintf("%s::numeric(%d,%d), ::float8 or ::text (decimals go up to %d digits)",
				castExpr(f.Name), maxDecimal256Precision, min(scale, maxDecimal256Precision), maxDecimal256Precision)}
	}
	return precision, scale, nil
}

// castHint says how to make a column of the Postgres type typ pushable.
func castHint(col, typ string) string {
	switch typ {
	case "time with time zone":
		return castExpr(col) + "::time or " + castExpr(col) + "::text"
	case "money":
		return castExpr(col) + "::numeric(19,2)"
	}
	return castExpr(col) + "::text"
}

var plainIdentifier = regexp.MustCompile(`^[a-z_][a-z0-9_$]*$`)

// castExpr is the column name as it would be written in SQL.
func castExpr(col string) string {
	if plainIdentifier.MatchString(col) {
		return col
	}
	return pgx.Identifier{col}.Sanitize()
}
