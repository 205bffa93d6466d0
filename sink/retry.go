package sink

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Clock tells the time and waits. The client takes one so that tests of backoff, Retry-After
// and publish polling need not wait on wall time.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, whichever comes first, and returns ctx.Err()
	// if ctx ended the wait.
	Sleep(ctx context.Context, d time.Duration) error
}

// WallClock is the real Clock; a Config without a Clock uses it.
type WallClock struct{}

// Now returns time.Now().
func (WallClock) Now() time.Time { return time.Now() }

// Sleep waits on a timer.
func (WallClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// maxBackoff caps the exponential backoff between retries of one call.
const maxBackoff = 30 * time.Second

// maxRetryAfter caps a server's Retry-After, so a misconfigured proxy cannot park a run for
// a day; the run's own deadline still applies on top.
const maxRetryAfter = 5 * time.Minute

// backoff returns the delay before retry number retry (1 for the first retry): first,
// doubled for each further retry, capped at maxBackoff, with "equal jitter" (a random delay
// between half and all of it) so that parallel uploads hitting the same outage spread out.
func backoff(first time.Duration, retry int) time.Duration {
	d := first
	for i := 1; i < retry && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(d-half)+1))
}

// retryAfter reads a Retry-After header given as delay seconds or as an HTTP date. ok is
// false when the header is absent or unreadable.
func retryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	when, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(when.Sub(now), 0), maxRetryAfter), true
}
