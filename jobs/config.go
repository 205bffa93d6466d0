package jobs

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/robfig/cron/v3"

	"github.com/cubesync/cubesync/sink"

	// Schedules name zones with CRON_TZ=; embedding the zone database makes them resolve the
	// same in a scratch container as on a laptop, and validate agrees with serve.
	_ "time/tzdata"
)

// Config is a parsed and validated jobs.toml: every reference resolved, every default
// applied, every relative path resolved against the config file's directory.
type Config struct {
	File     string // the path as given
	Dir      string // the directory of the config file
	State    State
	Targets  map[string]*Target
	Sources  map[string]*Source
	Serve    Serve
	Notify   map[string]*Notifier // [notify.NAME] webhooks
	Defaults JobSettings          // the built-in defaults overridden by [defaults]
	// DefaultNotify names the notifiers of jobs that set no notify of their own.
	DefaultNotify []*Notifier
	Jobs          map[string]*Job
	// Unused lists the variables that were unset in keys the loading command said it does
	// not use (LoadUsing); each such key was left out, as if absent. Empty after Load.
	Unused []Problem
	// written maps the key path of every value that held a ${VAR} reference to its text as
	// written in the file (see Shown).
	written map[string]string
	// scrubber knows the values ${VAR} references expanded to (see Scrubber).
	scrubber *Scrubber
}

// Shown returns value, read at the key path given as segments ("jobs", "sales", "dataset",
// "name"; an array element as "[0]"), as it may be printed: the text written in the file
// when the value came from ${VAR} expansion (a variable may hold a secret), else value.
func (c *Config) Shown(value string, path ...string) string {
	if w, ok := c.written[keyPath(path).String()]; ok {
		return w
	}
	return value
}

// Scrubber returns what removes the values that the file's ${VAR} references expanded to
// from a message (see Scrubber.Scrub): logs, run errors and notifications pass through it.
func (c *Config) Scrubber() *Scrubber { return c.scrubber }

// State says where jobs keep what they remember between runs.
type State struct {
	DatabaseURL string // a Postgres URL; "" = local files under ./.cubesync
}

// Serve configures the scheduler daemon.
type Serve struct {
	Listen        string        // default 127.0.0.1:9746
	ShutdownGrace time.Duration // default 25s
	// MaxConcurrentRuns bounds the runs one serve process has going at once; a replica at
	// its limit leaves due slots to the others. Default: the number of CPUs.
	MaxConcurrentRuns int
	// AdminToken, when set, enables POST /api/jobs/{name}/run|pause|resume for requests
	// bearing it. A secret: never logged or shown.
	AdminToken string
}

// Notifier is a webhook told about runs: [notify.NAME].
type Notifier struct {
	Name string
	URL  string   // a secret (it often holds a token): never logged
	On   []string // events: failure, recovery, success, missed
}

// Notification events, as Notifier.On names them.
const (
	EventFailure  = "failure"  // a run failed
	EventRecovery = "recovery" // a run succeeded after the job's previous run failed
	EventSuccess  = "success"  // a run succeeded
	EventMissed   = "missed"   // a slot no replica could start within catchup_window
)

// Wants reports whether the notifier is told about event.
func (n *Notifier) Wants(event string) bool { return slices.Contains(n.On, event) }

// Target is a MicroStrategy server (or the built-in emulator) that jobs push to.
type Target struct {
	Name               string
	BaseURL            string // without a trailing slash; "embedded" = the built-in emulator
	ProjectID          string
	Username           string
	Password           string
	LoginMode          string // standard | ldap | api_token
	FolderID           string // where new datasets are created; "" = the server's default
	TLSCAFile          string // resolved against Config.Dir
	InsecureSkipVerify bool
	RequestTimeout     time.Duration // per HTTP call; default sink.DefaultRequestTimeout
	CallRetries        int           // retries of one HTTP call, 0 for none; default sink.DefaultCallRetries
	CallBackoff        time.Duration // first retry delay, doubled per retry; default sink.DefaultCallBackoff
}

// Embedded reports whether the target is the built-in emulator rather than a server.
func (t *Target) Embedded() bool { return t.BaseURL == EmbeddedURL }

// EmbeddedURL is the base_url that selects the built-in emulator.
const EmbeddedURL = "embedded"

// Source is a database that table queries read from.
type Source struct {
	Name string
	Type string // "postgres"
	DSN  string
}

// JobSettings are the settings a job inherits from [defaults] and may override.
type JobSettings struct {
	ChunkSize     int64         // JSON bytes per uploaded chunk, before base64; default 100MB
	Timeout       time.Duration // deadline of one run; default 2h
	Overlap       string        // skip | wait: what a due slot does while the job still runs
	CatchupWindow time.Duration // a slot missed while down runs at start if this recent; default 6h
	Retry         Retry
	// Jitter delays every slot of the job by a fixed offset in [0, Jitter) derived from
	// the job's name (see Job.JitterOffset); default 0.
	Jitter time.Duration
}

// Retry says how often a whole run is tried.
type Retry struct {
	Attempts     int           // total tries; 1 = no retry; default 3
	InitialDelay time.Duration // default 30s, doubled per try
	MaxDelay     time.Duration // default 10m
}

// Overlap policies.
const (
	OverlapSkip = "skip"
	OverlapWait = "wait"
)

// Login modes of a target.
const (
	LoginStandard = "standard"
	LoginLDAP     = "ldap"
	LoginAPIToken = "api_token"
)

// Job is one dataset filled from one or more tables.
type Job struct {
	Name        string
	Description string
	Schedule    string // the cron spec as written; "" = run-job only
	// FullRefresh is a cron spec as written: its slots are run too, as full refreshes
	// (watermarks ignored, incremental tables pushed with replace).
	FullRefresh  string
	Target       *Target
	Dataset      Dataset
	Tables       []*Table
	Notify       []*Notifier   // told about this job's runs: its notify, else [defaults] notify
	JobSettings                // [defaults] with the job's own overrides applied
	ScheduleSpec cron.Schedule // parsed Schedule; nil without a schedule
	// FullRefreshSpec is the parsed FullRefresh; nil without one.
	FullRefreshSpec cron.Schedule
}

// Slots is when the job runs under serve: the slots of its schedule and of its
// full_refresh schedule (an instant in both is one slot); nil without a schedule.
func (j *Job) Slots() Schedule {
	switch {
	case j.ScheduleSpec == nil:
		return nil
	case j.FullRefreshSpec == nil:
		return j.ScheduleSpec
	}
	return unionSchedule{j.ScheduleSpec, j.FullRefreshSpec}
}

// NextRun returns the job's first slot under serve that starts after t, and when it starts:
// the slot plus the job's jitter offset. Both are zero without a schedule or further slot.
func (j *Job) NextRun(t time.Time) (slot, start time.Time) {
	s := j.Slots()
	if s == nil {
		return time.Time{}, time.Time{}
	}
	off := j.JitterOffset()
	if slot = s.Next(t.Add(-off)); slot.IsZero() {
		return time.Time{}, time.Time{}
	}
	return slot, slot.Add(off)
}

// FullRefreshAt reports whether the slot at is one of the job's full_refresh slots.
func (j *Job) FullRefreshAt(at time.Time) bool {
	return j.FullRefreshSpec != nil && j.FullRefreshSpec.Next(at.Add(-time.Nanosecond)).Equal(at)
}

type unionSchedule [2]Schedule

func (u unionSchedule) Next(t time.Time) time.Time {
	a, b := u[0].Next(t), u[1].Next(t)
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || !b.Before(a):
		return a
	}
	return b
}

// JitterOffset is how long after each of its cron slots the job starts: a fixed share of
// its jitter taken from a hash of its name, so it is the same on every replica and after
// every restart, and jobs on one schedule spread over the jitter. Whole seconds when the
// jitter is a second or more.
func (j *Job) JitterOffset() time.Duration {
	if j.Jitter <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(j.Name))
	off := time.Duration(h.Sum64() % uint64(j.Jitter))
	if j.Jitter >= time.Second {
		off = off.Truncate(time.Second)
	}
	return off
}

// Dataset names the dataset a job fills.
type Dataset struct {
	Name string
	ID   string // "" = created on the first run, then remembered in the state store
}

// Table is one table of a job's dataset and where its rows come from.
type Table struct {
	Name        string
	Policy      sink.Policy
	Source      *Source // nil for parquet tables
	Query       string
	Parquet     string   // a file, directory or glob, resolved against Config.Dir
	Key         []string // the attribute columns rows are matched on (update, upsert)
	Exclude     []string // read from the source, not pushed
	Incremental *Incremental
	Columns     map[string]ColumnOverride
	AllowEmpty  bool // let replace publish zero rows
	// ParquetPattern is parquet as written in the jobs file, and BaseDir the jobs file's
	// directory that a relative pattern resolves against (so errors can say so).
	ParquetPattern string
	BaseDir        string
	// Parallel is the number of connections a query table is read over, sharing one
	// snapshot (1: one connection); ParallelColumn, when set, is the integer column of the
	// result the read is split by, otherwise it is split by ctid.
	Parallel       int
	ParallelColumn string
}

// Incremental says which rows or files of a table are new since the last successful run.
// A query table sets Column (its greatest value is passed as $1 to the next run's query);
// a parquet table sets NewFiles (only files not loaded before are read).
// A replace table cannot be incremental: it would be emptied and refilled with only the
// new rows.
type Incremental struct {
	Column   string
	Initial  string // the $1 of the first run
	NewFiles bool   // files = "new"
	// Lookback moves the watermark back by this much when it is passed as $1, so rows
	// committed late with an older column value are read again (update/upsert only: the
	// rows read twice must land on the same keys).
	Lookback time.Duration
}

// ColumnOverride changes how one source column is pushed.
type ColumnOverride struct {
	Role string        // "", "attribute" or "metric"
	Type sink.DataType // "" = mapped from the source type
}

// JobNames returns the names of the configured jobs, sorted.
func (c *Config) JobNames() []string {
	return slices.Sorted(maps.Keys(c.Jobs))
}

// Problem is one mistake found in a config file.
type Problem struct {
	Path string // the key, e.g. jobs.sales.tables[1].policy; "" for a TOML syntax error
	Line int    // 1-based; 0 when unknown
	Msg  string
}

// ConfigError lists every problem of a config file, in file order.
type ConfigError struct {
	File     string
	Problems []Problem
}

// Messages returns one line per problem: "jobs.toml:12: jobs.sales.timeout: ...".
func (e *ConfigError) Messages() []string {
	out := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		var b strings.Builder
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
		if p.Path != "" {
			b.WriteString(p.Path)
			b.WriteString(": ")
		}
		b.WriteString(p.Msg)
		out[i] = b.String()
	}
	return out
}

func (e *ConfigError) Error() string { return strings.Join(e.Messages(), "\n") }

// Load reads and validates the config file at path. Relative paths in it (parquet,
// tls_ca_file) resolve against the file's directory. getenv looks up the variables of
// ${VAR} references (os.LookupEnv in production). A bad config returns a *ConfigError
// listing every problem.
func Load(path string, getenv func(string) (string, bool)) (*Config, error) {
	return LoadUsing(path, getenv, nil)
}

// LoadUsing is Load for a command that uses only some keys of the file: uses reports
// whether it uses the key at a path ("state.database_url", "serve.admin_token"). A key it
// does not use may name an unset variable (an operator's machine need not hold the
// secrets only serve uses): the key is left out and the variable listed in Config.Unused
// instead of failing the load. Everything else is checked as Load does. A nil uses is Load.
func LoadUsing(path string, getenv func(string) (string, bool), uses func(key string) bool) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config file %s does not exist (pass --config or set CUBESYNC_CONFIG)", path)
		}
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	return parse(f, path, getenv, uses)
}

// Parse reads and validates a config from r. filename names it in problems, and its
// directory is the one relative paths resolve against.
//
// ${VAR} and ${VAR:-default} are expanded in string values after the TOML is decoded, not
// in the raw text: a value holding quotes, backslashes or newlines (a password) cannot
// break the file or shift line numbers, and references in comments are ignored. Integer
// and boolean keys also accept a string with references ("${RETRIES:-5}").
func Parse(r io.Reader, filename string, getenv func(string) (string, bool)) (*Config, error) {
	return parse(r, filename, getenv, nil)
}

func parse(r io.Reader, filename string, getenv func(string) (string, bool), uses func(key string) bool) (*Config, error) {
	filename = cmp.Or(filename, "jobs.toml")
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", filename, err)
	}
	// Decoding into a map cannot fail on types, so every value is checked below and every
	// problem is reported, not only the first; keys are matched exactly (the struct
	// decoder folds case and stops at the first mismatch).
	var raw map[string]any
	if _, err := toml.Decode(string(src), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &ConfigError{File: filename, Problems: []Problem{{Line: pe.Position.Line, Msg: "invalid TOML: " + pe.Message}}}
		}
		return nil, fmt.Errorf("parse config %s: %w", filename, err)
	}
	if getenv == nil {
		getenv = func(string) (string, bool) { return "", false }
	}
	d := &decoder{
		file:   filename,
		dir:    filepath.Dir(filename),
		lines:  keyLines(string(src)),
		getenv: getenv,
		uses:   uses,
	}
	cfg := d.config(&tomlTable{d: d, m: raw})
	cfg.File, cfg.written, cfg.scrubber, cfg.Unused = filename, d.written, &d.scrubber, d.unused
	if len(d.problems) > 0 {
		ps := d.problems
		slices.SortStableFunc(ps, func(a, b Problem) int {
			// Problems without a line go last; the rest follow the file.
			return cmp.Compare(lineOrder(a.Line), lineOrder(b.Line))
		})
		return nil, &ConfigError{File: filename, Problems: slices.Compact(ps)}
	}
	return cfg, nil
}

func lineOrder(l int) int {
	if l == 0 {
		return int(^uint(0) >> 1)
	}
	return l
}
