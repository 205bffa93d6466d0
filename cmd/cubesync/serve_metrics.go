package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cubesync/cubesync/jobs"
)

// serveMetrics is what /metrics exports. It observes the scheduler for this process's runs,
// and reads from the state store what the whole deployment did: the last success per job and
// the watermarks. Those come from the store because another replica may run the next slot,
// and a restart must not reset them.
type serveMetrics struct {
	store jobs.Store
	log   *slog.Logger
	now   func() time.Time
	sched *jobs.Scheduler       // for the next run times; set before serving
	live  func() []jobs.LiveRun // the runs going on in this process; set before serving

	reg      *prometheus.Registry
	runs     *prometheus.CounterVec
	running  *prometheus.GaugeVec
	duration *prometheus.HistogramVec
	rows     *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	skipped  *prometheus.CounterVec

	refreshMu sync.Mutex // one store read at a time
	mu        sync.Mutex
	jobNames  []string
	refreshed time.Time                            // when success and marks were read
	success   map[string]time.Time                 // job → end of its last successful run
	marks     map[string]map[string]jobs.Watermark // job → table → watermark
}

// stateRefresh is how stale the store-derived metrics may be: a scrape reads the store at
// most this often.
const stateRefresh = 30 * time.Second

var (
	watermarkAgeDesc = prometheus.NewDesc("cubesync_watermark_age_seconds",
		"Age of each incremental table's watermark: now minus the greatest timestamp or date loaded (tables with integer watermarks are left out).",
		[]string{"job", "table"}, nil)
	lastSuccessDesc = prometheus.NewDesc("cubesync_last_success_timestamp_seconds",
		"When the job's last successful run ended, as a Unix time, on any replica (from the state store, so restarts keep it).",
		[]string{"job"}, nil)
	nextRunDesc = prometheus.NewDesc("cubesync_next_run_timestamp_seconds",
		"When the job's next slot is due, as a Unix time.", []string{"job"}, nil)
	liveRowsDesc = prometheus.NewDesc("cubesync_run_rows_read",
		"Rows read so far from the source by the run going on, per table (counted as they are decoded).", []string{"job", "table"}, nil)
	liveBytesDesc = prometheus.NewDesc("cubesync_run_bytes_read",
		"Bytes read so far from the source by the run going on, per table (Postgres: values as sent; Parquet: compressed column data).", []string{"job", "table"}, nil)
	liveTotalDesc = prometheus.NewDesc("cubesync_run_rows_expected",
		"Rows the table of the run going on holds, when the source knows before reading (Parquet footers).", []string{"job", "table"}, nil)
	livePushedDesc = prometheus.NewDesc("cubesync_run_rows_uploaded",
		"Rows uploaded so far by the run going on, per table.", []string{"job", "table"}, nil)
	liveStageDesc = prometheus.NewDesc("cubesync_run_stage_seconds",
		"How long the run going on has been in its stage (connecting, reading, uploading or publishing).", []string{"job", "stage"}, nil)
)

func newServeMetrics(store jobs.Store, log *slog.Logger, now func() time.Time) *serveMetrics {
	m := &serveMetrics{
		store: store, log: log, now: now, reg: prometheus.NewRegistry(),
		marks: map[string]map[string]jobs.Watermark{}, success: map[string]time.Time{},
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cubesync_runs_total",
			Help: "Scheduled runs by job and final status (succeeded, failed, interrupted), after retries."}, []string{"job", "status"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cubesync_running_jobs",
			Help: "1 while a run of the job is in progress in this process."}, []string{"job"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cubesync_run_duration_seconds",
			Help:    "Duration of scheduled runs, by job and status.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400}}, []string{"job", "status"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cubesync_rows_pushed_total",
			Help: "Rows pushed by runs that published, by job and table."}, []string{"job", "table"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cubesync_bytes_pushed_total",
			Help: "JSON bytes (before base64) pushed by runs that published, by job and table."}, []string{"job", "table"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cubesync_skipped_slots_total",
			Help: "Slots that did not run, by job and reason: running (overlap skip), locked (running on another replica), waiting (overlap wait, a slot already waits), missed (older than catchup_window), claim_failed (state store error)."},
			[]string{"job", "reason"}),
	}
	m.reg.MustRegister(m.runs, m.running, m.duration, m.rows, m.bytes, m.skipped, m,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// load reads the last success and the watermarks of every job from the store.
func (m *serveMetrics) load(ctx context.Context, js []*jobs.Job) {
	m.mu.Lock()
	for _, j := range js {
		m.jobNames = append(m.jobNames, j.Name)
		m.running.WithLabelValues(j.Name).Set(0)
	}
	m.mu.Unlock()
	m.refresh(ctx)
}

// refresh reads every job's last success and watermarks from the store.
func (m *serveMetrics) refresh(ctx context.Context) {
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	m.mu.Lock()
	names := m.jobNames
	m.mu.Unlock()
	success := map[string]time.Time{}
	marks := map[string]map[string]jobs.Watermark{}
	for _, job := range names {
		runs, err := m.store.Runs(ctx, job, 100)
		if err != nil {
			m.log.Warn("read run history for metrics", "job", job, "err", err)
		}
		for _, r := range runs {
			if r.Status == jobs.StatusSucceeded && !r.Ended.IsZero() {
				success[job] = r.Ended
				break
			}
		}
		if marks[job], err = m.store.Watermarks(ctx, job); err != nil {
			m.log.Warn("read watermarks for metrics", "job", job, "err", err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for job, t := range success {
		if t.After(m.success[job]) {
			m.success[job] = t
		}
	}
	for job, mk := range marks {
		if mk != nil {
			m.marks[job] = mk
		}
	}
	m.refreshed = m.now()
}

// RunStarted implements jobs.SchedulerObserver.
func (m *serveMetrics) RunStarted(job string, slot time.Time) {
	m.running.WithLabelValues(job).Set(1)
}

// RunEnded implements jobs.SchedulerObserver.
func (m *serveMetrics) RunEnded(job string, slot time.Time, res *jobs.Result, err error) {
	m.running.WithLabelValues(job).Set(0)
	if errors.Is(err, jobs.ErrLocked) {
		return // counted as a skipped slot
	}
	status := jobs.StatusSucceeded
	if res != nil && res.Run.Status != "" {
		status = res.Run.Status
	} else if err != nil {
		status = jobs.StatusFailed
	}
	m.runs.WithLabelValues(job, status).Inc()
	if res == nil {
		return
	}
	if !res.Run.Started.IsZero() && !res.Run.Ended.IsZero() {
		m.duration.WithLabelValues(job, status).Observe(res.Run.Ended.Sub(res.Run.Started).Seconds())
	}
	if status != jobs.StatusSucceeded {
		return
	}
	for _, t := range res.Tables {
		m.rows.WithLabelValues(job, t.Name).Add(float64(t.Rows))
		m.bytes.WithLabelValues(job, t.Name).Add(float64(t.Bytes))
	}
	m.mu.Lock()
	m.refreshed = time.Time{} // the watermarks moved: read them at the next scrape
	if t := orNow(res.Run.Ended, m.now()); t.After(m.success[job]) {
		m.success[job] = t
	}
	m.mu.Unlock()
}

func orNow(t, fallback time.Time) time.Time {
	if t.IsZero() {
		return fallback
	}
	return t
}

// SlotSkipped implements jobs.SchedulerObserver.
func (m *serveMetrics) SlotSkipped(job string, slot time.Time, reason string) {
	m.skipped.WithLabelValues(job, reason).Inc()
}

// Describe implements prometheus.Collector for the metrics computed at scrape time.
func (m *serveMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- watermarkAgeDesc
	ch <- lastSuccessDesc
	ch <- nextRunDesc
	ch <- liveRowsDesc
	ch <- liveBytesDesc
	ch <- liveTotalDesc
	ch <- livePushedDesc
	ch <- liveStageDesc
}

// liveRuns returns the runs going on in this process.
func (m *serveMetrics) liveRuns() []jobs.LiveRun {
	if m.live == nil {
		return nil
	}
	return m.live()
}

// Collect implements prometheus.Collector: last successes and watermark ages (read from the
// store when older than stateRefresh) and next run times.
func (m *serveMetrics) Collect(ch chan<- prometheus.Metric) {
	now := m.now()
	m.mu.Lock()
	stale := now.Sub(m.refreshed) >= stateRefresh
	m.mu.Unlock()
	if stale {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m.refresh(ctx)
		cancel()
	}
	m.mu.Lock()
	for job, t := range m.success {
		ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, float64(t.UnixMilli())/1e3, job)
	}
	for job, marks := range m.marks {
		for table, w := range marks {
			if at, ok := w.Time(); ok {
				ch <- prometheus.MustNewConstMetric(watermarkAgeDesc, prometheus.GaugeValue, now.Sub(at).Seconds(), job, table)
			}
		}
	}
	m.mu.Unlock()
	for _, l := range m.liveRuns() {
		ch <- prometheus.MustNewConstMetric(liveStageDesc, prometheus.GaugeValue, l.StageElapsed().Seconds(), l.Job, l.Stage)
		for _, t := range l.Tables {
			ch <- prometheus.MustNewConstMetric(liveRowsDesc, prometheus.GaugeValue, float64(t.Rows), l.Job, t.Name)
			ch <- prometheus.MustNewConstMetric(liveBytesDesc, prometheus.GaugeValue, float64(t.Bytes), l.Job, t.Name)
			ch <- prometheus.MustNewConstMetric(livePushedDesc, prometheus.GaugeValue, float64(t.PushedRows), l.Job, t.Name)
			if t.TotalRows > 0 {
				ch <- prometheus.MustNewConstMetric(liveTotalDesc, prometheus.GaugeValue, float64(t.TotalRows), l.Job, t.Name)
			}
		}
	}
	if m.sched == nil {
		return
	}
	for _, st := range m.sched.Status() {
		if !st.Next.IsZero() {
			ch <- prometheus.MustNewConstMetric(nextRunDesc, prometheus.GaugeValue, float64(st.Next.Unix()), st.Job)
		}
	}
}
