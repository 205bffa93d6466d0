package filestate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cubesync/cubesync/clock"
	"github.com/cubesync/cubesync/jobs"
)

// DefaultHistory is how many finished runs a job keeps unless WithHistory says otherwise.
const DefaultHistory = 1000

// maxSlots is how many claimed slots a job keeps: enough for catch-up to see the latest,
// bounded so a job running every second does not grow its file without end.
const maxSlots = 1000

// ErrServeRunning is returned by LockServe when another process serves from the directory.
var ErrServeRunning = errors.New("another cubesync serve uses this state directory")

// Store is the local state store: a directory of files. It is safe for concurrent use by
// several goroutines and several processes.
type Store struct {
	dir      string
	now      func() time.Time
	host     string
	history  int
	maxSlots int // claimed slots kept per job
	// leaseInterval is how often a job lock's lease checks its file.
	leaseInterval time.Duration

	mu       sync.Mutex
	runJob   map[int64]string // job of the runs seen by this Store, to find their file
	closed   bool
	closeErr error
}

// Option configures Open.
type Option func(*Store)

// WithClock sets the clock that stamps run ends, watermark updates and loaded files.
func WithClock(c clock.Clock) Option { return func(s *Store) { s.now = c.Now } }

// WithLeaseInterval sets how often a job's lock checks it is still held
// (jobs.LeaseWatchInterval by default).
func WithLeaseInterval(d time.Duration) Option { return func(s *Store) { s.leaseInterval = d } }

// WithHistory sets how many finished runs each job keeps (DefaultHistory when n < 1).
// Unfinished runs are always kept: the next run needs them to recover.
func WithHistory(n int) Option { return func(s *Store) { s.history = n } }

// Open opens the state store in dir, creating the directory if needed.
func Open(dir string, opts ...Option) (*Store, error) {
	s := &Store{dir: dir, now: time.Now, history: DefaultHistory, maxSlots: maxSlots, leaseInterval: jobs.LeaseWatchInterval, runJob: map[int64]string{}}
	for _, o := range opts {
		o(s)
	}
	if s.history < 1 {
		s.history = DefaultHistory
	}
	s.host = jobs.HostID()
	for _, d := range []string{dir, filepath.Join(dir, "jobs"), filepath.Join(dir, "locks")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create state directory: %w", err)
		}
	}
	// Taking the state lock once checks that the directory is writable and flock works here.
	unlock, err := s.lockState()
	if err != nil {
		return nil, err
	}
	if err := unlock(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir returns the directory the Store keeps its files in.
func (s *Store) Dir() string { return s.dir }

// Ping reports whether the state directory is still there and readable.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := os.ReadDir(filepath.Join(s.dir, "jobs")); err != nil {
		return fmt.Errorf("read state directory: %w", err)
	}
	return nil
}

// Close marks the Store closed. Locks taken with Lock and LockServe stay held until their
// unlock functions are called or the process exits.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Lock takes the job's lock: an exclusive flock on locks/NAME.lock, held until unlock or the
// death of the process. The file names the holder, for the error others get.
//
// A flock cannot be taken away, but the file can: if locks/NAME.lock is removed or
// replaced, another process locks the new file while this one holds the old. The lease
// checks (every jobs.LeaseWatchInterval, and when asked) that the path still names the
// file it holds.
func (s *Store) Lock(ctx context.Context, job string) (jobs.Lease, error) {
	if err := s.check(ctx, job); err != nil {
		return nil, err
	}
	path := filepath.Join(s.dir, "locks", fileName(job)+".lock")
	f, unlock, err := s.flockFile(path)
	if errors.Is(err, errWouldBlock) {
		return nil, &jobs.LockedError{Holder: holder(path)}
	}
	if err != nil {
		return nil, err
	}
	held, err := f.Stat()
	if err != nil {
		_ = unlock()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	check := func(ctx context.Context) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		now, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("%w: lock file %s: %w", jobs.ErrLockLost, path, err)
		}
		if !os.SameFile(held, now) {
			return fmt.Errorf("%w: lock file %s was replaced while held (another process may lock the new one)", jobs.ErrLockLost, path)
		}
		return nil
	}
	return jobs.NewLease(fmt.Sprintf("job %q (%s)", job, path), s.leaseInterval, check, unlock), nil
}

// LockServe takes the directory's serve lock, so that a second `cubesync serve` on the same
// state directory refuses to start: the local store cannot claim slots across processes the
// way Postgres does. The lock is held until unlock or the death of the process.
func (s *Store) LockServe() (unlock func() error, err error) {
	path := filepath.Join(s.dir, "serve.lock")
	unlock, err = s.flock(path)
	if errors.Is(err, errWouldBlock) {
		return nil, fmt.Errorf("%w (%s, held by %s): stop it first, or set [state] database_url to run several replicas on a Postgres state store",
			ErrServeRunning, s.dir, holder(path))
	}
	return unlock, err
}

var errWouldBlock = errors.New("lock held by another")

// flock takes an exclusive, non-blocking flock on path and writes the holder into the file.
// Each call opens the file anew: flock locks belong to an open file, so two Stores (or two
// Lock calls) in one process exclude each other as two processes do.
func (s *Store) flock(path string) (func() error, error) {
	_, unlock, err := s.flockFile(path)
	return unlock, err
}

// flockFile is flock, also returning the locked file.
func (s *Store) flockFile(path string) (*os.File, func() error, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := flockRetry(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil, errWouldBlock
		}
		return nil, nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Best effort: the holder is only shown in the error of whoever is refused.
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "%s since %s\n", s.host, s.now().UTC().Format(time.RFC3339))
	}
	var once sync.Once
	var unlockErr error
	return f, func() error {
		once.Do(func() {
			_ = f.Truncate(0)
			unlockErr = errors.Join(flockRetry(f, syscall.LOCK_UN), f.Close())
			if unlockErr != nil {
				unlockErr = fmt.Errorf("unlock %s: %w", path, unlockErr)
			}
		})
		return unlockErr
	}, nil
}

// holder reads who holds the lock file at path ("host:pid", as flock writes it), for an
// error message.
func holder(path string) string {
	b, err := os.ReadFile(path)
	h, _, _ := strings.Cut(strings.TrimSpace(string(b)), " since ")
	if err == nil && h != "" {
		return h
	}
	return "another process"
}

func flockRetry(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// lockState takes the store-wide lock every read-modify-write holds, waiting for it.
// Writes are short, so waiting without a deadline is fine.
func (s *Store) lockState() (func() error, error) {
	path := filepath.Join(s.dir, "state.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open state lock: %w", err)
	}
	if err := flockRetry(f, syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() error {
		return errors.Join(flockRetry(f, syscall.LOCK_UN), f.Close())
	}, nil
}

// check refuses work on a closed Store, a done context or an empty job name.
func (s *Store) check(ctx context.Context, job string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return errors.New("state store is closed")
	}
	if job == "" {
		return errors.New("job name is empty")
	}
	return nil
}

// fileName makes a job name safe as a file name: letters, digits, '-' and '_' are kept,
// every other byte becomes %XX, so distinct names stay distinct and "." or "/" cannot escape
// the directory.
func fileName(job string) string {
	var b strings.Builder
	for i := 0; i < len(job); i++ {
		c := job[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func (s *Store) jobPath(job string) string {
	return filepath.Join(s.dir, "jobs", fileName(job)+".json")
}

// readJSON decodes the file at path into v; a missing file leaves v as it is.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read state file: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("state file %s is damaged (%v): restore it from a backup, or delete it to forget what it held", path, err)
	}
	return nil
}

// writeJSON replaces the file at path with v atomically: temporary file in the same
// directory, fsync, rename over the old file, fsync of the directory.
func writeJSON(path string, v any) (err error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write state file %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync state file %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write state file %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("replace state file: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("sync state directory %s: %w", dir, err)
	}
	return nil
}
