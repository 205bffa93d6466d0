package jobs_test

import (
	"testing"
	"time"

	"github.com/cubesync/cubesync/jobs"
)

// The watermark text a user types (cubesync state set) is read as the kind a run would
// store it as, and its time is what /metrics ages it by.
func TestWatermarkText(t *testing.T) {
	tests := []struct {
		text     string
		wantKind string
		wantTime time.Time // zero: no time (an integer)
	}{
		{"42", jobs.KindInt, time.Time{}},
		{"-7", jobs.KindInt, time.Time{}},
		{"2024-05-01", jobs.KindDate, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)},
		{"2024-05-01T10:00:00.5Z", jobs.KindTimestampTZ, time.Date(2024, 5, 1, 10, 0, 0, 5e8, time.UTC)},
		{"2024-05-01T12:00:00+02:00", jobs.KindTimestampTZ, time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
		{"2024-05-01T10:00:00.123456789", jobs.KindTimestamp, time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			kind, err := jobs.WatermarkKind(tc.text)
			if err != nil || kind != tc.wantKind {
				t.Fatalf("WatermarkKind(%q) = %q, %v; want %q", tc.text, kind, err, tc.wantKind)
			}
			at, ok := jobs.Watermark{Kind: kind, Value: tc.text}.Time()
			if ok != !tc.wantTime.IsZero() || !at.Equal(tc.wantTime) {
				t.Errorf("Watermark{%s %q}.Time() = %v, %v; want %v", kind, tc.text, at, ok, tc.wantTime)
			}
		})
	}
	for _, bad := range []string{"2024-13-01", "2024-05-01 10:00", "yesterday", ""} {
		if kind, err := jobs.WatermarkKind(bad); err == nil {
			t.Errorf("WatermarkKind(%q) = %q, want an error naming the forms a watermark takes", bad, kind)
		}
	}
}
