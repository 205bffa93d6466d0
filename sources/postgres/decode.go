package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
)

// Postgres's binary date and timestamp values count from 2000-01-01; Arrow's from 1970-01-01.
const (
	pgEpochDays   = 10957           // days from 1970-01-01 to 2000-01-01
	pgEpochMicros = 946684800000000 // microseconds from 1970-01-01 to 2000-01-01
)

var (
	errInfinity = errors.New("is infinity, which has no date or timestamp to push: filter it out or replace it, e.g. NULLIF(col, 'infinity')")
	errNaN      = errors.New("is NaN, which a decimal cannot hold: filter it out or cast the column ::float8")
)

func wrongLength(typ string, want, got int) error {
	return fmt.Errorf("malformed %s value: %d bytes, want %d", typ, got, want)
}

func decodeInt2(src []byte) (int32, error) {
	if len(src) != 2 {
		return 0, wrongLength("int2", 2, len(src))
	}
	return int32(int16(binary.BigEndian.Uint16(src))), nil
}

func decodeInt4(src []byte) (int32, error) {
	if len(src) != 4 {
		return 0, wrongLength("int4", 4, len(src))
	}
	return int32(binary.BigEndian.Uint32(src)), nil
}

func decodeInt8(src []byte) (int64, error) {
	if len(src) != 8 {
		return 0, wrongLength("int8", 8, len(src))
	}
	return int64(binary.BigEndian.Uint64(src)), nil
}

func decodeFloat4(src []byte) (float32, error) {
	if len(src) != 4 {
		return 0, wrongLength("float4", 4, len(src))
	}
	return math.Float32frombits(binary.BigEndian.Uint32(src)), nil
}

func decodeFloat8(src []byte) (float64, error) {
	if len(src) != 8 {
		return 0, wrongLength("float8", 8, len(src))
	}
	return math.Float64frombits(binary.BigEndian.Uint64(src)), nil
}

func decodeBool(src []byte) (bool, error) {
	if len(src) != 1 {
		return false, wrongLength("bool", 1, len(src))
	}
	return src[0] != 0, nil
}

// decodeDate returns days since 1970-01-01.
func decodeDate(src []byte) (int32, error) {
	if len(src) != 4 {
		return 0, wrongLength("date", 4, len(src))
	}
	days := int32(binary.BigEndian.Uint32(src))
	if days == math.MaxInt32 || days == math.MinInt32 {
		return 0, errInfinity
	}
	// Postgres's last date, 5874897-12-31, is 2145031948 days after 2000: no overflow.
	return days + pgEpochDays, nil
}

// decodeTime returns microseconds since midnight.
func decodeTime(src []byte) (int64, error) {
	if len(src) != 8 {
		return 0, wrongLength("time", 8, len(src))
	}
	return int64(binary.BigEndian.Uint64(src)), nil
}

// decodeTimestamp returns microseconds since 1970-01-01 00:00:00 (UTC for timestamptz, which
// travels as the UTC instant whatever the session's TimeZone).
func decodeTimestamp(src []byte) (int64, error) {
	if len(src) != 8 {
		return 0, wrongLength("timestamp", 8, len(src))
	}
	us := int64(binary.BigEndian.Uint64(src))
	if us == math.MaxInt64 || us == math.MinInt64 {
		return 0, errInfinity
	}
	if us > math.MaxInt64-pgEpochMicros {
		// Postgres goes up to 294276 AD; Arrow's int64 microseconds since 1970 to 294247 AD.
		return 0, errors.New("is after the year 294246, beyond what a timestamp in microseconds can hold")
	}
	return us + pgEpochMicros, nil
}

var pow10 = [...]uint64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
	10000000000, 100000000000, 1000000000000, 10000000000000, 100000000000000, 1000000000000000,
	10000000000000000, 100000000000000000, 1000000000000000000, 10000000000000000000}

// unscaled is a decimal's value times 10^scale: in lo when it fits in 64 bits, else in big.
type unscaled struct {
	neg bool
	lo  uint64
	big *big.Int // magnitude; nil when lo holds it
}

func (u *unscaled) mulAdd(mul, add uint64) {
	if u.big == nil {
		hi, lo := bits.Mul64(u.lo, mul)
		sum, carry := bits.Add64(lo, add, 0)
		if hi == 0 && carry == 0 {
			u.lo = sum
			return
		}
		u.big = new(big.Int).SetUint64(u.lo)
	}
	u.big.Mul(u.big, new(big.Int).SetUint64(mul))
	u.big.Add(u.big, new(big.Int).SetUint64(add))
}

// decodeNumeric reads Postgres's binary numeric (ndigits, weight, sign, dscale, then ndigits
// base-10000 digits, the first one worth 10000^weight) as its exact value times 10^scale.
// Digits below 10^-scale must be zero: a numeric(p,s) column never has them.
func decodeNumeric(src []byte, scale int32) (unscaled, error) {
	var u unscaled
	if len(src) < 8 {
		return u, fmt.Errorf("malformed numeric value: %d bytes", len(src))
	}
	ndigits := int(int16(binary.BigEndian.Uint16(src)))
	weight := int(int16(binary.BigEndian.Uint16(src[2:])))
	sign := binary.BigEndian.Uint16(src[4:])
	if ndigits < 0 || len(src) != 8+2*ndigits {
		return u, fmt.Errorf("malformed numeric value: %d bytes for %d digits", len(src), ndigits)
	}
	switch sign {
	case 0x0000:
	case 0x4000:
		u.neg = true
	case 0xC000:
		return u, errNaN
	case 0xD000, 0xF000:
		return u, errors.New("is infinity, which a decimal cannot hold: filter it out or cast the column ::float8")
	default:
		return u, fmt.Errorf("malformed numeric value: sign %#x", sign)
	}

	minExp := -int(scale)
	last := minExp // exponent of the least significant decimal digit in u so far
	for i := range ndigits {
		d := uint64(binary.BigEndian.Uint16(src[8+2*i:]))
		exp := 4 * (weight - i) // exponent of this group's least significant digit
		if exp >= minExp {
			u.mulAdd(10000, d)
			last = exp
			continue
		}
		keep := exp + 4 - minExp // digits of this group at or above 10^-scale
		if keep <= 0 {
			if d != 0 {
				return u, fmt.Errorf("has more than %d digits after the decimal point", scale)
			}
			continue
		}
		drop := pow10[4-keep]
		if d%drop != 0 {
			return u, fmt.Errorf("has more than %d digits after the decimal point", scale)
		}
		u.mulAdd(pow10[keep], d/drop)
		last = minExp
	}
	if ndigits == 0 {
		u.neg = false
		return u, nil
	}
	for shift := last - minExp; shift > 0; shift -= 19 {
		u.mulAdd(pow10[min(shift, 19)], 0)
	}
	return u, nil
}

func (u unscaled) signedBig() *big.Int {
	b := u.big
	if b == nil {
		b = new(big.Int).SetUint64(u.lo)
	}
	if u.neg {
		b = new(big.Int).Neg(b)
	}
	return b
}

func (u unscaled) decimal128(precision int32) (decimal128.Num, error) {
	var n decimal128.Num
	if u.big == nil {
		n = decimal128.FromU64(u.lo)
		if u.neg {
			n = n.Negate()
		}
	} else {
		if u.big.BitLen() > 127 {
			return n, fmt.Errorf("has more than %d digits", precision)
		}
		n = decimal128.FromBigInt(u.signedBig())
	}
	if !n.FitsInPrecision(precision) {
		return n, fmt.Errorf("has more than %d digits", precision)
	}
	return n, nil
}

func (u unscaled) decimal256(precision int32) (decimal256.Num, error) {
	var n decimal256.Num
	if u.big == nil {
		n = decimal256.FromU64(u.lo)
		if u.neg {
			n = n.Negate()
		}
	} else {
		if u.big.BitLen() > 255 {
			return n, fmt.Errorf("has more than %d digits", precision)
		}
		n = decimal256.FromBigInt(u.signedBig())
	}
	if !n.FitsInPrecision(precision) {
		return n, fmt.Errorf("has more than %d digits", precision)
	}
	return n, nil
}
