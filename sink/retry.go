package sink

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

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
