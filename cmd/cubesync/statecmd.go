package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cubesync/cubesync/jobs"
)

func runState(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("state")
	configPath := configFlag(fs, e)
	table := fs.String("table", "", "the `table` (default: every table of the job)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return badArgs(errors.New("say get, set, clear or forget-dataset, and the job"))
	}
	verb, jobName := pos[0], pos[1]
	cfg, err := loadConfig(e, *configPath)
	if err != nil {
		return err
	}
	job, err := findJob(cfg, jobName)
	if err != nil {
		return err
	}
	var tbl *jobs.Table
	if *table != "" {
		for _, t := range job.Tables {
			if t.Name == *table {
				tbl = t
			}
		}
		if tbl == nil {
			return badArgs(fmt.Errorf("job %q has no table %q", jobName, *table))
		}
	}
	store, err := openStoreForReading(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer store.Close()

	switch verb {
	case "forget-dataset":
		if len(pos) != 2 || tbl != nil {
			return badArgs(errors.New("state forget-dataset takes the job only"))
		}
		if job.Dataset.ID != "" {
			return badArgs(fmt.Errorf("job %q names its dataset in %s (dataset.id = %q), which the state store cannot override: remove dataset.id there to have the next run create a new dataset %q", jobName, cfg.File, job.Dataset.ID, job.Dataset.Name))
		}
		id, err := store.DatasetID(ctx, jobName)
		if errors.Is(err, jobs.ErrNotFound) {
			fmt.Fprintf(e.stdout, "job %s remembers no dataset; the next run creates dataset %q\n", jobName, e.scrubber.Scrub(job.Dataset.Name))
			return nil
		}
		if err != nil {
			return err
		}
		if err := store.ForgetDatasetID(ctx, jobName); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "job %s: forgot dataset %s; the next run creates a new dataset %q (the old one is left on the server as it is)\n", jobName, id, e.scrubber.Scrub(job.Dataset.Name))
		return nil
	case "get":
		if len(pos) != 2 {
			return badArgs(errors.New("state get takes no value"))
		}
		marks, err := store.Watermarks(ctx, jobName)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TABLE\tCOLUMN\tKIND\tWATERMARK\tUPDATED")
		for _, t := range job.Tables {
			if tbl != nil && t != tbl {
				continue
			}
			m, ok := marks[t.Name]
			switch {
			case ok:
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, m.Column, m.Kind, m.Value, m.Updated.UTC().Format(time.RFC3339))
			case t.Incremental != nil && t.Incremental.Column != "":
				fmt.Fprintf(tw, "%s\t%s\t\t(none: next run starts at %q)\t\n", t.Name, t.Incremental.Column, t.Incremental.Initial)
			case t.Incremental != nil && t.Incremental.NewFiles:
				files, err := store.LoadedFiles(ctx, jobName, t.Name)
				if err != nil {
					return err
				}
				fmt.Fprintf(tw, "%s\t(files)\t\t%d files loaded\t\n", t.Name, len(files))
			default:
				fmt.Fprintf(tw, "%s\t\t\t(not incremental)\t\n", t.Name)
			}
		}
		return tw.Flush()
	case "set":
		if tbl == nil || len(pos) != 3 {
			return badArgs(errors.New("state set needs --table T and one VALUE"))
		}
		if tbl.Incremental == nil || tbl.Incremental.Column == "" {
			return badArgs(fmt.Errorf("table %q of job %q has no incremental column", tbl.Name, jobName))
		}
		kind, err := jobs.WatermarkKind(pos[2])
		if err != nil {
			return badArgs(err)
		}
		w := jobs.Watermark{Job: jobName, Table: tbl.Name, Column: tbl.Incremental.Column, Kind: kind, Value: pos[2]}
		if err := store.SetWatermark(ctx, w); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "job %s table %s: watermark set to %s (%s)\n", jobName, tbl.Name, w.Value, kind)
		return nil
	case "clear":
		if len(pos) != 2 {
			return badArgs(errors.New("state clear takes no value"))
		}
		name := ""
		if tbl != nil {
			name = tbl.Name
		}
		if err := store.ClearWatermark(ctx, jobName, name); err != nil {
			return err
		}
		what := "every table"
		if name != "" {
			what = "table " + name
		}
		fmt.Fprintf(e.stdout, "job %s: watermark cleared for %s; the next run starts from incremental.initial\n", jobName, what)
		return nil
	}
	msg := fmt.Sprintf("unknown state command %q", verb)
	if s := suggest(verb, []string{"get", "set", "clear", "forget-dataset"}); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return badArgs(errors.New(msg + "; want get, set, clear or forget-dataset"))
}

func runHistory(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("history")
	configPath := configFlag(fs, e)
	limit := fs.Int("n", 20, "how many runs to show")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return badArgs(fmt.Errorf("history takes at most one job (got %q)", pos))
	}
	cfg, err := loadStateConfig(e, *configPath)
	if err != nil {
		return err
	}
	job := ""
	if len(pos) == 1 {
		job = pos[0]
		if _, err := findJob(cfg, job); err != nil {
			return err
		}
	}
	store, err := openStoreForReading(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	runs, err := store.Runs(ctx, job, *limit)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		fmt.Fprintln(e.stdout, "no runs recorded yet")
		return nil
	}
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].Started.After(runs[j].Started) })
	deliveries, err := store.Deliveries(ctx, job, 5**limit)
	if err != nil {
		return err
	}
	notified := map[int64][]string{} // run → "ops: delivered"
	for _, d := range slices.Backward(deliveries) {
		if d.RunID != 0 {
			notified[d.RunID] = append(notified[d.RunID], fmt.Sprintf("%s %s %s", d.Notifier, d.Event, d.Status))
		}
	}
	// The TRACE column, the OpenTelemetry trace id of each run, only when one was traced.
	traced := slices.ContainsFunc(runs, func(r jobs.Run) bool { return r.TraceID != "" })
	traceCol := func(r jobs.Run) string {
		if !traced {
			return ""
		}
		return cmp.Or(r.TraceID, "—") + "\t"
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	header := "RUN\tJOB\tTRIGGER\tSTARTED\tDURATION\tSTATUS\tROWS\tBYTES\tCHUNKS\tNOTIFIED\t"
	if traced {
		header += "TRACE\t"
	}
	fmt.Fprintln(tw, header+"ERROR")
	for _, r := range runs {
		dur := ""
		if !r.Ended.IsZero() {
			dur = r.Ended.Sub(r.Started).Round(time.Millisecond).String()
		}
		status := r.Status
		if r.NoChanges() {
			status += " (no changes)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s%s\n", r.ID, r.Job, r.Trigger, r.Started.Local().Format("2006-01-02 15:04:05"), dur, status, r.Rows, humanBytes(r.Bytes), r.Chunks, cmp.Or(strings.Join(notified[r.ID], ", "), "—"), traceCol(r), oneLine(r.Error, 120))
	}
	return tw.Flush()
}
