package clock_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cubesync/cubesync/clock"
)

// Wall's Sleep waits exactly d, and a context's end (with its cause) cuts it short, also
// when d is not positive, so a retry loop stops on a cancelled run.
func TestWallSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clock.Or(nil)
		start := c.Now()
		if err := c.Sleep(t.Context(), time.Minute); err != nil || c.Now().Sub(start) != time.Minute {
			t.Errorf("Sleep(1m) = %v after %s, want nil after 1m", err, c.Now().Sub(start))
		}
		if err := c.Sleep(t.Context(), 0); err != nil {
			t.Errorf("Sleep(0) on a live context = %v, want nil", err)
		}
		stop := errors.New("shutting down")
		ctx, cancel := context.WithCancelCause(t.Context())
		time.AfterFunc(time.Second, func() { cancel(stop) })
		start = c.Now()
		if err := c.Sleep(ctx, time.Hour); !errors.Is(err, stop) || c.Now().Sub(start) != time.Second {
			t.Errorf("Sleep(1h) cancelled after 1s = %v after %s, want the cause after 1s", err, c.Now().Sub(start))
		}
		if err := c.Sleep(ctx, 0); !errors.Is(err, stop) {
			t.Errorf("Sleep(0) on an ended context = %v, want its cause", err)
		}
	})
}

// Offset tells the wall time moved by D and waits as long as Wall does.
func TestOffset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clock.Offset{D: -72 * time.Hour}
		if got := time.Since(c.Now()); got != 72*time.Hour {
			t.Errorf("Offset{-72h}.Now() is %s before the wall time, want 72h", got)
		}
		start := time.Now()
		if err := c.Sleep(t.Context(), time.Minute); err != nil || time.Since(start) != time.Minute {
			t.Errorf("Sleep(1m) = %v after %s, want nil after 1m", err, time.Since(start))
		}
	})
}
