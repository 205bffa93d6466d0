package sink

// Renderers of numbers and booleans: integers (with range checks), floats, half floats,
// decimals of every width.

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
)

// (an int64 column pushed as INTEGER).
type signedRenderer[T int8 | int16 | int32 | int64] struct {
	check    bool
	min, max int64
}

func newSigned[T int8 | int16 | int32 | int64](dt DataType) renderer {
	var r signedRenderer[T]
	if dt == Integer && unsafe.Sizeof(T(0)) > 4 {
		r = signedRenderer[T]{check: true, min: math.MinInt32, max: math.MaxInt32}
	}
	return r
}

func (r signedRenderer[T]) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	vals := arrow.GetValues[T](arr.Data(), 1)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		x := int64(vals[i])
		if r.check && (x < r.min || x > r.max) {
			return dst, &valueError{row: i, msg: fmt.Sprintf("value %d does not fit INTEGER (%d to %d)", x, r.min, r.max),
				fix: "set the column's type to BIGINTEGER"}
		}
		dst = strconv.AppendInt(dst, x, 10)
		dst = append(dst, ',')
	}
	return dst, nil
}

// unsignedRenderer renders unsigned integers; check makes values above max errors (a
// uint32 pushed as INTEGER, a uint64 pushed as BIGINTEGER).
type unsignedRenderer[T uint8 | uint16 | uint32 | uint64] struct {
	check bool
	max   uint64
	dt    DataType
}

func newUnsigned[T uint8 | uint16 | uint32 | uint64](dt DataType) renderer {
	r := unsignedRenderer[T]{dt: dt}
	switch size := unsafe.Sizeof(T(0)); {
	case dt == Integer && size >= 4:
		r.check, r.max = true, math.MaxInt32
	case dt == BigInteger && size == 8:
		r.check, r.max = true, math.MaxInt64
	}
	return r
}

func (r unsignedRenderer[T]) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	vals := arrow.GetValues[T](arr.Data(), 1)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		x := uint64(vals[i])
		if r.check && x > r.max {
			fix := "BIGINTEGER"
			if r.dt == BigInteger {
				fix = "BIGDECIMAL or STRING"
			}
			return dst, &valueError{row: i, msg: fmt.Sprintf("value %d does not fit %s (at most %d)", x, r.dt, r.max),
				fix: "set the column's type to " + fix}
		}
		dst = strconv.AppendUint(dst, x, 10)
		dst = append(dst, ',')
	}
	return dst, nil
}

// floatRenderer renders float32 and float64 at their own precision.
type floatRenderer[T float32 | float64] struct{ bits int }

func (r floatRenderer[T]) appendRows(dst []byte, arr arrow.Array, lo, hi int, c *counts) ([]byte, error) {
	vals := arrow.GetValues[T](arr.Data(), 1)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		x := float64(vals[i])
		if x-x != 0 { // NaN or ±Inf
			c.nonFinite++
			dst = append(dst, null...)
			continue
		}
		dst = appendFloat(dst, x, r.bits)
		dst = append(dst, ',')
	}
	return dst, nil
}

// appendFloat appends the shortest text of x that reads back as x at the given precision,
// as a JSON number: plain digits for magnitudes in [1e-6, 1e21), exponent form outside
// (as JavaScript and encoding/json write them).
func appendFloat(dst []byte, x float64, bits int) []byte {
	a := math.Abs(x)
	format := byte('f')
	if a != 0 {
		if bits == 64 && (a < 1e-6 || a >= 1e21) || bits == 32 && (float32(a) < 1e-6 || float32(a) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, x, format, -1, bits)
	if format == 'e' {
		// e-07 → e-7
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// halfRenderer renders float16 values: arrow-go's float16 conversions truncate and lose
// subnormals, so the bits are decoded here.
type halfRenderer struct{}

func (halfRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, c *counts) ([]byte, error) {
	vals := arrow.GetValues[uint16](arr.Data(), 1)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		h := vals[i]
		if h&0x7c00 == 0x7c00 { // NaN or ±Inf
			c.nonFinite++
			dst = append(dst, null...)
			continue
		}
		dst = appendHalf(dst, h)
		dst = append(dst, ',')
	}
	return dst, nil
}

// halfToFloat64 is the exact value of half-precision bits h.
func halfToFloat64(h uint16) float64 {
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	var x float64
	switch exp {
	case 0:
		x = math.Ldexp(frac, -24)
	case 0x1f:
		x = math.Inf(1)
		if frac != 0 {
			x = math.NaN()
		}
	default:
		x = math.Ldexp(frac+1024, exp-25)
	}
	if h&0x8000 != 0 {
		x = -x
	}
	return x
}

// appendHalf appends the shortest decimal that rounds back to the finite half h: the
// first number of significant digits whose decimal lies strictly closer to h than
// halfway to either neighbour.
func appendHalf(dst []byte, h uint16) []byte {
	mag := h & 0x7fff
	x := halfToFloat64(mag)
	if mag == 0 {
		return appendFloat(dst, halfToFloat64(h), 64)
	}
	below := halfToFloat64(mag - 1)
	above := 65520.0 // from here on, values round to +Inf
	if mag < 0x7bff {
		above = halfToFloat64(mag + 1)
	}
	var buf [32]byte
	d := x
	for prec := 0; prec < 17; prec++ {
		s := strconv.AppendFloat(buf[:0], x, 'e', prec, 64)
		p, err := strconv.ParseFloat(unsafe.String(&s[0], len(s)), 64)
		if err == nil && p-x < (above-x)/2 && x-p < (x-below)/2 {
			d = p
			break
		}
	}
	if h&0x8000 != 0 {
		d = -d
	}
	return appendFloat(dst, d, 64)
}

// decimalRenderer renders decimals of every width: magnitude reads a value's sign and
// unscaled magnitude (64-bit words, least significant first), which appendDecimal writes
// with the column's scale.
type decimalRenderer[T int32 | int64 | decimal128.Num | decimal256.Num] struct {
	scale     int32
	magnitude func(T) (neg bool, w [4]uint64)
}

func (r decimalRenderer[T]) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	vals := arrow.GetValues[T](arr.Data(), 1)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		neg, w := r.magnitude(vals[i])
		dst = appendDecimal(dst, neg, w, r.scale)
		dst = append(dst, ',')
	}
	return dst, nil
}

// smallMagnitude is the magnitude of a decimal32 or decimal64 value.
func smallMagnitude[T int32 | int64](v T) (bool, [4]uint64) {
	x := int64(v)
	mag := uint64(x)
	if x < 0 {
		mag = -mag
	}
	return x < 0, [4]uint64{mag}
}

// magnitude128 is the magnitude of a decimal128 value.
func magnitude128(n decimal128.Num) (bool, [4]uint64) {
	lo, hi := n.LowBits(), uint64(n.HighBits())
	neg := n.HighBits() < 0
	if neg { // two's complement magnitude
		lo, hi = ^lo+1, ^hi
		if lo == 0 {
			hi++
		}
	}
	return neg, [4]uint64{lo, hi}
}

// magnitude256 is the magnitude of a decimal256 value.
func magnitude256(n decimal256.Num) (bool, [4]uint64) {
	w := n.Array()
	neg := w[3]>>63 == 1
	if neg {
		carry := uint64(1)
		for j := range w {
			w[j], carry = bits.Add64(^w[j], 0, carry)
		}
	}
	return neg, w
}

// appendDecimal appends the exact decimal text of the unscaled magnitude w (64-bit words,
// least significant first) divided by 10^scale, keeping the scale's digits.
func appendDecimal(dst []byte, neg bool, w [4]uint64, scale int32) []byte {
	var buf [96]byte
	digits := appendMagnitude(buf[:0], w)
	if neg {
		dst = append(dst, '-')
	}
	n := int32(len(digits))
	switch {
	case scale <= 0:
		dst = append(dst, digits...)
		if n > 1 || digits[0] != '0' {
			for range -scale {
				dst = append(dst, '0')
			}
		}
	case n > scale:
		dst = append(dst, digits[:n-scale]...)
		dst = append(dst, '.')
		dst = append(dst, digits[n-scale:]...)
	default:
		dst = append(dst, '0', '.')
		for range scale - n {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	}
	return dst
}

// appendMagnitude appends the decimal digits of the unsigned 256-bit number w.
func appendMagnitude(dst []byte, w [4]uint64) []byte {
	top := 3
	for top > 0 && w[top] == 0 {
		top--
	}
	if top == 0 {
		return strconv.AppendUint(dst, w[0], 10)
	}
	const base = 10_000_000_000_000_000_000 // 10^19, the largest power of ten in 64 bits
	var limbs [5]uint64                     // base-10^19 digits, least significant first
	n := 0
	for top > 0 || w[0] >= base {
		var rem uint64
		for j := top; j >= 0; j-- {
			w[j], rem = bits.Div64(rem, w[j], base)
		}
		limbs[n] = rem
		n++
		for top > 0 && w[top] == 0 {
			top--
		}
	}
	dst = strconv.AppendUint(dst, w[0], 10)
	for j := n - 1; j >= 0; j-- {
		var pad [20]byte
		s := strconv.AppendUint(pad[:0], limbs[j], 10)
		for range 19 - len(s) {
			dst = append(dst, '0')
		}
		dst = append(dst, s...)
	}
	return dst
}

type boolRenderer struct{}

func (boolRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	b := arr.(*array.Boolean)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		switch {
		case v.null(i):
			dst = append(dst, null...)
		case b.Value(i):
			dst = append(dst, "true,"...)
		default:
			dst = append(dst, "false,"...)
		}
	}
	return dst, nil
}

// stringRenderer renders string (int32 offsets) and large_string (int64 offsets) arrays.
// When a block's bytes need no escaping, which is the common case, values are copied
// without looking at them one by one.
