package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrLockLost is wrapped by Lease.Check, and is the cause a run is cancelled with, once the
// job's lock is no longer held: another process may be running the job.
var ErrLockLost = errors.New("the job's lock was lost")

// Lease is a job's lock as Store.Lock hands it out. The run checks it before it publishes
// (fencing): a run that lost its lock cancels its upload session instead.
type Lease interface {
	// Check asks the store now whether this lease still holds the lock: nil if it does,
	// an error wrapping ErrLockLost if not.
	Check(ctx context.Context) error
	// Lost is closed once the lease is found lost, by Check or by the watch every few
	// seconds.
	Lost() <-chan struct{}
	// Unlock releases the lock and stops the watch; later calls return the first's error.
	Unlock() error
}

// LeaseWatchInterval is how often a lease made by NewLease checks its lock.
const LeaseWatchInterval = 2 * time.Second

// NewLease makes a Lease for stores: check asks the backend whether the lock is still held
// (nil if it is; it must be safe for concurrent use with itself and unlock), and is run
// every interval until unlock; what is names the lock for error messages.
func NewLease(what string, interval time.Duration, check func(ctx context.Context) error, unlock func() error) Lease {
	l := &lease{what: what, check: check, unlock: unlock, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go l.watch(interval)
	return l
}

type lease struct {
	what   string
	check  func(ctx context.Context) error
	unlock func() error

	mu      sync.Mutex
	lostErr error
	lost    chan struct{}

	stopOnce  sync.Once
	stop      chan struct{}
	done      chan struct{}
	unlockErr error
}

func (l *lease) watch(interval time.Duration) {
	defer close(l.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(interval, time.Second))
		err := l.Check(ctx)
		cancel()
		if errors.Is(err, ErrLockLost) {
			return // a slow answer is asked again; a lost lock stays lost
		}
	}
}

// Check asks the backend; once lost, a lease stays lost.
func (l *lease) Check(ctx context.Context) error {
	l.mu.Lock()
	lost := l.lostErr
	l.mu.Unlock()
	if lost != nil {
		return lost
	}
	err := l.check(ctx)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && !errors.Is(err, ErrLockLost) {
		return err // the caller gave up: that says nothing about the lock
	}
	if !errors.Is(err, ErrLockLost) {
		err = fmt.Errorf("%w: %s: %w", ErrLockLost, l.what, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lostErr == nil {
		l.lostErr = err
		close(l.lost)
	}
	return l.lostErr
}

func (l *lease) Lost() <-chan struct{} { return l.lost }

func (l *lease) Unlock() error {
	l.stopOnce.Do(func() {
		close(l.stop)
		<-l.done
		l.unlockErr = l.unlock()
	})
	return l.unlockErr
}
