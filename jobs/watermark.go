package jobs

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Watermark kinds, as stored in Watermark.Kind.
const (
	KindTimestampTZ = "timestamptz"
	KindTimestamp   = "timestamp"
	KindDate        = "date"
	KindInt         = "int"
)

// TimestampLayout is the text of a timestamp watermark without a zone (KindTimestamp), as
// stored, shown and typed: RFC 3339 without the offset, fractional seconds only as needed.
// A timestamptz watermark is time.RFC3339Nano, a date time.DateOnly, an int decimal.
const TimestampLayout = "2006-01-02T15:04:05.999999999"

// layout is the time layout of a watermark kind's text; "" for integers.
func layout(kind string) string {
	switch kind {
	case KindTimestampTZ:
		return time.RFC3339Nano
	case KindTimestamp:
		return TimestampLayout
	case KindDate:
		return time.DateOnly
	}
	return ""
}

// Time returns the time a timestamp or date watermark holds (a timestamp without zone
// reads as UTC); integer watermarks, and text that is not of its kind, have none.
func (w Watermark) Time() (time.Time, bool) {
	l := layout(w.Kind)
	if l == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(l, w.Value)
	return t, err == nil
}

var (
	intText  = regexp.MustCompile(`^-?[0-9]+$`)
	dateText = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

// WatermarkKind says which kind of watermark the text v is, as a user types it (cubesync
// state set), and checks that it is one.
func WatermarkKind(v string) (string, error) {
	switch {
	case intText.MatchString(v):
		return KindInt, nil
	case dateText.MatchString(v):
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return "", fmt.Errorf("watermark %q: %v", v, err)
		}
		return KindDate, nil
	}
	if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return KindTimestampTZ, nil
	}
	if _, err := time.Parse(TimestampLayout, v); err == nil {
		return KindTimestamp, nil
	}
	return "", fmt.Errorf("watermark %q: want an RFC 3339 timestamp (2024-05-01T10:00:00Z), a timestamp without zone (2024-05-01T10:00:00), a date (2024-05-01) or an integer", v)
}

// maxTracker keeps the greatest value of a table's incremental column among the rows read.
// Values are compared in their native integer form (microseconds, days, integers) so no
// precision is lost before the text form is produced.
type maxTracker struct {
	column string
	index  int
	kind   string
	unit   arrow.TimeUnit // for timestamps
	seen   bool
	max    int64
}

// newMaxTracker finds the incremental column in schema and checks its type can carry a
// watermark.
func newMaxTracker(schema *arrow.Schema, column string) (*maxTracker, error) {
	idx := schema.FieldIndices(column)
	if len(idx) == 0 {
		return nil, fmt.Errorf("incremental column %q is not among the source's columns (%s)", column, fieldNames(schema))
	}
	t := &maxTracker{column: column, index: idx[0]}
	switch dt := schema.Field(idx[0]).Type.(type) {
	case *arrow.TimestampType:
		t.kind, t.unit = KindTimestamp, dt.Unit
		if dt.TimeZone != "" {
			t.kind = KindTimestampTZ
		}
	case *arrow.Date32Type, *arrow.Date64Type:
		t.kind = KindDate
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type,
		*arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type:
		t.kind = KindInt
	default:
		return nil, fmt.Errorf("incremental column %q has type %s: a watermark must be a timestamp, timestamptz, date, integer or bigint column", column, dt)
	}
	return t, nil
}

// observe folds a batch's values of the incremental column into the maximum.
func (t *maxTracker) observe(rec arrow.RecordBatch) {
	col := rec.Column(t.index)
	n := col.Len()
	consider := func(v int64) {
		if !t.seen || v > t.max {
			t.max, t.seen = v, true
		}
	}
	switch a := col.(type) {
	case *array.Timestamp:
		vals := a.TimestampValues()
		for i := 0; i < n; i++ {
			if a.IsValid(i) {
				consider(int64(vals[i]))
			}
		}
	case *array.Date32:
		vals := a.Date32Values()
		for i := 0; i < n; i++ {
			if a.IsValid(i) {
				consider(int64(vals[i]))
			}
		}
	case *array.Date64:
		vals := a.Date64Values()
		for i := 0; i < n; i++ {
			if a.IsValid(i) {
				consider(int64(vals[i]) / int64(24*time.Hour/time.Millisecond))
			}
		}
	default:
		for i := 0; i < n; i++ {
			if col.IsValid(i) {
				consider(intValue(col, i))
			}
		}
	}
}

func intValue(col arrow.Array, i int) int64 {
	switch a := col.(type) {
	case *array.Int8:
		return int64(a.Value(i))
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int64:
		return a.Value(i)
	case *array.Uint8:
		return int64(a.Value(i))
	case *array.Uint16:
		return int64(a.Value(i))
	case *array.Uint32:
		return int64(a.Value(i))
	}
	return 0
}

// value returns the watermark's canonical text, and false when no row had a value.
func (t *maxTracker) value() (string, bool) {
	if !t.seen {
		return "", false
	}
	switch t.kind {
	case KindTimestamp, KindTimestampTZ:
		ts := arrow.Timestamp(t.max).ToTime(t.unit).UTC()
		return ts.Format(layout(t.kind)), true
	case KindDate:
		return time.Unix(t.max*86400, 0).UTC().Format(layout(KindDate)), true
	}
	return strconv.FormatInt(t.max, 10), true
}

// watermarkArg turns a stored watermark (or an incremental.initial value) into the value
// bound as $1: typed where the text has a clear type, so Postgres compares like with like.
func watermarkArg(kind, text string) any {
	switch kind {
	case KindInt:
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return n
		}
	case KindTimestampTZ:
		if ts, err := time.Parse(time.RFC3339Nano, text); err == nil {
			return ts
		}
	}
	// Timestamps without zone, dates and initial values of unknown kind go as text and are
	// read by Postgres with the parameter's own type: no zone is invented for them.
	return text
}

// lookbackArg is the $1 of an incremental table with a lookback: its watermark moved back
// by lookback, so rows committed late with an older value are read again.
func lookbackArg(mark Watermark, lookback time.Duration) (any, error) {
	switch mark.Kind {
	case KindTimestampTZ:
		if ts, err := time.Parse(time.RFC3339Nano, mark.Value); err == nil {
			return ts.Add(-lookback), nil
		}
	case KindTimestamp:
		if ts, err := time.Parse(TimestampLayout, mark.Value); err == nil {
			return ts.Add(-lookback).Format(TimestampLayout), nil
		}
	case KindDate:
		if d, err := time.Parse(time.DateOnly, mark.Value); err == nil {
			days := int((lookback + 24*time.Hour - 1) / (24 * time.Hour))
			return d.AddDate(0, 0, -days).Format(time.DateOnly), nil
		}
	case KindInt:
		return nil, fmt.Errorf("incremental column %q is an integer: lookback is a duration and needs a timestamp or date column (remove lookback)", mark.Column)
	}
	return nil, fmt.Errorf("stored watermark %q of column %q (%s) cannot be moved back by lookback %s: repair it with cubesync state set", mark.Value, mark.Column, mark.Kind, lookback)
}

func fieldNames(s *arrow.Schema) string {
	out := ""
	for i, f := range s.Fields() {
		if i > 0 {
			out += ", "
		}
		out += f.Name
	}
	return out
}
