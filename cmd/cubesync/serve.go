package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	// Zone data in the binary: CRON_TZ schedules resolve the same in a minimal container
	// as on a laptop (jobs imports it too; serve depends on it, so it says so here).
	_ "time/tzdata"

	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/jobs/filestate"
)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("serve")
	configPath := configFlag(fs, e)
	listen := fs.String("listen", e.getenv("CUBESYNC_LISTEN"), "`address` of the HTTP endpoints (env CUBESYNC_LISTEN; default: [serve] listen, else 127.0.0.1:9746)")
	logFormat := fs.String("log-format", "auto", "log `format`: auto (text on a terminal, json otherwise), text or json")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return badArgs(fmt.Errorf("unexpected arguments %q (serve runs every job with a schedule)", pos))
	}
	cfg, err := loadConfig(e, *configPath)
	if err != nil {
		return err
	}
	var scheduled []*jobs.Job
	for _, name := range cfg.JobNames() {
		if j := cfg.Jobs[name]; j.ScheduleSpec != nil {
			scheduled = append(scheduled, j)
		}
	}
	if len(scheduled) == 0 {
		return usageError(fmt.Errorf("%s: no job has a schedule, so serve has nothing to run (give a job schedule = \"...\", or use run-job)", cfg.File))
	}
	addr := *listen
	if addr == "" {
		addr = cfg.Serve.Listen
	}
	if addr == "" {
		addr = "127.0.0.1:9746"
	}

	prog := newProgress(e.stderr, "plain")
	if prog.interval, err = progressInterval(e); err != nil {
		return usageError(err)
	}
	log, err := newLogger(prog.logWriter(), *logFormat, e.scrubber)
	if err != nil {
		return err
	}
	prog.setLogger(log)
	clk, err := processClock(e.getenv) // the one clock of the store, the scheduler, its runner and notifications
	if err != nil {
		return usageError(err)
	}
	store, err := openStore(ctx, cfg, log, clk)
	if err != nil {
		return err
	}
	defer store.Close()
	if fstore, ok := store.(*filestate.Store); ok {
		// Local files cannot arbitrate slots between processes the way Postgres does.
		unlock, err := fstore.LockServe()
		if err != nil {
			return fmt.Errorf("refusing to start: %w", err)
		}
		defer unlock()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s (set --listen or [serve] listen to a free address): %w", addr, err)
	}

	runner, _, closeRunner, err := newRunner(ctx, e, log, store, prog, clk)
	if err != nil {
		return err
	}
	defer closeRunner() // after the runs and their notifications
	metrics := newServeMetrics(store, log, clk.Now)
	sched := &jobs.Scheduler{
		Store:         store,
		Runner:        runner,
		Logger:        log,
		Clock:         clk,
		Observer:      metrics,
		ShutdownGrace: cfg.Serve.ShutdownGrace,
		// A replica at its limit leaves due slots to the others: work spreads over replicas.
		MaxConcurrentRuns: cfg.Serve.MaxConcurrentRuns,
		Notify:            &jobs.Notifications{Store: store, Logger: log, Scrubber: e.scrubber, Clock: clk, Client: &http.Client{Timeout: 30 * time.Second}},
	}
	metrics.load(ctx, scheduled)
	metrics.sched = sched
	metrics.live = prog.live

	srv := newHTTPServer(withAdminAPI(newServeHandler(sched, store, metrics, scheduled, log), cfg.Serve.AdminToken, store, scheduled, log), serveLimits())
	srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(ln) }()
	log.Info("serving", "listen", ln.Addr().String(), "jobs", len(scheduled), "state", stateKind(cfg), "shutdown_grace", cfg.Serve.ShutdownGrace, "max_concurrent_runs", cfg.Serve.MaxConcurrentRuns, "admin_api", cfg.Serve.AdminToken != "")

	schedErr := sched.Run(ctx, scheduled)
	// Messages about the last runs go out before the process ends, for a bounded time.
	nctx, ncancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	sched.Notify.Wait(nctx)
	ncancel()

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("stop HTTP server", "err", err)
	}
	if err := <-httpDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("HTTP server", "err", err)
	}
	if errors.Is(schedErr, jobs.ErrRunsCancelled) {
		code := exitTerminated
		if s := e.signal(); s != nil {
			code = signalExitCode(s)
		}
		log.Warn("stopped after cancelling running jobs", "err", schedErr, "exit_code", code)
		return &exitError{code: code} // logged already
	}
	if schedErr != nil {
		return schedErr
	}
	log.Info("stopped cleanly", "signal", signalName(e.signal()))
	return nil
}

func stateKind(cfg *jobs.Config) string {
	if cfg.State.DatabaseURL != "" {
		return "postgres"
	}
	return "local " + localStateDir
}

func signalName(s os.Signal) string {
	switch s {
	case nil:
		return ""
	case syscall.SIGTERM:
		return "SIGTERM"
	case os.Interrupt:
		return "SIGINT"
	}
	return s.String()
}
