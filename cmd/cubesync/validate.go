package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/sources/parquetfile"
)

// nextRuns is how many upcoming runs validate prints per scheduled job.
const nextRuns = 3

func runValidate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("validate")
	path := configFlag(fs, e)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return badArgs(fmt.Errorf("unexpected argument %q (validate checks the whole file; use --config to name it)", pos[0]))
	}
	cfg, err := readConfig(e, *path)
	var ce *jobs.ConfigError
	if errors.As(err, &ce) {
		for _, m := range ce.Messages() {
			fmt.Fprintln(e.stderr, m)
		}
		return usageError(fmt.Errorf("%s: %d %s", ce.File, len(ce.Problems), plural(len(ce.Problems), "problem", "problems")))
	}
	if err != nil {
		return usageError(err)
	}
	tr, err := tracingFromEnv(e)
	if err != nil {
		return usageError(err)
	}
	printConfig(e.stdout, cfg, tr, time.Now())
	for _, name := range cfg.JobNames() {
		for i, t := range cfg.Jobs[name].Tables {
			err := t.CheckParquetFiles()
			if err == nil {
				continue
			}
			// The error names the files; a pattern that came from ${VAR} expansion is shown
			// as written instead, with the reason only.
			idx := fmt.Sprintf("[%d]", i)
			if written := cfg.Shown(t.Parquet, "jobs", name, "tables", idx, "parquet"); written != t.Parquet {
				reason := "cannot be read"
				switch {
				case errors.Is(err, parquetfile.ErrNoFiles):
					reason = "matches no Parquet file"
				case errors.Is(err, parquetfile.ErrNotRegular):
					reason = "matches a file that is not a regular file"
				}
				err = fmt.Errorf("parquet %q %s", written, reason)
			}
			fmt.Fprintf(e.stderr, "warning: job %s table %s: %v; a run now would fail\n", name, cfg.Shown(t.Name, "jobs", name, "tables", idx, "name"), err)
		}
	}
	warnUnusedNotifiers(e.stderr, cfg)
	warnJitterOverInterval(e.stderr, cfg, time.Now())
	if n := checkDatasets(ctx, e, cfg); n > 0 {
		return usageError(fmt.Errorf("%s: %d %s", cfg.File, n, plural(n, "job writes a dataset another job writes", "jobs write a dataset another job writes")))
	}
	return nil
}

// warnUnusedNotifiers warns about each [notify.NAME] that no job names, itself or through
// [defaults] notify: it is never told anything, which is rarely what its author meant.
func warnUnusedNotifiers(w io.Writer, cfg *jobs.Config) {
	used := map[string]bool{}
	for _, j := range cfg.Jobs {
		for _, n := range j.Notify {
			used[n.Name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Notify)) {
		if !used[name] {
			fmt.Fprintf(w, "warning: notify.%s: no job names it, so it is never sent anything (add notify = [%q] to a job or to [defaults])\n", name, name)
		}
	}
}

// warnJitterOverInterval warns about each job whose jitter is longer than the shortest
// time between two of its next slots: such a slot can start after the next one is due,
// which then waits for it or is skipped as an overlap.
func warnJitterOverInterval(w io.Writer, cfg *jobs.Config, now time.Time) {
	for _, name := range cfg.JobNames() {
		j := cfg.Jobs[name]
		if j.Jitter <= 0 || j.ScheduleSpec == nil {
			continue
		}
		var shortest time.Duration
		t := j.ScheduleSpec.Next(now)
		for range 50 { // enough slots to see the gaps of a weekly or working-day schedule
			next := j.ScheduleSpec.Next(t)
			if next.IsZero() {
				break
			}
			if gap := next.Sub(t); shortest == 0 || gap < shortest {
				shortest = gap
			}
			t = next
		}
		if shortest > 0 && j.Jitter > shortest {
			fmt.Fprintf(w, "warning: job %s: jitter %s is longer than the %s between two of its slots (schedule %q): a slot may start after the next one is due; keep jitter under %s\n",
				name, j.Jitter, shortest, j.Schedule, shortest)
		}
	}
}

// checkDatasets compares the jobs file with the datasets the state store remembers. It
// warns about each job whose dataset.name differs from the name of the dataset it
// remembers (the name it was created with, or the one the last run found on the server):
// renaming dataset.name renames nothing. And it reports each job whose dataset is one
// another job created and remembers (a dataset.id copied from it), returning how many: the
// file alone cannot show those. A state store that cannot be read is a note, not a
// failure: validate checks the file.
func checkDatasets(ctx context.Context, e *env, cfg *jobs.Config) (conflicts int) {
	if cfg.State.DatabaseURL == "" {
		if _, err := os.Stat(localStateDir); err != nil {
			return 0 // no local state yet: no job remembers a dataset
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	store, err := openStoreForReading(ctx, e, cfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "note: dataset names not compared with the state store: %v\n", err)
		return 0
	}
	defer store.Close()
	remembered := map[string]string{} // job -> the dataset id it created
	for _, name := range cfg.JobNames() {
		j := cfg.Jobs[name]
		if j.Dataset.ID != "" {
			continue // the job names its dataset itself; the run compares with the server
		}
		if id, err := store.DatasetID(ctx, name); err == nil {
			remembered[name] = id
		}
		kept, err := store.DatasetName(ctx, name)
		if errors.Is(err, jobs.ErrNotFound) {
			continue
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "note: job %s: dataset name not compared with the state store: %v\n", name, err)
			continue
		}
		if msg := j.DatasetNameDrift(kept); msg != "" {
			fmt.Fprintf(e.stderr, "warning: job %s: %s\n", name, msg)
		}
	}
	for _, creator := range cfg.JobNames() {
		id, ok := remembered[creator]
		if !ok {
			continue
		}
		for _, name := range cfg.JobNames() {
			j := cfg.Jobs[name]
			other, shown := j.Dataset.ID, cfg.Shown(j.Dataset.ID, "jobs", name, "dataset", "id")
			if other == "" {
				other, shown = remembered[name], remembered[name]
			}
			// Two remembered ids are reported once, on the later job.
			if name == creator || !strings.EqualFold(other, id) || !j.Target.SameProject(cfg.Jobs[creator].Target) ||
				(j.Dataset.ID == "" && name < creator) {
				continue
			}
			fmt.Fprintf(e.stderr, "%s: job %s writes dataset %s, which job %s created and the state store remembers for it: two jobs pushing into one dataset replace each other's data; give job %s its own dataset, or put the tables of both in one job\n",
				cfg.File, name, shown, creator, name)
			conflicts++
		}
	}
	return conflicts
}

// printConfig describes a valid config: where state is kept, what serve does, the
// notifiers, tracing (tr, from the environment), then each job, its target, tables and
// next runs after now. Secrets are never printed, nor any value that came from ${VAR}
// expansion: those are shown as written in the file.
func printConfig(w io.Writer, cfg *jobs.Config, tr tracingSettings, now time.Time) {
	names := cfg.JobNames()
	fmt.Fprintf(w, "%s: ok, %d %s, %d %s, %d %s\n", cfg.File,
		len(names), plural(len(names), "job", "jobs"),
		len(cfg.Targets), plural(len(cfg.Targets), "target", "targets"),
		len(cfg.Sources), plural(len(cfg.Sources), "source", "sources"))
	if cfg.State.DatabaseURL != "" {
		fmt.Fprintln(w, "state: Postgres ([state] database_url)")
	} else {
		fmt.Fprintln(w, "state: local files under ./.cubesync")
	}
	admin := "admin API off (no admin_token)"
	if cfg.Serve.AdminToken != "" {
		admin = "admin API on (POST /api/jobs/NAME/run|pause|resume with admin_token)"
	}
	n := cfg.Serve.MaxConcurrentRuns
	fmt.Fprintf(w, "serve: at most %d %s at once per process (max_concurrent_runs); %s\n", n, plural(n, "run", "runs"), admin)
	if len(cfg.Notify) > 0 {
		var ns []string
		for _, name := range slices.Sorted(maps.Keys(cfg.Notify)) {
			ns = append(ns, fmt.Sprintf("%s (on %s)", name, strings.Join(cfg.Notify[name].On, ", ")))
		}
		fmt.Fprintf(w, "notify: %s\n", strings.Join(ns, "; "))
	}
	if tr.on {
		fmt.Fprintf(w, "tracing: OTLP %s to %s (OTEL_EXPORTER_OTLP_* variables)\n", tr.protocol, redactURL(tr.endpoint))
	} else {
		fmt.Fprintln(w, "tracing: off (set OTEL_EXPORTER_OTLP_ENDPOINT to export traces)")
	}
	for _, name := range names {
		j := cfg.Jobs[name]
		shown := func(value string, path ...string) string {
			return cfg.Shown(value, append([]string{"jobs", name}, path...)...)
		}
		fmt.Fprintf(w, "\njob %s", j.Name)
		if j.Description != "" {
			fmt.Fprintf(w, ": %s", shown(j.Description, "description"))
		}
		fmt.Fprintln(w)
		field := func(label, value string) { fmt.Fprintf(w, "  %-9s %s\n", label, value) }
		field("target", describeTarget(cfg, j.Target))
		dsName := shown(j.Dataset.Name, "dataset", "name")
		if j.Dataset.ID != "" {
			field("dataset", fmt.Sprintf("%q (id %s)", dsName, shown(j.Dataset.ID, "dataset", "id")))
		} else {
			field("dataset", fmt.Sprintf("%q (created on the first run)", dsName))
		}
		fmt.Fprintln(w, "  tables")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for i, t := range j.Tables {
			shownT := func(value string, path ...string) string {
				return shown(value, append([]string{"tables", fmt.Sprintf("[%d]", i)}, path...)...)
			}
			line := fmt.Sprintf("    %s\t%s\t%s", shownT(t.Name, "name"), t.Policy, describeInput(t, shownT))
			if opts := describeTableOptions(t, shownT); opts != "" {
				line += "\t" + opts
			}
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
		if len(j.Notify) > 0 {
			var ns []string
			for _, n := range j.Notify {
				ns = append(ns, n.Name)
			}
			field("notify", strings.Join(ns, ", "))
		}
		if j.ScheduleSpec == nil {
			field("schedule", "none (run-job only)")
			continue
		}
		field("schedule", shown(j.Schedule, "schedule"))
		if j.FullRefresh != "" {
			field("refresh", "full on "+shown(j.FullRefresh, "full_refresh")+" (incremental tables replaced, watermarks reset)")
		}
		if j.Jitter > 0 {
			field("jitter", fmt.Sprintf("%s: each slot starts %s after its time (fixed for this job name)", j.Jitter, j.JitterOffset()))
		}
		next := now
		for i := range nextRuns {
			slot, start := j.NextRun(next)
			if start.IsZero() {
				break
			}
			next = start
			label := ""
			if i == 0 {
				label = "next runs"
			}
			line := start.Format("2006-01-02 15:04:05 MST (Mon)")
			if j.FullRefreshAt(slot) {
				line += " full refresh"
			}
			field(label, line)
		}
	}
}

func describeTarget(cfg *jobs.Config, t *jobs.Target) string {
	if t.Embedded() {
		return t.Name + " (built-in emulator)"
	}
	return fmt.Sprintf("%s (%s)", t.Name, cfg.Shown(t.BaseURL, "targets", t.Name, "base_url"))
}

// describeInput and describeTableOptions show each value of table t through shown, given
// the value and its key path under the table.
func describeInput(t *jobs.Table, shown func(value string, path ...string) string) string {
	if t.Source != nil {
		return fmt.Sprintf("query on %s (%s)", t.Source.Name, t.Source.Type)
	}
	return "parquet " + shown(t.Parquet, "parquet")
}

func describeTableOptions(t *jobs.Table, shown func(value string, path ...string) string) string {
	var opts []string
	list := func(key string, values []string) string {
		out := make([]string, len(values))
		for i, v := range values {
			out[i] = shown(v, key, fmt.Sprintf("[%d]", i))
		}
		return strings.Join(out, ", ")
	}
	if len(t.Key) > 0 {
		opts = append(opts, "key "+list("key", t.Key))
	}
	if len(t.Exclude) > 0 {
		opts = append(opts, "exclude "+list("exclude", t.Exclude))
	}
	if inc := t.Incremental; inc != nil {
		if inc.NewFiles {
			opts = append(opts, "new files only")
		} else {
			opts = append(opts, fmt.Sprintf("incremental on %s from %s", shown(inc.Column, "incremental", "column"), shown(inc.Initial, "incremental", "initial")))
			if inc.Lookback > 0 {
				opts = append(opts, "re-reads the last "+inc.Lookback.String())
			}
		}
	}
	if t.AllowEmpty {
		opts = append(opts, "may be empty")
	}
	return strings.Join(opts, "; ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
