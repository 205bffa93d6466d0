package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/cubesync/cubesync/jobs"
)

const (
	// plainInterval is how often a run not on a terminal logs its progress.
	plainInterval = 10 * time.Second
	// sampleInterval is how often a run's live figures are sampled: the sources add their
	// counts when sampled (see sources.Counter), so this keeps them at most this stale for
	// the status page and /metrics too.
	sampleInterval = time.Second
	// barRefresh is how often the bars are redrawn.
	barRefresh = 200 * time.Millisecond
)

// progressUI shows runs' progress as they happen: live bars on a terminal (mode auto), log
// lines every 10 seconds otherwise (mode plain, or auto off a terminal), or nothing. In
// every mode it keeps the runs going in this process for the status page and /metrics.
type progressUI struct {
	w        io.Writer
	mode     string        // "bars", "plain" or "none"
	interval time.Duration // between plain progress lines
	sample   time.Duration // between samples of the live figures
	log      atomic.Pointer[slog.Logger]

	mu      sync.Mutex
	bars    *mpb.Progress
	active  int // runs with bars not yet done; logs go through the bars only while some are live
	running map[*jobs.Live]*runProgress
}

func newProgress(w io.Writer, mode string) *progressUI {
	p := &progressUI{w: w, mode: mode, interval: plainInterval, sample: sampleInterval, running: map[*jobs.Live]*runProgress{}}
	if mode == "auto" {
		p.mode = "plain"
		if isTerminal(w) {
			p.mode = "bars"
		}
	}
	return p
}

// progressInterval is the interval of plain progress lines: CUBESYNC_PROGRESS_INTERVAL
// (a Go duration), else 10s.
func progressInterval(e *env) (time.Duration, error) {
	v := e.getenv("CUBESYNC_PROGRESS_INTERVAL")
	if v == "" {
		return plainInterval, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("CUBESYNC_PROGRESS_INTERVAL=%q: want a positive Go duration such as 30s", v)
	}
	return d, nil
}

// logWriter is where logs go: through the bars while they are live, so lines print above
// them instead of tearing them.
func (p *progressUI) logWriter() io.Writer { return progressLogWriter{p} }

type progressLogWriter struct{ p *progressUI }

func (lw progressLogWriter) Write(b []byte) (int, error) {
	lw.p.mu.Lock()
	bars := lw.p.bars
	lw.p.mu.Unlock()
	if bars != nil {
		return bars.Write(b)
	}
	return lw.p.w.Write(b)
}

// setLogger gives plain mode the logger its progress lines go to.
func (p *progressUI) setLogger(l *slog.Logger) { p.log.Store(l) }

// live returns a snapshot of every run going on in this process, as last sampled.
func (p *progressUI) live() []jobs.LiveRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []jobs.LiveRun
	for l := range p.running {
		out = append(out, l.Snapshot())
	}
	return out
}

// runProgress follows one attempt of a run.
type runProgress struct {
	ui        *progressUI
	live      *jobs.Live
	snap      atomic.Pointer[jobs.LiveRun] // the last sample, for the bars' decorators
	stop      chan struct{}
	done      chan struct{}
	runBar    *mpb.Bar
	tableBars []*mpb.Bar // one per table listed so far, in order; touched by follow only
	lastLine  time.Time
}

// RunStarted implements jobs.Progress.
func (p *progressUI) RunStarted(l *jobs.Live) {
	rp := &runProgress{ui: p, live: l, stop: make(chan struct{}), done: make(chan struct{}), lastLine: time.Now()}
	s := l.Snapshot()
	rp.snap.Store(&s)
	p.mu.Lock()
	p.running[l] = rp
	if p.mode == "bars" {
		if p.bars == nil {
			// Auto refresh is on even when w is not a terminal, for the tests that read them.
			p.bars = mpb.New(mpb.WithOutput(p.w), mpb.WithWidth(160), mpb.WithAutoRefresh(), mpb.WithRefreshRate(barRefresh))
		}
		p.active++
		rp.runBar = p.bars.New(0, mpb.SpinnerStyle(), mpb.BarWidth(1),
			mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return l.Job }, decor.WC{C: decor.DextraSpace})),
			mpb.AppendDecorators(decor.Any(rp.describeRun, decor.WC{C: decor.DextraSpace})),
			mpb.BarFillerOnComplete("✓"),
		)
	}
	p.mu.Unlock()
	if p.mode == "none" {
		close(rp.done)
		return
	}
	go rp.follow()
}

// RunEnded implements jobs.Progress.
func (p *progressUI) RunEnded(l *jobs.Live, err error) {
	p.mu.Lock()
	rp := p.running[l]
	delete(p.running, l)
	p.mu.Unlock()
	if rp == nil {
		return
	}
	close(rp.stop)
	<-rp.done
	if rp.runBar == nil {
		return
	}
	rp.update(l.Snapshot())
	for _, b := range rp.tableBars {
		if !b.Completed() {
			b.Abort(false) // a table the run did not get to
		}
	}
	if err != nil {
		rp.runBar.Abort(false)
	} else {
		rp.runBar.SetTotal(-1, true)
	}
	p.mu.Lock()
	p.active--
	last := p.active == 0
	p.mu.Unlock()
	if last {
		// Finished bars are no longer redrawn, and what is written through them after
		// their last frame would be lost: end them so later lines go straight out.
		p.stop()
	}
}

// stop waits for the live bars, if any, to render their final state and ends them.
func (p *progressUI) stop() {
	p.mu.Lock()
	bars := p.bars
	p.bars = nil
	p.mu.Unlock()
	if bars != nil {
		bars.Wait()
	}
}

// follow samples the run until it ends: it moves the bars, or logs a line every interval.
func (rp *runProgress) follow() {
	defer close(rp.done)
	every := min(rp.ui.sample, rp.ui.interval)
	if rp.ui.mode == "bars" {
		every = barRefresh
	}
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-rp.stop:
			return
		case <-tk.C:
		}
		s := rp.live.Snapshot()
		rp.snap.Store(&s)
		switch rp.ui.mode {
		case "bars":
			rp.update(s)
		case "plain":
			if time.Since(rp.lastLine) >= rp.ui.interval {
				rp.lastLine = time.Now()
				rp.logLines(s)
			}
		}
	}
}

// update adds a bar for each table listed since the last sample and moves them all.
func (rp *runProgress) update(s jobs.LiveRun) {
	rp.snap.Store(&s)
	rp.ui.mu.Lock()
	bars := rp.ui.bars
	rp.ui.mu.Unlock()
	for i, t := range s.Tables {
		if i == len(rp.tableBars) {
			if bars == nil {
				return
			}
			rp.tableBars = append(rp.tableBars, rp.newTableBar(bars, i, t))
		}
		b := rp.tableBars[i]
		if b.AbortedOrCompleted() {
			continue
		}
		b.SetCurrent(t.Rows)
		switch t.Stage {
		case jobs.StageDone:
			b.SetTotal(-1, true)
		case jobs.StageFailed:
			b.Abort(false)
		}
	}
}

func (rp *runProgress) newTableBar(bars *mpb.Progress, i int, t jobs.LiveTable) *mpb.Bar {
	name := "  " + t.Name
	opts := []mpb.BarOption{
		mpb.BarWidth(30),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return name }, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return rp.describeTable(i) }, decor.WCSyncSpace)),
		mpb.BarFillerOnComplete("done"),
	}
	if t.TotalRows > 0 {
		// Made with total 0 and given its total after: a bar whose count reaches its total
		// would complete by itself, before its last chunk is uploaded.
		b := bars.New(0, mpb.BarStyle(), opts...)
		b.SetTotal(t.TotalRows, false)
		return b
	}
	return bars.New(0, mpb.SpinnerStyle(), opts...)
}

// describeRun is the run's line: its stage and for how long.
func (rp *runProgress) describeRun(decor.Statistics) string {
	s := rp.snap.Load()
	text := s.Stage
	if s.Stage == jobs.StageReading || s.Stage == jobs.StageUploading {
		text += " " + s.Table
	}
	text += " " + roundDuration(s.StageElapsed()).String()
	if s.Attempt > 1 {
		text += fmt.Sprintf(" (attempt %d)", s.Attempt)
	}
	return text
}

// describeTable is a table's figures beside its bar.
func (rp *runProgress) describeTable(i int) string {
	s := rp.snap.Load()
	if i >= len(s.Tables) {
		return ""
	}
	return tableFigures(s.Tables[i])
}

// tableFigures says how far a table is: rows read (of its total, with a percentage and an
// ETA when the source knows it), MB read and rows/s, and what it is doing.
func tableFigures(t jobs.LiveTable) string {
	var b strings.Builder
	if f, ok := t.Fraction(); ok {
		fmt.Fprintf(&b, "%3.0f%%  %s / %s rows", f*100, groupDigits(t.Rows), groupDigits(t.TotalRows))
	} else {
		fmt.Fprintf(&b, "%s rows", groupDigits(t.Rows))
	}
	fmt.Fprintf(&b, "  %.1f MB  %s rows/s", float64(t.Bytes)/1e6, groupDigits(int64(t.RowsPerSecond())))
	switch t.Stage {
	case jobs.StageReading:
		if eta, ok := t.ETA(); ok {
			fmt.Fprintf(&b, "  ETA %s", roundDuration(eta))
		}
	case jobs.StageWaiting, jobs.StageUploading, jobs.StageFailed:
		b.WriteString("  " + t.Stage)
	}
	return b.String()
}

// logLines logs the run's progress: a line per table being read or uploaded, or the run's
// stage while it connects or publishes.
func (rp *runProgress) logLines(s jobs.LiveRun) {
	l := rp.ui.log.Load()
	if l == nil {
		return
	}
	if s.Stage != jobs.StageReading && s.Stage != jobs.StageUploading {
		l.Info("progress", "job", s.Job, "attempt", s.Attempt, "stage", s.Stage, "elapsed", roundDuration(s.StageElapsed()))
		return
	}
	for _, t := range s.Tables {
		if t.Stage != jobs.StageReading && t.Stage != jobs.StageUploading {
			continue
		}
		args := []any{"job", s.Job, "attempt", s.Attempt, "table", t.Name, "stage", t.Stage,
			"rows", t.Rows, "bytes", t.Bytes, "rows_per_s", int64(t.RowsPerSecond()), "elapsed", roundDuration(t.Elapsed)}
		if f, ok := t.Fraction(); ok {
			args = append(args, "total_rows", t.TotalRows, "percent", int(f*100))
			if eta, ok := t.ETA(); ok && t.Stage == jobs.StageReading {
				args = append(args, "eta", roundDuration(eta))
			}
		}
		l.Info("progress", args...)
	}
}

// roundDuration rounds d for people: tenths of a second under a minute, else seconds.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// groupDigits writes n with thin separators every three digits: 1,234,567.
func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 || len(s) <= 3 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
