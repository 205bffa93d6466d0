package main

// The routes of serve's HTTP listener: /metrics (serve_metrics.go), the health checks, and
// the status pages (status.go). The admin API wraps them (serve_admin.go).

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cubesync/cubesync/jobs"
)

// newServeHandler routes serve's HTTP endpoints.
// The status pages show the jobs' datasets through scrub (see jobs.Scrubber).
func newServeHandler(sched *jobs.Scheduler, store jobs.Store, m *serveMetrics, js []*jobs.Job, scrub *jobs.Scrubber, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if p := sched.Phase(); p != jobs.PhaseRunning {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: scheduler is " + p + "\n"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			log.Warn("readiness: state store unreachable", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: state store unreachable: " + err.Error() + "\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	pages := &statusPages{sched: sched, store: store, jobs: js, now: m.now, live: m.liveRuns, scrub: scrub, log: log}
	mux.HandleFunc("GET /{$}", pages.overview)
	mux.HandleFunc("GET /jobs/{job}/runs/{id}", pages.run)
	return mux
}
