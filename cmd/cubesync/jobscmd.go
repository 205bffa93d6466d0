package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cubesync/cubesync/jobs"
)

func runJobs(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("jobs")
	configPath := configFlag(fs, e)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return badArgs(fmt.Errorf("unexpected arguments %q (jobs lists every job)", pos))
	}
	cfg, err := loadStateConfig(e, *configPath)
	if err != nil {
		return err
	}
	store, err := openStoreForReading(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	return printJobs(ctx, e.stdout, cfg, store, time.Now())
}

// printJobs writes one line per job of cfg with what store remembers of it.
func printJobs(ctx context.Context, w io.Writer, cfg *jobs.Config, store jobs.Store, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSCHEDULE\tNEXT RUN\tLAST RUN\tSTATUS\tROWS\tWATERMARK")
	paused, err := store.Paused(ctx)
	if err != nil {
		return fmt.Errorf("read paused jobs: %w", err)
	}
	for _, name := range cfg.JobNames() {
		j := cfg.Jobs[name]
		schedule, next := "(run-job only)", "—"
		if j.ScheduleSpec != nil {
			schedule = j.Schedule
			if j.Jitter > 0 {
				schedule += " +" + j.JitterOffset().String() + " jitter"
			}
			if slot, t := j.NextRun(now); !t.IsZero() {
				next = t.Local().Format("2006-01-02 15:04:05")
				if j.FullRefreshAt(slot) {
					next += " (full refresh)"
				}
			}
		}
		if p, ok := paused[name]; ok {
			next = "paused since " + p.Since.Local().Format("2006-01-02 15:04")
		}
		last, status, rows := "never", "—", "—"
		runs, err := store.Runs(ctx, name, 1)
		if err != nil {
			return fmt.Errorf("job %q: read runs: %w", name, err)
		}
		if len(runs) > 0 {
			r := runs[0]
			last = r.Started.Local().Format("2006-01-02 15:04:05")
			status = r.Status
			rows = fmt.Sprint(r.Rows)
			if r.NoChanges() {
				status += " (no changes)"
			}
			if r.Status == jobs.StatusFailed && r.Error != "" {
				status += ": " + oneLine(r.Error, 60)
			}
		}
		marks, err := store.Watermarks(ctx, name)
		if err != nil {
			return fmt.Errorf("job %q: read watermarks: %w", name, err)
		}
		var wm []string
		for _, t := range j.Tables {
			if m, ok := marks[t.Name]; ok {
				wm = append(wm, t.Name+"="+m.Value)
			}
		}
		watermark := "—"
		if len(wm) > 0 {
			watermark = strings.Join(wm, " ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, schedule, next, last, status, rows, watermark)
	}
	return tw.Flush()
}
