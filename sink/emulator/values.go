package emulator

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/cubesync/cubesync/sink"
)

// checkValue validates one chunk value against its column's dataType and returns the value to
// store: numbers as json.Number (their exact text), strings, bools, nil. DATE values are
// zero-padded.
func checkValue(t sink.DataType, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t {
	case sink.String:
		if _, ok := v.(string); !ok {
			return nil, fmt.Errorf("want a JSON string, got %s", describe(v))
		}
		return v, nil
	case sink.Integer, sink.BigInteger:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("want a JSON number, got %s", describe(v))
		}
		bits, name := 32, "INTEGER (32-bit)"
		if t == sink.BigInteger {
			bits, name = 64, "BIGINTEGER (64-bit)"
		}
		if _, err := strconv.ParseInt(n.String(), 10, bits); err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return nil, fmt.Errorf("%s is out of range for %s", n, name)
			}
			return nil, fmt.Errorf("%s is not a whole number", n)
		}
		return n, nil
	case sink.Double:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("want a JSON number, got %s", describe(v))
		}
		f, err := strconv.ParseFloat(n.String(), 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s is out of range for DOUBLE", n)
		}
		return n, nil
	case sink.BigDecimal:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("want a JSON number, got %s", describe(v))
		}
		return n, nil // json.Decoder has checked the number syntax; the text is kept exactly
	case sink.Bool:
		if _, ok := v.(bool); !ok {
			return nil, fmt.Errorf("want true or false, got %s", describe(v))
		}
		return v, nil
	case sink.Date, sink.Time, sink.DateTime:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want an ISO 8601 string, got %s", describe(v))
		}
		switch t {
		case sink.Date:
			return parseDate(s)
		case sink.Time:
			return s, parseTime(s)
		default:
			return s, parseDateTime(s)
		}
	}
	return nil, fmt.Errorf("unknown dataType %q", t)
}

func describe(v any) string {
	switch v := v.(type) {
	case string:
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		return fmt.Sprintf("the string %q", v)
	case json.Number:
		return "the number " + v.String()
	case bool:
		return fmt.Sprintf("the boolean %t", v)
	}
	return fmt.Sprintf("%v", v)
}

// parseDate accepts YYYY-MM-DD, also with one-digit month and day as in MicroStrategy's own
// sample ("2017-12-4"), and returns it zero-padded.
func parseDate(s string) (string, error) {
	bad := fmt.Errorf("%q is not an ISO 8601 date (want YYYY-MM-DD)", s)
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
	bad := fmt.Errorf("%q is not an ISO 8601 timestamp (want YYYY-MM-DDTHH:MM:SS, fraction and offset allowed)", s)
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
