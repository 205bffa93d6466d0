package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/term"

	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/jobs/filestate"
	"github.com/cubesync/cubesync/jobs/pgstate"
	"github.com/cubesync/cubesync/sink"
	"github.com/cubesync/cubesync/sink/emulator"
)

// localStateDir is where the embedded defaults keep state: runs, watermarks, dataset ids,
// and the embedded emulator's datasets.
const localStateDir = ".cubesync"

// configFlag adds --config with its default from CUBESYNC_CONFIG.
func configFlag(fs *flag.FlagSet, e *env) *string {
	def := "jobs.toml"
	if v := e.getenv("CUBESYNC_CONFIG"); v != "" {
		def = v
	}
	return fs.String("config", def, "`path` of the jobs file (env CUBESYNC_CONFIG)")
}

// loadConfig loads the jobs file; a bad file is a usage error (exit 2).
func loadConfig(e *env, path string) (*jobs.Config, error) {
	cfg, err := jobs.Load(path, func(k string) (string, bool) { return lookupEnv(e, k) })
	if err != nil {
		return nil, usageError(err)
	}
	return cfg, nil
}

// lookupEnv finds a ${VAR} of the jobs file: e.getenv first, then the process environment,
// so a variable set to "" counts as set.
func lookupEnv(e *env, k string) (string, bool) {
	if e.getenv == nil {
		return "", false
	}
	if v := e.getenv(k); v != "" {
		return v, true
	}
	return os.LookupEnv(k)
}

// parseInterleaved parses flags that may come before or after the positional arguments
// (`run-job demo --dry-run` as well as `run-job --dry-run demo`).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newLogger builds the one logger of the process: text on a terminal, JSON otherwise,
// unless format says.
func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	if format == "" || format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil // durations as Go text: 41ms
	case "json":
		opts.ReplaceAttr = durationSeconds
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, badArgs(fmt.Errorf("--log-format: unknown format %q (want auto, text or json)", format))
}

// durationSeconds writes a duration in JSON logs as seconds, a number, under its key with
// "_s" appended ("duration_s": 0.041): log readers sum and compare numbers, and the key says
// the unit. Text logs keep Go's duration text (duration=41ms).
func durationSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key+"_s", a.Value.Duration().Seconds())
	}
	return a
}

// findJob returns the named job, or a usage error listing the jobs there are.
func findJob(cfg *jobs.Config, name string) (*jobs.Job, error) {
	j, ok := cfg.Jobs[name]
	if !ok {
		msg := fmt.Sprintf("%s has no job %q", cfg.File, name)
		if s := suggest(name, cfg.JobNames()); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		return nil, badArgs(fmt.Errorf("%s; jobs: %s", msg, strings.Join(cfg.JobNames(), ", ")))
	}
	return j, nil
}

// openStoreForReading opens the state store for a command that only reads or repairs it,
// logging (rarely: migrations, warnings) as text or JSON to stderr.
func openStoreForReading(ctx context.Context, e *env, cfg *jobs.Config) (jobs.Store, error) {
	log, err := newLogger(e.stderr, "")
	if err != nil {
		return nil, err
	}
	return openStore(ctx, cfg, log)
}

// openStore opens the state store the config names: Postgres with [state] database_url,
// else files under ./.cubesync.
func openStore(ctx context.Context, cfg *jobs.Config, log *slog.Logger) (jobs.Store, error) {
	if cfg.State.DatabaseURL != "" {
		s, err := pgstate.Open(ctx, cfg.State.DatabaseURL, log)
		if err != nil {
			return nil, fmt.Errorf("open state database: %w", err)
		}
		return s, nil
	}
	s, err := filestate.Open(localStateDir)
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
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
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

// exitCodeFor maps a run's error to the process exit code.
func exitCodeFor(e *env, err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, jobs.ErrLocked):
		return exitSkipped
	}
	if e.signal != nil {
		if s := e.signal(); s != nil {
			return signalExitCode(s)
		}
	}
	return exitFailed
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
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
