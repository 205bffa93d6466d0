package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cubesync/cubesync/jobs"
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
	cfg, err := jobs.Load(*path, func(k string) (string, bool) { return lookupEnv(e, k) })
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
	printConfig(e.stdout, cfg, time.Now())
	for _, name := range cfg.JobNames() {
		for _, t := range cfg.Jobs[name].Tables {
			if err := t.CheckParquetFiles(); err != nil {
				fmt.Fprintf(e.stderr, "warning: job %s table %s: %v; a run now would fail\n", name, t.Name, err)
			}
		}
	}
	checkDatasetNames(ctx, e, cfg)
	return nil
}

// checkDatasetNames warns about each job whose dataset.name differs from the name of the
// dataset it remembers, as the state store keeps it (the name it was created with, or the
// one the last run found on the server): renaming dataset.name renames nothing. A state
// store that cannot be read is a note, not a failure: validate checks the file.
func checkDatasetNames(ctx context.Context, e *env, cfg *jobs.Config) {
	if cfg.State.DatabaseURL == "" {
		if _, err := os.Stat(localStateDir); err != nil {
			return // no local state yet: no job remembers a dataset
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	store, err := openStoreForReading(ctx, e, cfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "note: dataset names not compared with the state store: %v\n", err)
		return
	}
	defer store.Close()
	for _, name := range cfg.JobNames() {
		j := cfg.Jobs[name]
		if j.Dataset.ID != "" {
			continue // the job names its dataset itself; the run compares with the server
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
}

// printConfig describes a valid config: each job, its target, tables and next runs after
// now. Secrets are never printed.
func printConfig(w io.Writer, cfg *jobs.Config, now time.Time) {
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
	for _, name := range names {
		j := cfg.Jobs[name]
		fmt.Fprintf(w, "\njob %s", j.Name)
		if j.Description != "" {
			fmt.Fprintf(w, ": %s", j.Description)
		}
		fmt.Fprintln(w)
		field := func(label, value string) { fmt.Fprintf(w, "  %-9s %s\n", label, value) }
		field("target", describeTarget(j.Target))
		if j.Dataset.ID != "" {
			field("dataset", fmt.Sprintf("%q (id %s)", j.Dataset.Name, j.Dataset.ID))
		} else {
			field("dataset", fmt.Sprintf("%q (created on the first run)", j.Dataset.Name))
		}
		fmt.Fprintln(w, "  tables")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, t := range j.Tables {
			line := fmt.Sprintf("    %s\t%s\t%s", t.Name, t.Policy, describeInput(t))
			if opts := describeTableOptions(t); opts != "" {
				line += "\t" + opts
			}
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
		if j.ScheduleSpec == nil {
			field("schedule", "none (run-job only)")
			continue
		}
		field("schedule", j.Schedule)
		if j.FullRefresh != "" {
			field("refresh", "full on "+j.FullRefresh+" (incremental tables replaced, watermarks reset)")
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

func describeTarget(t *jobs.Target) string {
	if t.Embedded() {
		return t.Name + " (built-in emulator)"
	}
	return fmt.Sprintf("%s (%s)", t.Name, t.BaseURL)
}

func describeInput(t *jobs.Table) string {
	if t.Source != nil {
		return fmt.Sprintf("query on %s (%s)", t.Source.Name, t.Source.Type)
	}
	return "parquet " + t.Parquet
}

func describeTableOptions(t *jobs.Table) string {
	var opts []string
	if len(t.Key) > 0 {
		opts = append(opts, "key "+strings.Join(t.Key, ", "))
	}
	if len(t.Exclude) > 0 {
		opts = append(opts, "exclude "+strings.Join(t.Exclude, ", "))
	}
	if inc := t.Incremental; inc != nil {
		if inc.NewFiles {
			opts = append(opts, "new files only")
		} else {
			opts = append(opts, fmt.Sprintf("incremental on %s from %s", inc.Column, inc.Initial))
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
