package main

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
	sched *jobs.Scheduler // for the next run times; set before serving

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
			if at, ok := watermarkTime(w); ok {
				ch <- prometheus.MustNewConstMetric(watermarkAgeDesc, prometheus.GaugeValue, now.Sub(at).Seconds(), job, table)
			}
		}
	}
	m.mu.Unlock()
	if m.sched == nil {
		return
	}
	for _, st := range m.sched.Status() {
		if !st.Next.IsZero() {
			ch <- prometheus.MustNewConstMetric(nextRunDesc, prometheus.GaugeValue, float64(st.Next.Unix()), st.Job)
		}
	}
}

// watermarkTime reads a time watermark; integer watermarks have no age.
func watermarkTime(w jobs.Watermark) (time.Time, bool) {
	layout := ""
	switch w.Kind {
	case jobs.KindTimestampTZ:
		layout = time.RFC3339Nano
	case jobs.KindTimestamp:
		layout = "2006-01-02T15:04:05.999999999"
	case jobs.KindDate:
		layout = time.DateOnly
	default:
		return time.Time{}, false
	}
	t, err := time.Parse(layout, w.Value)
	return t, err == nil
}

// newServeHandler routes serve's HTTP endpoints.
func newServeHandler(sched *jobs.Scheduler, store jobs.Store, m *serveMetrics, js []*jobs.Job, log *slog.Logger) http.Handler {
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
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		page := statusPage(r.Context(), sched, store, js, m.now())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := statusTemplate.Execute(w, page); err != nil {
			log.Warn("render status page", "err", err)
		}
	})
	return mux
}

// statusView is what the status page shows.
type statusView struct {
	Now   time.Time
	Phase string
	Jobs  []jobView
}

type jobView struct {
	jobs.JobStatus
	Description string
	DatasetID   string
	Runs        []runView
	Watermarks  []jobs.Watermark
	Problem     string // the state store could not be read
	Jitter      string // the job's fixed jitter offset, included in Next; "" without jitter
	Paused      *jobs.Pause
}

type runView struct {
	jobs.Run
	Duration string
}

// recentRuns is how many runs per job the status page lists.
const recentRuns = 10

func statusPage(ctx context.Context, sched *jobs.Scheduler, store jobs.Store, js []*jobs.Job, now time.Time) statusView {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v := statusView{Now: now, Phase: sched.Phase()}
	status := map[string]jobs.JobStatus{}
	for _, st := range sched.Status() {
		status[st.Job] = st
	}
	paused, pausedErr := store.Paused(ctx)
	for _, j := range js {
		jv := jobView{JobStatus: status[j.Name], Description: j.Description}
		jv.Job, jv.Schedule = j.Name, j.Schedule
		if j.Jitter > 0 {
			jv.Jitter = j.JitterOffset().String()
		}
		if p, ok := paused[j.Name]; ok {
			jv.Paused = &p
		}
		problems := []error{pausedErr}
		runs, err := store.Runs(ctx, j.Name, recentRuns)
		problems = append(problems, err)
		for _, r := range runs {
			rv := runView{Run: r}
			if !r.Ended.IsZero() {
				rv.Duration = r.Ended.Sub(r.Started).Round(time.Millisecond).String()
			} else if r.Status == jobs.StatusRunning {
				rv.Duration = now.Sub(r.Started).Round(time.Second).String() + " so far"
			}
			jv.Runs = append(jv.Runs, rv)
		}
		marks, err := store.Watermarks(ctx, j.Name)
		problems = append(problems, err)
		for _, t := range j.Tables {
			if w, ok := marks[t.Name]; ok {
				jv.Watermarks = append(jv.Watermarks, w)
			}
		}
		jv.DatasetID = j.Dataset.ID
		if jv.DatasetID == "" {
			id, err := store.DatasetID(ctx, j.Name)
			if !errors.Is(err, jobs.ErrNotFound) {
				problems = append(problems, err)
			}
			jv.DatasetID = id
		}
		if err := errors.Join(problems...); err != nil {
			jv.Problem = "state store: " + err.Error()
		}
		v.Jobs = append(v.Jobs, jv)
	}
	return v
}

var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"in": func(now, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		d := t.Sub(now).Round(time.Second)
		if d < 0 {
			return "(" + (-d).String() + " ago)"
		}
		return "(in " + d.String() + ")"
	},
	"num": func(n int64) string { return strconv.FormatInt(n, 10) },
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="30">
<title>cubesync</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: .25em .75em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.succeeded { color: #176b24; } .failed, .abandoned { color: #b00020; } .interrupted, .skipped { color: #8a5a00; } .running { color: #0b57d0; }
.err { max-width: 40em; font-size: .9em; white-space: pre-wrap; }
h2 { margin-bottom: .2em; } .meta { color: #555; margin: 0; }
</style>
</head>
<body>
<h1>cubesync</h1>
<p class="meta">scheduler {{.Phase}} · {{when .Now}} · refreshes every 30s</p>
{{range .Jobs}}{{$now := $.Now}}
<h2 id="job-{{.Job}}">{{.Job}}</h2>
{{if .Description}}<p class="meta">{{.Description}}</p>{{end}}
<p class="meta">schedule <code>{{.Schedule}}</code> · next run {{when .Next}} {{in $now .Next}}{{if .Jitter}} (slot + {{.Jitter}} jitter){{end}}
{{if .Paused}} · <strong class="paused">paused</strong> since {{when .Paused.Since}} by {{.Paused.By}}{{end}}
{{if .Running}} · <span class="running">running slot {{when .RunningSlot}} since {{when .RunningSince}}</span>{{end}}
{{if not .Waiting.IsZero}} · slot {{when .Waiting}} waiting{{end}}
{{if .Skipped}} · {{.Skipped}} slots skipped since start{{end}}
{{if .DatasetID}} · dataset {{.DatasetID}}{{end}}</p>
{{if .Problem}}<p class="failed">{{.Problem}}</p>{{end}}
{{if .Watermarks}}<table>
<tr><th>table</th><th>watermark</th><th>column</th><th>updated</th></tr>
{{range .Watermarks}}<tr><td>{{.Table}}</td><td><code>{{.Value}}</code></td><td>{{.Column}}</td><td>{{when .Updated}}</td></tr>
{{end}}</table>{{end}}
{{if .Runs}}<table>
<tr><th>run</th><th>trigger</th><th>slot</th><th>started</th><th>status</th><th>rows</th><th>duration</th><th>host</th><th>error</th></tr>
{{range .Runs}}<tr><td class="n">{{.ID}}</td><td>{{.Trigger}}</td><td>{{when .Scheduled}}</td><td>{{when .Started}}</td><td class="{{.Status}}">{{.Status}}</td><td class="n">{{num .Rows}}</td><td class="n">{{.Duration}}</td><td>{{.Host}}</td><td class="err">{{.Error}}</td></tr>
{{end}}</table>{{else}}<p>No runs yet.</p>{{end}}
{{end}}
</body>
</html>
`))
