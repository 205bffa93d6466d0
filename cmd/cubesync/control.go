package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/cubesync/cubesync/jobs"
)

// controlJob parses the flags and single JOB of trigger, pause and resume, and opens the
// state store.
func controlJob(ctx context.Context, e *env, name string, args []string, extra func(fs *flag.FlagSet)) (*jobs.Job, jobs.Store, error) {
	fs := newFlagSet(name)
	configPath := configFlag(fs, e)
	if extra != nil {
		extra(fs)
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if len(pos) != 1 {
		return nil, nil, badArgs(errors.New("name one job"))
	}
	cfg, err := loadStateConfig(e, *configPath)
	if err != nil {
		return nil, nil, err
	}
	job, err := findJob(cfg, pos[0])
	if err != nil {
		return nil, nil, err
	}
	if job.ScheduleSpec == nil {
		return nil, nil, badArgs(fmt.Errorf("job %q has no schedule, so no serve runs it: use cubesync run-job %s", job.Name, job.Name))
	}
	store, err := openStoreForReading(ctx, e, cfg)
	if err != nil {
		return nil, nil, err
	}
	return job, store, nil
}

// requester names who asked, for the history and the replicas' logs.
func requester(e *env) string {
	host, _ := os.Hostname()
	user := e.getenv("USER")
	if user == "" {
		user = "?"
	}
	return fmt.Sprintf("cli %s@%s", user, host)
}

func runTrigger(ctx context.Context, e *env, args []string) error {
	var wait *time.Duration
	job, store, err := controlJob(ctx, e, "trigger", args, func(fs *flag.FlagSet) {
		wait = fs.Duration("wait", 30*time.Second, "how long to wait for a serve replica to take the request (0: do not wait)")
	})
	if err != nil {
		return err
	}
	defer store.Close()
	req, err := store.RequestRun(ctx, job.Name, requester(e))
	if err != nil {
		return err
	}
	if *wait <= 0 {
		fmt.Fprintf(e.stdout, "run of %s requested (request %d): a serve replica runs it within seconds; see cubesync history %s\n", job.Name, req.ID, job.Name)
		return nil
	}
	deadline := time.Now().Add(*wait)
	for {
		got, err := store.Request(ctx, req.ID)
		if err != nil {
			return err
		}
		if !got.Taken.IsZero() {
			fmt.Fprintf(e.stdout, "run of %s requested (request %d) and taken by %s; see cubesync history %s\n", job.Name, req.ID, got.TakenBy, job.Name)
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	withdrawn, err := store.WithdrawRequest(context.WithoutCancel(ctx), req.ID)
	if err != nil {
		return err
	}
	if !withdrawn { // taken at the last moment
		fmt.Fprintf(e.stdout, "run of %s requested (request %d) and taken; see cubesync history %s\n", job.Name, req.ID, job.Name)
		return nil
	}
	return fmt.Errorf("no serve replica took the request within %s, so it was withdrawn: is cubesync serve running with this state store (and job %s not running already)? Or run it here with cubesync run-job %s", *wait, job.Name, job.Name)
}

func runPause(ctx context.Context, e *env, args []string) error {
	return setPaused(ctx, e, "pause", args, true)
}

func runResume(ctx context.Context, e *env, args []string) error {
	return setPaused(ctx, e, "resume", args, false)
}

func setPaused(ctx context.Context, e *env, name string, args []string, paused bool) error {
	job, store, err := controlJob(ctx, e, name, args, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.SetPaused(ctx, job.Name, paused, requester(e)); err != nil {
		return err
	}
	if paused {
		fmt.Fprintf(e.stdout, "%s paused: serve replicas skip its slots until cubesync resume %s\n", job.Name, job.Name)
	} else {
		fmt.Fprintf(e.stdout, "%s resumed: its next slot runs\n", job.Name)
	}
	return nil
}
