package sink

// Renderers of dates, times and timestamps, with the calendar arithmetic they share.

import (
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
)

const (
	secPerDay = 86400
	msPerDay  = secPerDay * 1000
)

// dateRenderer renders date32 (days) and date64 (milliseconds) as "2024-01-31".
type dateRenderer struct {
	wide bool // date64
}

func (r dateRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	var vals32 []int32
	var vals64 []int64
	if r.wide {
		vals64 = arrow.GetValues[int64](arr.Data(), 1)
	} else {
		vals32 = arrow.GetValues[int32](arr.Data(), 1)
	}
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		var days int64
		if r.wide {
			days = floorDiv(vals64[i], msPerDay)
		} else {
			days = int64(vals32[i])
		}
		dst = append(dst, '"')
		dst = appendDate(dst, days)
		dst = append(dst, '"', ',')
	}
	return dst, nil
}

// timeRenderer renders time32 (s, ms) and time64 (us, ns) as "13:45:00[.fff]".
type timeRenderer struct {
	perSec int64
	digits int // fraction digits of the unit
	wide   bool
	unit   arrow.TimeUnit
}

func newTimeRenderer(u arrow.TimeUnit, wide bool) *timeRenderer {
	perSec, digits := unitScale(u)
	return &timeRenderer{perSec: perSec, digits: digits, wide: wide, unit: u}
}

func (r *timeRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	var vals32 []int32
	var vals64 []int64
	if r.wide {
		vals64 = arrow.GetValues[int64](arr.Data(), 1)
	} else {
		vals32 = arrow.GetValues[int32](arr.Data(), 1)
	}
	limit := secPerDay * r.perSec
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		var x int64
		if r.wide {
			x = vals64[i]
		} else {
			x = int64(vals32[i])
		}
		if x < 0 || x > limit {
			return dst, &valueError{row: i, msg: fmt.Sprintf(
				"time value %d%s is outside 00:00:00 to 24:00:00", x, r.unit)}
		}
		dst = append(dst, '"')
		dst = appendClock(dst, x/r.perSec, x%r.perSec, r.digits)
		dst = append(dst, '"', ',')
	}
	return dst, nil
}

// timestampRenderer renders timestamps of any unit as "2024-01-31T13:45:00[.fff]". Arrow
// stores zoned and naive timestamps alike as time since the epoch in UTC (wall time for
// naive ones), so the zone only changes what the value means, not how it is rendered.
type timestampRenderer struct {
	perSec int64
	digits int
}

func newTimestampRenderer(u arrow.TimeUnit) *timestampRenderer {
	perSec, digits := unitScale(u)
	return &timestampRenderer{perSec: perSec, digits: digits}
}

func (r *timestampRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	vals := arrow.GetValues[int64](arr.Data(), 1)
	perDay := secPerDay * r.perSec
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		x := vals[i]
		days := floorDiv(x, perDay)
		rem := x - days*perDay // wraps for the most negative values, but the result is right
		dst = append(dst, '"')
		dst = appendDate(dst, days)
		dst = append(dst, 'T')
		dst = appendClock(dst, rem/r.perSec, rem%r.perSec, r.digits)
		dst = append(dst, '"', ',')
	}
	return dst, nil
}

func unitScale(u arrow.TimeUnit) (perSec int64, digits int) {
	switch u {
	case arrow.Millisecond:
		return 1e3, 3
	case arrow.Microsecond:
		return 1e6, 6
	case arrow.Nanosecond:
		return 1e9, 9
	}
	return 1, 0
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// pairs holds the two-digit texts of 00 to 99, for formatting two digits at a time.
const pairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

// appendClock appends hh:mm:ss of sec seconds into the day, then frac (in units of
// 10^-digits seconds) as a fraction when it is not zero, without trailing zeros.
func appendClock(dst []byte, sec, frac int64, digits int) []byte {
	u, f := uint64(sec), uint64(frac) // both >= 0: unsigned division needs no sign fix-ups
	h, m, s := 2*(u/3600), 2*(u/60%60), 2*(u%60)
	dst = append(dst, pairs[h], pairs[h+1], ':', pairs[m], pairs[m+1], ':', pairs[s], pairs[s+1])
	if f == 0 {
		return dst
	}
	var buf [10]byte
	i := digits
	for ; i >= 2; i -= 2 {
		p := 2 * (f % 100)
		f /= 100
		buf[i-1], buf[i] = pairs[p], pairs[p+1]
	}
	if i == 1 {
		buf[1] = byte('0' + f)
	}
	n := digits
	for buf[n] == '0' {
		n--
	}
	buf[0] = '.'
	return append(dst, buf[:n+1]...)
}

// appendDate appends the proleptic Gregorian date days after 1970-01-01 as YYYY-MM-DD;
// years outside 0000–9999 are written as java.time does: +10000, -0001.
func appendDate(dst []byte, days int64) []byte {
	y, m, d := civil(days)
	m, d = 2*m, 2*d
	if y >= 0 && y <= 9999 {
		c, r := 2*(y/100), 2*(y%100)
		return append(dst, pairs[c], pairs[c+1], pairs[r], pairs[r+1], '-', pairs[m], pairs[m+1], '-', pairs[d], pairs[d+1])
	}
	if y > 9999 {
		dst = append(dst, '+')
		dst = strconv.AppendInt(dst, y, 10)
	} else {
		dst = append(dst, '-')
		for p := int64(1000); p > 1 && -y < p; p /= 10 {
			dst = append(dst, '0')
		}
		dst = strconv.AppendInt(dst, -y, 10)
	}
	return append(dst, '-', pairs[m], pairs[m+1], '-', pairs[d], pairs[d+1])
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date. Days within about
// ±30,000 years take Neri and Schneider's Euclidean affine algorithm ("Euclidean affine
// functions and their application to calendar algorithms", 2022), which needs no
// division by a variable; the rest take civilWide.
func civil(days int64) (y int64, m, d int) {
	const (
		shift = 82                    // 400-year eras added so that the arithmetic is unsigned
		k     = 719468 + 146097*shift // days from 0000-03-01 (shifted) to 1970-01-01
		l     = 400 * shift
	)
	if days < -k || days >= 1<<29 {
		return civilWide(days)
	}
	n := uint32(days + k)
	n1 := 4*n + 3
	c := n1 / 146097
	nc := n1 % 146097 / 4
	n2 := 4*nc + 3
	p2 := uint64(2939745) * uint64(n2)
	z := uint32(p2 >> 32)
	ny := uint32(p2) / 2939745 / 4 // day of the year, from March 1st
	yy := 100*c + z
	n3 := 2141*ny + 197913
	mm := n3 >> 16
	dd := n3&0xffff/2141 + 1
	if ny >= 306 { // January and February belong to the next year
		mm -= 12
		yy++
	}
	return int64(yy) - l, int(mm), int(dd)
}

// civilWide is Howard Hinnant's civil_from_days in 64-bit arithmetic, for any int64 days
// whose year fits.
func civilWide(days int64) (y int64, m, d int) {
	z := days + 719468 // days since 0000-03-01
	era := floorDiv(z, 146097)
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365]
	mp := (5*doy + 2) / 153                                // [0, 11], from March
	d = int(doy - (153*mp+2)/5 + 1)
	m = int(mp + 3)
	if mp >= 10 {
		m = int(mp - 9)
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}
