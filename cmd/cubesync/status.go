package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cubesync/cubesync/jobs"
)

// statusPages serves the status page at / and a page per run. Both are plain HTML that
// reloads itself: they work without JavaScript, at 1280 px and on a phone.
type statusPages struct {
	sched *jobs.Scheduler
	store jobs.Store
	jobs  []*jobs.Job
	now   func() time.Time
	live  func() []jobs.LiveRun // the runs going on in this process
	scrub *jobs.Scrubber        // a dataset named by a ${VAR} is shown as the reference
	log   *slog.Logger
}

const (
	// recentRuns is how many runs per job the status page lists.
	recentRuns = 8
	// successLookback is how many runs back the page looks for a job's last success.
	successLookback = 200
	// errorLineMax is the most characters of an error the overview shows.
	errorLineMax = 180
)

// Health of a job, as the top of the status page sorts them. A job is in the first of
// these that applies; a new condition (such as paused) is one more constant and one more
// case in health.
const (
	healthFailing  = "failing"   // its last finished run failed
	healthLate     = "late"      // no success within two periods of its schedule
	healthNeverRun = "never run" // no run has finished yet
	healthOK       = "ok"
)

// overviewView is what the status page shows.
type overviewView struct {
	Now       time.Time
	Phase     string
	Refresh   int // seconds
	Attention []*jobView
	Jobs      []*jobView
}

type jobView struct {
	Name, Description  string
	DatasetName        string
	DatasetID          string
	Schedule           string
	Status             jobs.JobStatus
	Health             string
	Reason             string // why it needs attention, in a few words
	ErrorLine          string // the last error, on one line
	LastSuccess        time.Time
	LastSuccessRunPath string
	Live               *liveView
	Runs               []runView
	Watermarks         []jobs.Watermark
	Problem            string // the state store could not be read
	Jitter             string // the job's fixed jitter offset, included in Next; "" without jitter
	Paused             *jobs.Pause
}

type runView struct {
	jobs.Run
	Path      string
	Duration  string
	ErrorLine string
}

// liveView is a run going on in this process.
type liveView struct {
	jobs.LiveRun
	Tables []liveTableView
}

type liveTableView struct {
	jobs.LiveTable
	Percent int  // of the total, when known
	HasBar  bool // the total is known
	Figures string
}

func (p *statusPages) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	now := p.now()
	v := overviewView{Now: now, Phase: p.sched.Phase(), Refresh: 30}
	status := map[string]jobs.JobStatus{}
	for _, st := range p.sched.Status() {
		status[st.Job] = st
	}
	paused, pausedErr := p.store.Paused(ctx)
	live := map[string]jobs.LiveRun{}
	for _, l := range p.live() {
		live[l.Job] = l
	}
	for _, j := range p.jobs {
		jv := p.job(ctx, j, status[j.Name], now)
		if pause, ok := paused[j.Name]; ok {
			jv.Paused = &pause
			if jv.Health == healthLate {
				jv.Health, jv.Reason = healthOK, "" // paused on purpose: not late
			}
		}
		if pausedErr != nil && jv.Problem == "" {
			jv.Problem = "state store: " + pausedErr.Error()
		}
		if l, ok := live[j.Name]; ok {
			jv.Live = newLiveView(l)
			v.Refresh = 5 // figures move: show them moving
		}
		v.Jobs = append(v.Jobs, jv)
		if jv.Health != healthOK {
			v.Attention = append(v.Attention, jv)
		}
	}
	order := []string{healthFailing, healthLate, healthNeverRun}
	slices.SortStableFunc(v.Attention, func(a, b *jobView) int {
		return cmp.Compare(slices.Index(order, a.Health), slices.Index(order, b.Health))
	})
	p.render(w, overviewTemplate, v)
}

// job gathers what the page shows of one job.
func (p *statusPages) job(ctx context.Context, j *jobs.Job, st jobs.JobStatus, now time.Time) *jobView {
	jv := &jobView{Name: j.Name, Description: j.Description, DatasetName: p.scrub.Scrub(j.Dataset.Name), DatasetID: p.scrub.Scrub(j.Dataset.ID),
		Schedule: j.Schedule, Status: st}
	if j.Jitter > 0 {
		jv.Jitter = j.JitterOffset().String()
	}
	var problems []error
	runs, err := p.store.Runs(ctx, j.Name, successLookback)
	problems = append(problems, err)
	var lastFinished *jobs.Run
	for i := range runs {
		r := &runs[i]
		if i < recentRuns {
			jv.Runs = append(jv.Runs, newRunView(*r, now))
		}
		if lastFinished == nil && finished(r.Status) {
			lastFinished = r
		}
		if r.Status == jobs.StatusSucceeded && jv.LastSuccess.IsZero() {
			jv.LastSuccess = r.Ended
			jv.LastSuccessRunPath = runPath(r.Job, r.ID)
		}
	}
	marks, err := p.store.Watermarks(ctx, j.Name)
	problems = append(problems, err)
	for _, t := range j.Tables {
		if w, ok := marks[t.Name]; ok {
			jv.Watermarks = append(jv.Watermarks, w)
		}
	}
	if jv.DatasetID == "" {
		id, err := p.store.DatasetID(ctx, j.Name)
		if !errors.Is(err, jobs.ErrNotFound) {
			problems = append(problems, err)
		}
		jv.DatasetID = id
	}
	if err := errors.Join(problems...); err != nil {
		jv.Problem = "state store: " + err.Error()
	}
	jv.Health, jv.Reason = health(j, lastFinished, jv.LastSuccess, st.Running, now)
	if lastFinished != nil && lastFinished.Status != jobs.StatusSucceeded {
		jv.ErrorLine = firstLine(lastFinished.Error, errorLineMax)
	}
	return jv
}

// finished says whether a run status is the end of a run that did something: a skip or a
// slot nobody started says nothing of the job's health.
func finished(status string) bool {
	switch status {
	case jobs.StatusSucceeded, jobs.StatusFailed, jobs.StatusAbandoned, jobs.StatusInterrupted:
		return true
	}
	return false
}

// health says whether a job needs attention, and why in a few words.
func health(j *jobs.Job, last *jobs.Run, lastSuccess time.Time, running bool, now time.Time) (string, string) {
	switch {
	case last != nil && (last.Status == jobs.StatusFailed || last.Status == jobs.StatusAbandoned):
		return healthFailing, "last run " + last.Status
	case last == nil && !running:
		return healthNeverRun, "no run has finished yet"
	}
	period := schedulePeriod(j, now)
	if period <= 0 {
		return healthOK, ""
	}
	since := lastSuccess
	if since.IsZero() && last != nil {
		since = last.Started // no success yet: late once its runs have gone two periods without one
	}
	if !since.IsZero() && now.Sub(since) > 2*period {
		return healthLate, fmt.Sprintf("no success for %s (schedule every %s)", ago(now, since), shortDuration(period))
	}
	return healthOK, ""
}

// schedulePeriod is the time between the job's next two slots; 0 without a schedule.
func schedulePeriod(j *jobs.Job, now time.Time) time.Duration {
	s := j.Slots()
	if s == nil {
		return 0
	}
	next := s.Next(now)
	after := s.Next(next)
	if next.IsZero() || after.IsZero() {
		return 0
	}
	return after.Sub(next)
}

func newRunView(r jobs.Run, now time.Time) runView {
	rv := runView{Run: r, Path: runPath(r.Job, r.ID), ErrorLine: firstLine(r.Error, errorLineMax/2)}
	switch {
	case !r.Ended.IsZero():
		rv.Duration = shortDuration(r.Ended.Sub(r.Started))
	case r.Status == jobs.StatusRunning:
		rv.Duration = shortDuration(now.Sub(r.Started)) + " so far"
	}
	return rv
}

func newLiveView(l jobs.LiveRun) *liveView {
	lv := &liveView{LiveRun: l}
	for _, t := range l.Tables {
		tv := liveTableView{LiveTable: t, Figures: tableFigures(t)}
		if f, ok := t.Fraction(); ok {
			tv.HasBar, tv.Percent = true, int(f*100)
		}
		lv.Tables = append(lv.Tables, tv)
	}
	return lv
}

func runPath(job string, id int64) string {
	return "/jobs/" + url.PathEscape(job) + "/runs/" + strconv.FormatInt(id, 10)
}

// runPageView is what a run's page shows.
type runPageView struct {
	Now      time.Time
	Job      *jobs.Job
	Dataset  string // the job's dataset name, scrubbed
	Run      runView
	Live     *liveView
	Tables   []jobs.RunTable
	Refresh  int
	JobsPath string
}

func (p *statusPages) run(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("job")
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	i := slices.IndexFunc(p.jobs, func(j *jobs.Job) bool { return j.Name == name })
	if err != nil || i < 0 {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	runs, err := p.store.Runs(ctx, name, successLookback)
	if err != nil {
		http.Error(w, "state store: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	k := slices.IndexFunc(runs, func(r jobs.Run) bool { return r.ID == id })
	if k < 0 {
		http.Error(w, fmt.Sprintf("run %d of job %s is not among its last %d runs", id, name, successLookback), http.StatusNotFound)
		return
	}
	now := p.now()
	v := runPageView{Now: now, Job: p.jobs[i], Dataset: p.scrub.Scrub(p.jobs[i].Dataset.Name), Run: newRunView(runs[k], now), Tables: runs[k].Tables}
	for _, l := range p.live() {
		if l.Job == name && l.RunID == id {
			v.Live, v.Refresh = newLiveView(l), 5
		}
	}
	p.render(w, runTemplate, v)
}

func (p *statusPages) render(w http.ResponseWriter, t *template.Template, v any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		p.log.Warn("render status page", "err", err)
		http.Error(w, "render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte(b.String()))
}

// firstLine is the first line of s, cut to at most n characters.
func firstLine(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i]) + " …"
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

// shortDuration writes d for people: 41ms, 3.2s, 4m10s, 2h5m, 3d4h.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	days := d / (24 * time.Hour)
	return fmt.Sprintf("%dd%dh", days, (d-days*24*time.Hour)/time.Hour)
}

// ago says how long before now t was.
func ago(now, t time.Time) string {
	return shortDuration(now.Sub(t).Round(time.Second))
}

var pageFuncs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	// short: the day and minute, enough for a table cell on a phone
	"short": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("Jan 2 15:04:05Z")
	},
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return ago(now, t) + " ago"
	},
	"in": func(now, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		if t.Before(now) {
			return ago(now, t) + " ago"
		}
		return "in " + shortDuration(t.Sub(now).Round(time.Second))
	},
	"num":   func(n int64) string { return groupDigits(n) },
	"bytes": humanBytes,
	"dur":   shortDuration,
	"rate": func(rows int64, d time.Duration) string {
		if d <= 0 {
			return "—"
		}
		return groupDigits(int64(float64(rows) / d.Seconds()))
	},
}

// pageStyle is shared by the pages: readable at 1280 px, and on a phone, where wide tables
// scroll sideways inside their box instead of widening the page.
const pageStyle = `<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
:root { --ok: #176b24; --bad: #b00020; --warn: #8a5a00; --run: #0b57d0; --line: #e3e3e3; --muted: #5f6368; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; padding: 1rem 1.25rem 3rem; max-width: 1200px; color: #202124; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .25rem 1rem; border-bottom: 1px solid var(--line); padding-bottom: .5rem; }
header h1 { font-size: 1.35rem; margin: 0; }
h1 a { color: inherit; text-decoration: none; }
h2 { font-size: 1.15rem; margin: 0; }
h3 { font-size: 1rem; margin: 1rem 0 .25rem; }
a { color: var(--run); }
.meta { color: var(--muted); margin: .15rem 0; }
.meta b { color: #202124; font-weight: 600; }
code { font: .9em ui-monospace, SFMono-Regular, Menlo, monospace; background: #f4f4f4; padding: 0 .25em; border-radius: 3px; }
section.attention { margin: 1rem 0 1.5rem; }
.card { border: 1px solid var(--line); border-left: 6px solid var(--bad); border-radius: 6px; padding: .6rem .9rem; margin: .5rem 0; background: #fff8f8; }
.card.late { border-left-color: var(--warn); background: #fffaf0; }
.card.never-run { border-left-color: var(--muted); background: #f8f9fa; }
.card .err { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85rem; overflow-wrap: anywhere; margin: .25rem 0 0; }
.allgood { border-left: 6px solid var(--ok); background: #f3faf4; padding: .6rem .9rem; border-radius: 6px; margin: 1rem 0; }
.badge { display: inline-block; font-size: .75rem; font-weight: 600; text-transform: uppercase; letter-spacing: .03em; padding: .05rem .45rem; border-radius: 999px; color: #fff; background: var(--bad); vertical-align: middle; }
.badge.late { background: var(--warn); } .badge.never-run { background: var(--muted); } .badge.ok { background: var(--ok); } .badge.running { background: var(--run); }
section.job { border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem; margin: 1rem 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .4rem 0; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .6rem; text-align: left; vertical-align: top; white-space: nowrap; }
th { font-size: .8rem; color: var(--muted); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.err { white-space: normal; min-width: 16rem; font-size: .85rem; overflow-wrap: anywhere; }
.succeeded { color: var(--ok); } .failed, .abandoned { color: var(--bad); font-weight: 600; } .interrupted, .skipped, .missed { color: var(--warn); } .running { color: var(--run); } .paused { color: var(--warn); }
progress { width: 12rem; max-width: 40vw; height: .9rem; vertical-align: middle; }
pre.error { white-space: pre-wrap; overflow-wrap: anywhere; background: #fff8f8; border: 1px solid #f3c2c8; border-radius: 6px; padding: .75rem; font-size: .85rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .5rem 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
@media (max-width: 700px) {
  body { padding: .75rem .75rem 2rem; font-size: 14px; }
  .wide { display: none; }
  section.job { padding: .6rem .7rem; }
  th, td { padding: .25rem .3rem; }
}
</style>`

// liveBlock shows a run going on in this process: its stage and each table's figures.
const liveBlock = `{{define "live"}}<div class="live">
<p class="meta"><span class="badge running">running</span> attempt {{.Attempt}} · <b>{{.Stage}}{{if .Table}} {{.Table}}{{end}}</b> for {{dur .StageElapsed}} · started {{dur .Elapsed}} ago{{if .RunID}} · <a href="/jobs/{{.Job}}/runs/{{.RunID}}">run {{.RunID}}</a>{{end}}</p>
<div class="scroll"><table>
<tr><th>table</th><th>stage</th><th>progress</th><th class="n">rows read</th><th class="n">rows pushed</th></tr>
{{range .Tables}}<tr><td>{{.Name}}</td><td>{{.Stage}}</td><td>{{if .HasBar}}<progress max="100" value="{{.Percent}}">{{.Percent}}%</progress> {{end}}{{.Figures}}</td><td class="n">{{num .Rows}}</td><td class="n">{{num .PushedRows}}</td></tr>
{{end}}</table></div>
</div>{{end}}`

var overviewTemplate = template.Must(template.New("overview").Funcs(pageFuncs).Parse(liveBlock + `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>{{if .Attention}}({{len .Attention}}) {{end}}cubesync status</title>
` + pageStyle + `
</head>
<body>
<header><h1><a href="/">cubesync</a></h1><span class="meta">scheduler {{.Phase}} · {{when .Now}} · reloads every {{.Refresh}}s</span></header>
{{$now := .Now}}
{{if .Attention}}<section class="attention" aria-label="needs attention">
<h2>Needs attention ({{len .Attention}} of {{len .Jobs}} jobs)</h2>
{{range .Attention}}<div class="card {{if eq .Health "late"}}late{{else if eq .Health "never run"}}never-run{{end}}">
<div><span class="badge {{if eq .Health "late"}}late{{else if eq .Health "never run"}}never-run{{end}}">{{.Health}}</span> <a href="#job-{{.Name}}"><b>{{.Name}}</b></a>{{if .DatasetName}} → {{.DatasetName}}{{end}} · {{.Reason}} · {{if .LastSuccess.IsZero}}never succeeded{{else}}last success {{ago $now .LastSuccess}}{{end}}</div>
{{if .ErrorLine}}<p class="err">{{.ErrorLine}}</p>{{end}}
</div>
{{end}}</section>
{{else}}<p class="allgood">All {{len .Jobs}} jobs healthy.</p>{{end}}
{{range .Jobs}}
<section class="job" id="job-{{.Name}}">
<h2>{{.Name}} <span class="badge {{if eq .Health "ok"}}ok{{else if eq .Health "late"}}late{{else if eq .Health "never run"}}never-run{{end}}">{{.Health}}</span></h2>
{{if .Description}}<p class="meta">{{.Description}}</p>{{end}}
<p class="meta">dataset <b>{{.DatasetName}}</b>{{if .DatasetID}} <code>{{.DatasetID}}</code>{{else}} (created on its first run){{end}}</p>
<p class="meta">schedule <code>{{.Schedule}}</code> · next run <b>{{when .Status.Next}}</b> {{in $now .Status.Next}}{{if .Jitter}} (slot + {{.Jitter}} jitter){{end}}{{if .Paused}} · <strong class="paused">paused</strong> since {{when .Paused.Since}} by {{.Paused.By}}{{end}}{{if not .Status.Waiting.IsZero}} · slot {{when .Status.Waiting}} waiting{{end}}{{if .Status.Skipped}} · {{.Status.Skipped}} slots skipped since start{{end}}</p>
<p class="meta">last success {{if .LastSuccess.IsZero}}<b>never</b>{{else}}<b>{{ago $now .LastSuccess}}</b> (<a href="{{.LastSuccessRunPath}}">{{when .LastSuccess}}</a>){{end}}</p>
{{if .Problem}}<p class="failed">{{.Problem}}</p>{{end}}
{{with .Live}}{{template "live" .}}{{end}}
{{if .Runs}}<div class="scroll"><table>
<tr><th>run</th><th>started</th><th>attempt</th><th>status</th><th class="n">rows</th><th class="n">duration</th><th class="wide">trigger</th><th class="wide">error</th></tr>
{{range .Runs}}<tr><td><a href="{{.Path}}">{{.ID}}</a></td><td>{{short .Started}}</td><td class="n">{{.Attempt}}</td><td class="{{.Status}}">{{.Status}}</td><td class="n">{{num .Rows}}</td><td class="n">{{.Duration}}</td><td class="wide">{{.Trigger}}{{if not .Scheduled.IsZero}} {{when .Scheduled}}{{end}}</td><td class="err wide">{{.ErrorLine}}</td></tr>
{{end}}</table></div>{{else}}<p>No runs yet.</p>{{end}}
{{if .Watermarks}}<div class="scroll"><table>
<tr><th>table</th><th>watermark</th><th class="wide">column</th><th>updated</th></tr>
{{range .Watermarks}}<tr><td>{{.Table}}</td><td><code>{{.Value}}</code></td><td class="wide">{{.Column}}</td><td>{{when .Updated}}</td></tr>
{{end}}</table></div>{{end}}
</section>
{{end}}
</body>
</html>
`))

var runTemplate = template.Must(template.New("run").Funcs(pageFuncs).Parse(liveBlock + `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}
<title>run {{.Run.ID}} of {{.Job.Name}} · cubesync</title>
` + pageStyle + `
</head>
<body>
<header><h1><a href="/">cubesync</a></h1><span class="meta"><a href="/#job-{{.Job.Name}}">{{.Job.Name}}</a> · run {{.Run.ID}} · {{when .Now}}</span></header>
{{$now := .Now}}
<h2 style="margin-top:1rem">Run {{.Run.ID}} of {{.Job.Name}}: <span class="{{.Run.Status}}">{{.Run.Status}}</span></h2>
<dl class="facts">
<dt>attempt</dt><dd>{{.Run.Attempt}}</dd>
<dt>trigger</dt><dd>{{.Run.Trigger}}{{if not .Run.Scheduled.IsZero}} (slot {{when .Run.Scheduled}}){{end}}</dd>
<dt>started</dt><dd>{{when .Run.Started}} ({{ago $now .Run.Started}})</dd>
<dt>ended</dt><dd>{{when .Run.Ended}}</dd>
<dt>duration</dt><dd>{{.Run.Duration}}</dd>
<dt>dataset</dt><dd>{{.Dataset}}{{if .Run.DatasetID}} <code>{{.Run.DatasetID}}</code>{{end}}</dd>
<dt>rows</dt><dd>{{num .Run.Rows}} ({{bytes .Run.Bytes}} JSON in {{.Run.Chunks}} chunks)</dd>
<dt>host</dt><dd>{{.Run.Host}}</dd>
{{if .Run.SessionID}}<dt>upload session</dt><dd><code>{{.Run.SessionID}}</code></dd>{{end}}
{{if .Run.TraceID}}<dt>trace</dt><dd><code>{{.Run.TraceID}}</code></dd>{{end}}
</dl>
{{if .Run.Error}}<h3>Error</h3>
<pre class="error">{{.Run.Error}}</pre>{{end}}
{{with .Live}}<h3>Now</h3>{{template "live" .}}{{end}}
{{if .Tables}}<h3>Tables</h3>
<div class="scroll"><table>
<tr><th>table</th><th>policy</th><th class="n">rows</th><th class="n">bytes</th><th class="n">chunks</th><th class="n">duration</th><th class="n">rows/s</th></tr>
{{range .Tables}}<tr><td>{{.Name}}</td><td>{{.Policy}}</td><td class="n">{{num .Rows}}</td><td class="n">{{bytes .Bytes}}</td><td class="n">{{.Chunks}}</td><td class="n">{{dur .Duration}}</td><td class="n">{{rate .Rows .Duration}}</td></tr>
{{end}}</table></div>{{else if not .Live}}<p class="meta">No table figures were recorded for this run{{if .Run.Error}} (it failed before reading a table){{end}}.</p>{{end}}
</body>
</html>
`))
