package testutil_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cubesync/cubesync/internal/testutil"
)

// A sleep no longer than the hold returns at once, moves the clock and is recorded; a longer
// one waits until the test moves the clock past its end, and ends early with its context.
func TestFakeClockHold(t *testing.T) {
	start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	c := testutil.NewFakeClock(start).Hold(time.Hour)
	ctx := context.Background()
	if err := c.Sleep(ctx, time.Minute); err != nil {
		t.Fatalf("Sleep(1m) under a 1h hold = %v, want nil at once", err)
	}
	if got, want := c.Now(), start.Add(time.Minute); !got.Equal(want) {
		t.Errorf("after Sleep(1m), Now = %v, want %v", got, want)
	}

	done := make(chan error, 1)
	go func() { done <- c.Sleep(ctx, 2*time.Hour) }()
	end := start.Add(time.Minute + 2*time.Hour)
	c.AwaitSleepUntil(t, end)
	c.Set(end.Add(-time.Second))
	select {
	case err := <-done:
		t.Fatalf("Sleep(2h) returned %v before the clock reached its end", err)
	default:
	}
	c.Advance(time.Second)
	if err := <-done; err != nil {
		t.Errorf("Sleep(2h) = %v once the clock reached its end, want nil", err)
	}

	cctx, cancel := context.WithCancelCause(ctx)
	go func() { done <- c.Sleep(cctx, 3*time.Hour) }()
	c.AwaitSleepers(t, c.Now().Add(3*time.Hour), 1)
	stop := errors.New("stop")
	cancel(stop)
	if err := <-done; !errors.Is(err, stop) {
		t.Errorf("held Sleep after its context ended = %v, want the cause", err)
	}
	if got := c.Sleeps(); !slices.Equal(got, []time.Duration{time.Minute}) {
		t.Errorf("Sleeps = %v, want only the one that returned at once [1m]", got)
	}
}
