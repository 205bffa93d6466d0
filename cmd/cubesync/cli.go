package main

// The command-line plumbing every command shares: the --config flag and loading the jobs
// file, flags interleaved with arguments, the process logger, finding a job by name and the
// exit code of a run. Parsing a command's flags and its help are in help.go.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/cubesync/cubesync/jobs"
)

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
	cfg, err := readConfig(e, path)
	if err != nil {
		return nil, usageError(err)
	}
	return cfg, nil
}

// loadStateConfig loads the jobs file for a command that only reads or writes the state
// store (trigger, pause, resume, history, jobs). It uses [state] (where the store is) and
// the jobs with their [defaults]; a ${VAR} elsewhere (a target's password, the admin token,
// a webhook URL: what serve and run-job use) may be unset where an operator runs it.
func loadStateConfig(e *env, path string) (*jobs.Config, error) {
	cfg, err := readConfigUsing(e, path, stateCommandUses)
	if err != nil {
		return nil, usageError(err)
	}
	return cfg, nil
}

// stateCommandUses reports whether a state-store command uses the jobs file key at path.
func stateCommandUses(path string) bool {
	section, _, _ := strings.Cut(path, ".")
	section, _, _ = strings.Cut(section, "[")
	switch section {
	case "state", "defaults", "jobs":
		return true
	}
	return false
}

// readConfig loads the jobs file and keeps its scrubber in e: from then on the command's
// logger (newLogger) and the error Run prints leave out the values of its ${VAR} references.
func readConfig(e *env, path string) (*jobs.Config, error) {
	return readConfigUsing(e, path, nil)
}

// readConfigUsing is readConfig for a command that uses only the keys uses reports
// (jobs.LoadUsing); nil: every key.
func readConfigUsing(e *env, path string, uses func(key string) bool) (*jobs.Config, error) {
	cfg, err := jobs.LoadUsing(path, func(k string) (string, bool) { return lookupEnv(e, k) }, uses)
	if err != nil {
		return nil, err
	}
	e.scrubber = cfg.Scrubber()
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
// unless format says. Every record passes through s (nil: none), so no log line shows a
// value of the jobs file's ${VAR} references.
func newLogger(w io.Writer, format string, s *jobs.Scrubber) (*slog.Logger, error) {
	if format == "" || format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(w, opts) // durations as Go text: 41ms
	case "json":
		opts.ReplaceAttr = durationSeconds
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, badArgs(fmt.Errorf("--log-format: unknown format %q (want auto, text or json)", format))
	}
	if s != nil {
		h = scrubHandler{h: h, s: s}
	}
	return slog.New(h), nil
}

// scrubHandler passes records on to h with s applied to the message and to every string,
// error and Stringer attribute, in groups too: a value of a ${VAR} reference reaches logs
// inside errors (a path, a dataset name, a URL) more often than as an attribute of its own.
type scrubHandler struct {
	h slog.Handler
	s *jobs.Scrubber
}

func (h scrubHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h scrubHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.s.Scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h scrubHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return scrubHandler{h: h.h.WithAttrs(h.attrs(as)), s: h.s}
}

func (h scrubHandler) WithGroup(name string) slog.Handler {
	return scrubHandler{h: h.h.WithGroup(name), s: h.s}
}

func (h scrubHandler) attrs(as []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = h.attr(a)
	}
	return out
}

// attr scrubs a; a value that holds nothing to scrub keeps its kind (an error stays an
// error for the handler).
func (h scrubHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	var text string
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.s.Scrub(v.String()))
	case slog.KindGroup:
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(h.attrs(v.Group())...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			text = x.Error()
		case fmt.Stringer:
			text = x.String()
		default:
			return slog.Attr{Key: a.Key, Value: v}
		}
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
	if scrubbed := h.s.Scrub(text); scrubbed != text {
		return slog.String(a.Key, scrubbed)
	}
	return slog.Attr{Key: a.Key, Value: v}
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

// splitList splits a comma-separated flag value, dropping blanks: "a, b," is [a b].
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
