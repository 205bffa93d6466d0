package emulator

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/cubesync/cubesync/sink"
)

// checkValue validates one scanned chunk value (its kind and text) against its column's
// dataType and, when keep is set, returns the value to store: numbers as json.Number (their
// exact text), strings, bools, nil. DATE values are zero-padded.
func checkValue(t sink.DataType, k kind, raw []byte, keep bool) (any, error) {
	if k == kindNull {
		return nil, nil
	}
	switch t {
	case sink.String:
		if k != kindString {
			return nil, fmt.Errorf("want a JSON string, got %s", describe(k, raw))
		}
		if !keep {
			return nil, nil
		}
		return string(raw), nil
	case sink.Integer, sink.BigInteger:
		if k != kindNumber {
			return nil, fmt.Errorf("want a JSON number, got %s", describe(k, raw))
		}
		bits, name := 32, "INTEGER (32-bit)"
		if t == sink.BigInteger {
			bits, name = 64, "BIGINTEGER (64-bit)"
		}
		if !wholeNumber(raw) {
			return nil, fmt.Errorf("%s is not a whole number", raw)
		}
		if _, ok := parseInt(raw, bits); !ok {
			return nil, fmt.Errorf("%s is out of range for %s", raw, name)
		}
	case sink.Double:
		if k != kindNumber {
			return nil, fmt.Errorf("want a JSON number, got %s", describe(k, raw))
		}
		if len(raw) > 300 || !plainDecimal(raw) {
			if f, err := strconv.ParseFloat(string(raw), 64); err != nil || math.IsInf(f, 0) {
				return nil, fmt.Errorf("%s is out of range for DOUBLE", raw)
			}
		}
	case sink.BigDecimal:
		if k != kindNumber {
			return nil, fmt.Errorf("want a JSON number, got %s", describe(k, raw))
		}
		// The scanner has checked the number syntax; the text is kept exactly.
	case sink.Bool:
		switch k {
		case kindTrue:
			return true, nil
		case kindFalse:
			return false, nil
		}
		return nil, fmt.Errorf("want true or false, got %s", describe(k, raw))
	case sink.Date, sink.Time, sink.DateTime:
		if k != kindString {
			return nil, fmt.Errorf("want an ISO 8601 string, got %s", describe(k, raw))
		}
		v := string(raw)
		// Without keep nothing is boxed: an interface per value was a tenth of the
		// emulator's CPU time in Discard mode on date and timestamp columns.
		switch t {
		case sink.Date:
			d, err := parseDate(v)
			if err != nil || !keep {
				return nil, err
			}
			return d, nil
		case sink.Time:
			if err := parseTime(v); err != nil || !keep {
				return nil, err
			}
			return v, nil
		default:
			if err := parseDateTime(v); err != nil || !keep {
				return nil, err
			}
			return v, nil
		}
	default:
		return nil, fmt.Errorf("unknown dataType %q", t)
	}
	if !keep {
		return nil, nil
	}
	return json.Number(raw), nil
}

// wholeNumber reports whether a JSON number has no fraction and no exponent.
func wholeNumber(raw []byte) bool {
	for _, c := range raw {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// plainDecimal reports whether a JSON number has no exponent; such a number of at most 300
// characters is always within DOUBLE's range.
func plainDecimal(raw []byte) bool {
	for _, c := range raw {
		if c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// parseInt parses a whole JSON number into an integer of bits bits without allocating.
func parseInt(raw []byte, bits int) (int64, bool) {
	neg := len(raw) > 0 && raw[0] == '-'
	if neg {
		raw = raw[1:]
	}
	limit := uint64(1) << (bits - 1) // magnitude of the minimum
	if !neg {
		limit--
	}
	var n uint64
	for _, c := range raw {
		d := uint64(c - '0')
		if n > (limit-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if neg {
		return -int64(n), true // -(1<<63) wraps to itself, which is right
	}
	return int64(n), true
}

func describe(k kind, raw []byte) string {
	switch k {
	case kindString:
		s := string(raw)
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return fmt.Sprintf("the string %q", s)
	case kindNumber:
		return "the number " + string(raw)
	case kindTrue:
		return "the boolean true"
	case kindFalse:
		return "the boolean false"
	case kindArray:
		return "an array"
	case kindObject:
		return "an object"
	}
	return "null"
}

// parseDate accepts YYYY-MM-DD, also with one-digit month and day as in MicroStrategy's own
// sample ("2017-12-4"), and returns it zero-padded.
func parseDate(s string) (string, error) {
	// Built only on failure: this runs for every DATE and DATETIME value of a chunk.
	bad := errBadDate(s)
	if len(s) < 8 || len(s) > 10 || s[4] != '-' {
		return "", bad
	}
	y, err := digits(s[:4])
	if err != nil {
		return "", bad
	}
	rest := s[5:]
	dash := -1
	for i := range len(rest) {
		if rest[i] == '-' {
			dash = i
			break
		}
	}
	if dash < 1 || dash > 2 || len(rest)-dash-1 < 1 || len(rest)-dash-1 > 2 {
		return "", bad
	}
	m, err1 := digits(rest[:dash])
	d, err2 := digits(rest[dash+1:])
	if err1 != nil || err2 != nil || !validDate(y, m, d) {
		return "", bad
	}
	if len(s) == 10 {
		return s, nil // already zero-padded
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, m, d), nil
}

func digits(s string) (int, error) {
	if s == "" {
		return 0, strconv.ErrSyntax
	}
	n := 0
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, nil
}

func validDate(y, m, d int) bool {
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	return d <= time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// parseTime accepts HH:MM:SS with an optional fraction of up to 9 digits.
func parseTime(s string) error {
	if !validClock(s) {
		return fmt.Errorf("%q is not an ISO 8601 time (want HH:MM:SS, fraction allowed)", s)
	}
	return nil
}

func validClock(s string) bool {
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return false
	}
	h, e1 := digits(s[0:2])
	mi, e2 := digits(s[3:5])
	sec, e3 := digits(s[6:8])
	if e1 != nil || e2 != nil || e3 != nil || h > 23 || mi > 59 || sec > 60 {
		return false
	}
	if len(s) == 8 {
		return true
	}
	if s[8] != '.' || len(s) == 9 || len(s) > 18 {
		return false
	}
	_, err := digits(s[9:])
	return err == nil
}

// parseDateTime accepts YYYY-MM-DDTHH:MM:SS with an optional fraction and an optional offset
// (Z, ±HH:MM, ±HHMM or ±HH). A space instead of the T is tolerated (RFC 3339 allows it).
func parseDateTime(s string) error {
	bad := errBadDateTime(s)
	if len(s) < 19 || (s[10] != 'T' && s[10] != ' ') {
		return bad
	}
	if _, err := parseDate(s[:10]); err != nil || s[4] != '-' || s[7] != '-' {
		return bad
	}
	rest := s[11:]
	end := len(rest)
	switch {
	case rest[end-1] == 'Z':
		end--
	default:
		for i := 8; i < len(rest); i++ {
			if rest[i] == '+' || rest[i] == '-' {
				if !validOffset(rest[i+1:]) {
					return bad
				}
				end = i
				break
			}
		}
	}
	if !validClock(rest[:end]) {
		return bad
	}
	return nil
}

func validOffset(s string) bool {
	var h, m int
	var err1, err2 error
	switch len(s) {
	case 2:
		h, err1 = digits(s)
	case 4:
		h, err1 = digits(s[:2])
		m, err2 = digits(s[2:])
	case 5:
		if s[2] != ':' {
			return false
		}
		h, err1 = digits(s[:2])
		m, err2 = digits(s[3:])
	default:
		return false
	}
	return err1 == nil && err2 == nil && h <= 23 && m <= 59
}

// errBadDate and errBadDateTime are the validation failures of a date or timestamp value;
// their text is only made when a message is needed.
type errBadDate string

func (e errBadDate) Error() string {
	return fmt.Sprintf("%q is not an ISO 8601 date (want YYYY-MM-DD)", string(e))
}

type errBadDateTime string

func (e errBadDateTime) Error() string {
	return fmt.Sprintf("%q is not an ISO 8601 timestamp (want YYYY-MM-DDTHH:MM:SS, fraction and offset allowed)", string(e))
}
