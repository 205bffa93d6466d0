// Package clock is cubesync's one view of time. Everything that stamps a time or waits takes
// a Clock: the scheduler (slots, catch-up windows, shutdown grace), the runner (retry
// backoff, the job timeout), the state stores (run ends, claims, watermark updates),
// notifications (delivery backoff) and the Push API client (call retries, Retry-After,
// publish polling). main passes Wall to all of them; a test passes one fake clock and
// drives them all without waiting.
//
// clock imports nothing of cubesync, so every package can take it.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and waits.
type Clock interface {
	Now() time.Time
	// Sleep returns nil once d has passed (at once when d <= 0), or the cause of ctx's end
	// (context.Cause) if ctx ends first or has already ended.
	Sleep(ctx context.Context, d time.Duration) error
}

// Wall is the Clock of the running process: the system's time and timers.
type Wall struct{}

// Now returns time.Now().
func (Wall) Now() time.Time { return time.Now() }

// Sleep waits for d on a timer, or until ctx ends.
func (Wall) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Offset is the wall clock moved by D: time passes at its normal pace from another instant.
// The end-to-end tests start cubesync serve at a chosen instant with it (a Sunday 03:59:55
// for a weekly cron), which a fake clock in another process cannot do.
type Offset struct{ D time.Duration }

// Now returns time.Now() moved by D.
func (o Offset) Now() time.Time { return time.Now().Add(o.D) }

// Sleep waits for d, as Wall does.
func (Offset) Sleep(ctx context.Context, d time.Duration) error { return Wall{}.Sleep(ctx, d) }

// Or returns c, or Wall when c is nil: the default of every struct with a Clock field.
func Or(c Clock) Clock {
	if c == nil {
		return Wall{}
	}
	return c
}
