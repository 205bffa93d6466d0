package testutil

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

// FakeClock is the one fake clock.Clock of cubesync's tests. Its time moves only when the
// test moves it (Set, Advance) or when a Sleep it lets through at once moves it.
//
// A sleep no longer than the clock's hold (every sleep, for a clock from NewFakeClock)
// returns at once, moves Now forward by what was asked and is recorded: for tests of
// backoff and polling, which assert the waits instead of waiting them. A longer sleep waits
// until the test moves the clock past its end: a scheduler test holds time still (Hold(0))
// while it looks, and the runner's tests let backoffs through while a job's timeout waits
// (Hold(time.Hour)). AwaitSleep and AwaitSleepers tell the test when a goroutine is waiting.
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	hold    time.Duration // sleeps longer than this wait for the test
	slept   []time.Duration
	waiters []fakeWaiter
	changed chan struct{} // closed and replaced whenever waiters change
}

type fakeWaiter struct {
	at time.Time
	ch chan struct{}
}

// NewFakeClock returns a FakeClock at start whose every sleep returns at once.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start, hold: math.MaxInt64, changed: make(chan struct{})}
}

// Hold makes sleeps longer than d wait until the test moves the clock past their end, and
// returns c. Hold(0) holds every sleep.
func (c *FakeClock) Hold(d time.Duration) *FakeClock {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = d
	return c
}

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t, ending every held sleep due by then.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(t)
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(c.now.Add(d))
}

func (c *FakeClock) setLocked(t time.Time) {
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(t) {
			kept = append(kept, w)
			continue
		}
		close(w.ch)
	}
	c.waiters = kept
	c.notify()
}

func (c *FakeClock) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Sleep returns the cause of ctx's end if it has ended. Otherwise a sleep no longer than
// the hold is recorded, moves Now forward by d and returns nil at once; a longer one waits
// until the clock reaches its end (nil) or ctx ends (its cause).
func (c *FakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	c.mu.Lock()
	if d <= c.hold {
		defer c.mu.Unlock()
		c.slept = append(c.slept, d)
		if d > 0 {
			c.setLocked(c.now.Add(d))
		}
		return nil
	}
	ch := make(chan struct{})
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	c.notify()
	c.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		c.waiters = slices.DeleteFunc(c.waiters, func(w fakeWaiter) bool { return w.ch == ch })
		c.notify()
		c.mu.Unlock()
		return context.Cause(ctx)
	}
}

// Sleeps returns the sleeps that returned at once so far, in order.
func (c *FakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// awaitTimeout is how long AwaitSleep and AwaitSleepers wait for a goroutine to sleep.
const awaitTimeout = 10 * time.Second

// AwaitSleep blocks until some goroutine's held sleep ends at a time that ok accepts, and
// returns that time; it fails the test, naming what, after 10s.
func (c *FakeClock) AwaitSleep(t testing.TB, what string, ok func(time.Time) bool) time.Time {
	t.Helper()
	var at time.Time
	c.await(t, "nothing slept on the clock until "+what, func(ws []fakeWaiter) bool {
		for _, w := range ws {
			if ok(w.at) {
				at = w.at
				return true
			}
		}
		return false
	})
	return at
}

// AwaitSleepUntil blocks until some goroutine's held sleep ends exactly at at.
func (c *FakeClock) AwaitSleepUntil(t testing.TB, at time.Time) {
	t.Helper()
	c.AwaitSleep(t, at.UTC().String(), func(w time.Time) bool { return w.Equal(at) })
}

// AwaitSleepers blocks until n goroutines' held sleeps end exactly at at.
func (c *FakeClock) AwaitSleepers(t testing.TB, at time.Time, n int) {
	t.Helper()
	c.await(t, fmt.Sprintf("fewer than %d goroutines slept until %v", n, at), func(ws []fakeWaiter) bool {
		got := 0
		for _, w := range ws {
			if w.at.Equal(at) {
				got++
			}
		}
		return got >= n
	})
}

// await blocks until done holds of the held sleeps, and fails the test with failure after
// awaitTimeout.
func (c *FakeClock) await(t testing.TB, failure string, done func([]fakeWaiter) bool) {
	t.Helper()
	deadline := time.After(awaitTimeout)
	for {
		c.mu.Lock()
		ok, changed := done(c.waiters), c.changed
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%s within %s (held sleeps end at %v)", failure, awaitTimeout, c.pending())
		}
	}
}

// pending returns the ends of the held sleeps.
func (c *FakeClock) pending() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, w := range c.waiters {
		out = append(out, w.at.UTC().Format(time.RFC3339))
	}
	return out
}
