package sink

// The renderers: one per Arrow type, each appending a column's values as comma-separated
// JSON. This file holds their interface, the choice of one for a column (newRenderer), the
// null handling they share and the quoting of numbers pushed as STRING; the renderers
// themselves are in render_numeric.go, render_text.go and render_time.go.

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
)

// renderer appends the JSON values of rows [lo, hi) of an Arrow array, each followed by
// a comma, and counts the values it had to change in c.
type renderer interface {
	appendRows(dst []byte, arr arrow.Array, lo, hi int, c *counts) ([]byte, error)
}

// valueError is a value that cannot be pushed as the column's dataType; row is its index
// in the array, which the encoder turns into a row number.
type valueError struct {
	row int
	msg string
	fix string // what to do about it, unless EncodeColumn.Advice says otherwise
}

func (e *valueError) Error() string { return fmt.Sprintf("row %d: %s", e.row, e.msg) }

// newRenderer returns the renderer of Arrow type t pushed as dataType dt; overrideAllowed
// has accepted the pair.
func newRenderer(t arrow.DataType, dt DataType) (renderer, error) {
	var r renderer
	switch t.ID() {
	case arrow.INT8:
		r = newSigned[int8](dt)
	case arrow.INT16:
		r = newSigned[int16](dt)
	case arrow.INT32:
		r = newSigned[int32](dt)
	case arrow.INT64:
		r = newSigned[int64](dt)
	case arrow.UINT8:
		r = newUnsigned[uint8](dt)
	case arrow.UINT16:
		r = newUnsigned[uint16](dt)
	case arrow.UINT32:
		r = newUnsigned[uint32](dt)
	case arrow.UINT64:
		r = newUnsigned[uint64](dt)
	case arrow.FLOAT16:
		r = halfRenderer{}
	case arrow.FLOAT32:
		r = floatRenderer[float32]{bits: 32}
	case arrow.FLOAT64:
		r = floatRenderer[float64]{bits: 64}
	case arrow.DECIMAL32:
		r = decimalRenderer[int32]{scale: t.(arrow.DecimalType).GetScale(), magnitude: smallMagnitude[int32]}
	case arrow.DECIMAL64:
		r = decimalRenderer[int64]{scale: t.(arrow.DecimalType).GetScale(), magnitude: smallMagnitude[int64]}
	case arrow.DECIMAL128:
		r = decimalRenderer[decimal128.Num]{scale: t.(arrow.DecimalType).GetScale(), magnitude: magnitude128}
	case arrow.DECIMAL256:
		r = decimalRenderer[decimal256.Num]{scale: t.(arrow.DecimalType).GetScale(), magnitude: magnitude256}
	case arrow.BOOL:
		r = boolRenderer{}
	case arrow.STRING:
		r = stringRenderer[int32]{}
	case arrow.LARGE_STRING:
		r = stringRenderer[int64]{}
	case arrow.STRING_VIEW:
		r = stringViewRenderer{}
	case arrow.DICTIONARY:
		r = dictionaryRenderer{}
	case arrow.DATE32:
		r = dateRenderer{wide: false}
	case arrow.DATE64:
		r = dateRenderer{wide: true}
	case arrow.TIME32:
		r = newTimeRenderer(t.(*arrow.Time32Type).Unit, false)
	case arrow.TIME64:
		r = newTimeRenderer(t.(*arrow.Time64Type).Unit, true)
	case arrow.TIMESTAMP:
		r = newTimestampRenderer(t.(*arrow.TimestampType).Unit)
	case arrow.EXTENSION:
		if !isUUID(t) {
			return nil, fmt.Errorf("arrow type %s is not supported: %s", t, unsupportedAdvice(t))
		}
		r = uuidRenderer{}
	default:
		return nil, fmt.Errorf("arrow type %s is not supported: %s", t, unsupportedAdvice(t))
	}
	switch c := classOf(t); {
	case dt == String && c != classString && c != classDate && c != classTime && c != classTimestamp:
		// Numbers and bools are quoted; dates, times and strings already are.
		r = quoteRenderer{inner: r}
	}
	return r, nil
}

// validity answers IsNull without an interface call per value.
type validity struct {
	bits []byte
	off  int
	none bool // no nulls: bits is not read
}

func validityOf(arr arrow.Array) validity {
	if arr.NullN() == 0 {
		return validity{none: true}
	}
	return validity{bits: arr.NullBitmapBytes(), off: arr.Data().Offset()}
}

func (v validity) null(i int) bool {
	if v.none {
		return false
	}
	j := v.off + i
	return v.bits[j>>3]&(1<<(j&7)) == 0
}

const null = "null,"

// signedRenderer renders signed integers; check makes values outside [min, max] errors

// quoteRenderer renders a number or bool column pushed as STRING: the inner renderer's
// values, none of which holds a comma or a quote, each put in quotes; null stays null.
// Values are rendered one at a time straight into dst, so that it holds no state of its
// own and tasks may use it at once.
type quoteRenderer struct {
	inner renderer
}

func (q quoteRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, c *counts) ([]byte, error) {
	for i := lo; i < hi; i++ {
		start := len(dst)
		dst = append(dst, '"')
		var err error
		if dst, err = q.inner.appendRows(dst, arr, i, i+1, c); err != nil {
			return dst[:start], err
		}
		if string(dst[start+1:len(dst)-1]) == "null" {
			dst = append(dst[:start], null...)
			continue
		}
		dst[len(dst)-1] = '"' // in place of the value's comma
		dst = append(dst, ',')
	}
	return dst, nil
}
