package filestate

import (
	"context"
	"testing"
	"time"
)

// TestOldSlotsStayClaimed checks the bound on kept slots never lets a slot run twice: once
// the oldest slots are dropped, a slot older than every kept one counts as claimed.
func TestOldSlotsStayClaimed(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.maxSlots = 3
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	for h := range 5 {
		if ok, err := s.ClaimSlot(ctx, "sales", at(h)); err != nil || !ok {
			t.Fatalf("ClaimSlot(%v) = %v, %v; want a fresh claim", at(h), ok, err)
		}
	}
	jf, err := s.readJob("sales")
	if err != nil {
		t.Fatal(err)
	}
	if len(jf.Slots) != 3 {
		t.Errorf("after 5 claims with room for 3: %d slots kept", len(jf.Slots))
	}
	tests := []struct {
		name string
		at   time.Time
		want bool
	}{
		{"dropped slot", at(0), false},
		{"older than any slot", at(-10), false},
		{"kept slot", at(3), false},
		{"new slot between kept ones", at(3).Add(time.Minute), true},
		{"next slot", at(5), true},
	}
	for _, tc := range tests {
		if ok, err := s.ClaimSlot(ctx, "sales", tc.at); err != nil || ok != tc.want {
			t.Errorf("%s: ClaimSlot(%v) = %v, %v; want %v", tc.name, tc.at, ok, err, tc.want)
		}
	}
	if last, err := s.LastSlot(ctx, "sales"); err != nil || !last.Equal(at(5)) {
		t.Errorf("LastSlot = %v, %v; want %v", last, err, at(5))
	}
}
