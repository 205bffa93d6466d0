package main

// Wiring: what a command runs with, built from the config: the state store and the Push
// API clients (starting the embedded emulator when a target asks for it).

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/cubesync/cubesync/clock"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/jobs/filestate"
	"github.com/cubesync/cubesync/jobs/pgstate"
	"github.com/cubesync/cubesync/sink"
	"github.com/cubesync/cubesync/sink/emulator"
)

// newRunner builds the runner of run-job and serve: tracing, the Push API clients (ts), the
// progress display and the test hooks, on clk. closeAll ends the clients, then tracing: defer
// it before the runs' notifications are sent, so that it runs after them.
func newRunner(ctx context.Context, e *env, log *slog.Logger, store jobs.Store, prog *progressUI, clk clock.Clock) (r *jobs.Runner, ts *targets, closeAll func(), err error) {
	tr, err := newTracing(ctx, e, log)
	if err != nil {
		return nil, nil, nil, usageError(err)
	}
	ts = &targets{log: log}
	r = &jobs.Runner{Store: store, Logger: log, Connect: ts.connect, Progress: prog, Tracer: tr.tracer(), Clock: clk, Step: testSteps(e.getenv), Scrubber: e.scrubber}
	return r, ts, func() { ts.close(); tr.shutdown() }, nil
}

// localStateDir is where the embedded defaults keep state: runs, watermarks, dataset ids,
// and the embedded emulator's datasets.
const localStateDir = ".cubesync"

// openStoreForReading opens the state store for a command that only reads or repairs it,
// logging (rarely: migrations, warnings) as text or JSON to stderr.
func openStoreForReading(ctx context.Context, e *env, cfg *jobs.Config) (jobs.Store, error) {
	log, err := newLogger(e.stderr, "", e.scrubber)
	if err != nil {
		return nil, err
	}
	return openStore(ctx, cfg, log, clock.Wall{})
}

// openStore opens the state store the config names: Postgres with [state] database_url,
// else files under ./.cubesync; it stamps times from c.
func openStore(ctx context.Context, cfg *jobs.Config, log *slog.Logger, c clock.Clock) (jobs.Store, error) {
	if cfg.State.DatabaseURL != "" {
		s, err := pgstate.Open(ctx, cfg.State.DatabaseURL, log, pgstate.WithClock(c))
		if err != nil {
			return nil, fmt.Errorf("open state database: %w", err)
		}
		return s, nil
	}
	s, err := filestate.Open(localStateDir, filestate.WithClock(c))
	if err != nil {
		return nil, fmt.Errorf("open local state in %s: %w", localStateDir, err)
	}
	return s, nil
}

// targets makes Push API clients for targets, starting the embedded emulator the first
// time a target with base_url = "embedded" is used.
type targets struct {
	log *slog.Logger

	mu       sync.Mutex
	emu      *emulator.Server
	emuURL   string
	emuClose func()
}

func (ts *targets) connect(ctx context.Context, t *jobs.Target) (*sink.Client, error) {
	log := ts.log
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && sc.IsSampled() {
		log = log.With("trace_id", sc.TraceID().String()) // the client's lines belong to the run's trace
	}
	cfg, err := t.ClientConfig(log)
	if err != nil {
		return nil, err
	}
	if t.Embedded() {
		if cfg.BaseURL, err = ts.embedded(); err != nil {
			return nil, err
		}
	}
	return sink.NewClient(cfg)
}

// embedded starts the built-in emulator on a loopback port, persisted under
// ./.cubesync/emulator, once per process.
func (ts *targets) embedded() (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.emu != nil {
		return ts.emuURL, nil
	}
	emu, err := emulator.New(emulator.Options{DataDir: filepath.Join(localStateDir, "emulator"), Logger: quiet(ts.log.With("component", "emulator"))})
	if err != nil {
		return "", fmt.Errorf("start embedded emulator: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("start embedded emulator: %w", err)
	}
	srv := newHTTPServer(emu, emulatorLimits())
	go func() { _ = srv.Serve(ln) }()
	ts.emu = emu
	ts.emuURL = "http://" + ln.Addr().String() + "/MicroStrategyLibrary"
	ts.emuClose = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = emu.Close()
	}
	return ts.emuURL, nil
}

func (ts *targets) close() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.emuClose != nil {
		ts.emuClose()
		ts.emu, ts.emuClose = nil, nil
	}
}

// quiet passes on only warnings and errors: the embedded emulator's own account of each
// call would repeat what the run already logs.
func quiet(l *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{l.Handler(), slog.LevelWarn})
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(as), f.min}
}

func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(name), f.min}
}
