package main

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/cubesync/cubesync/jobs"
)

// plainInterval is how often a run not on a terminal logs its progress.
const plainInterval = 10 * time.Second

// progressUI shows a run's progress: live bars on a terminal (mode auto), a log line per
// table every 10 seconds otherwise (mode plain, or auto off a terminal), or nothing.
type progressUI struct {
	w        io.Writer
	mode     string        // "bars", "plain" or "none"
	interval time.Duration // between plain progress lines
	log      atomic.Pointer[slog.Logger]

	mu     sync.Mutex
	bars   *mpb.Progress
	active int // bars not yet done; logs go through the bars only while some are live
}

func newProgress(w io.Writer, mode string) *progressUI {
	p := &progressUI{w: w, mode: mode, interval: plainInterval}
	if mode == "auto" {
		p.mode = "plain"
		if isTerminal(w) {
			p.mode = "bars"
		}
	}
	return p
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

// Table implements jobs.Progress.
func (p *progressUI) Table(job, table string) jobs.TableProgress {
	t := &tableProgress{ui: p, job: job, table: table, start: time.Now()}
	switch p.mode {
	case "bars":
		p.mu.Lock()
		if p.bars == nil {
			p.bars = mpb.New(mpb.WithOutput(p.w), mpb.WithWidth(30), mpb.WithRefreshRate(200*time.Millisecond))
		}
		p.active++
		t.bar = p.bars.New(0, mpb.SpinnerStyle(),
			mpb.PrependDecorators(decor.Name(job+"/"+table, decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.Any(t.describe, decor.WCSyncSpace)),
			mpb.BarFillerOnComplete("done"),
		)
		p.mu.Unlock()
	case "plain":
		t.stopTick = make(chan struct{})
		go t.tick()
	}
	return t
}

// stop waits for the live bars, if any, to render their final state and ends them. Every
// bar has been completed or aborted by then (TableProgress.Done).
func (p *progressUI) stop() {
	p.mu.Lock()
	bars := p.bars
	p.bars = nil
	p.mu.Unlock()
	if bars != nil {
		bars.Wait()
	}
}

type tableProgress struct {
	ui         *progressUI
	job, table string
	start      time.Time
	rows       atomic.Int64
	bytes      atomic.Int64
	bar        *mpb.Bar
	stopTick   chan struct{}
}

func (t *tableProgress) describe(decor.Statistics) string {
	rows, b := t.rows.Load(), t.bytes.Load()
	secs := time.Since(t.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(rows) / secs
	}
	return fmt.Sprintf("%d rows  %.1f MB  %.0f rows/s", rows, float64(b)/1e6, rate)
}

func (t *tableProgress) Add(rows, bytes int64) {
	t.rows.Add(rows)
	t.bytes.Add(bytes)
	if t.bar != nil {
		t.bar.IncrInt64(rows)
	}
}

func (t *tableProgress) Done(_ jobs.TableResult, err error) {
	if t.bar != nil {
		if err != nil {
			t.bar.Abort(false)
		} else {
			t.bar.SetTotal(-1, true)
		}
		t.ui.mu.Lock()
		t.ui.active--
		last := t.ui.active == 0
		t.ui.mu.Unlock()
		if last {
			// Finished bars are no longer redrawn, and what is written through them after
			// their last frame would be lost: end them so later lines go straight out.
			t.ui.stop()
		}
	}
	if t.stopTick != nil {
		close(t.stopTick)
	}
}

func (t *tableProgress) tick() {
	tk := time.NewTicker(t.ui.interval)
	defer tk.Stop()
	for {
		select {
		case <-t.stopTick:
			return
		case <-tk.C:
			if l := t.ui.log.Load(); l != nil {
				rows, b := t.rows.Load(), t.bytes.Load()
				secs := time.Since(t.start).Seconds()
				l.Info("progress", "job", t.job, "table", t.table, "rows", rows, "bytes", b, "rows_per_s", int64(float64(rows)/secs))
			}
		}
	}
}
