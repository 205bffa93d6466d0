package jobs

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cubesync/cubesync/sources"
)

// Stages of a run and of its tables, as live progress shows them.
const (
	StageConnecting = "connecting" // run: logging in, opening the sources, checking the dataset
	StageWaiting    = "waiting"    // table: opened, its turn has not come
	StageReading    = "reading"    // the source is being read, encoded and uploaded
	StageUploading  = "uploading"  // the source is exhausted, its last chunks are being uploaded
	StagePublishing = "publishing" // run: every table uploaded, the server is publishing
	StageDone       = "done"
	StageFailed     = "failed"
)

// Progress is shown each attempt of a run as it happens: RunStarted when it starts,
// RunEnded when it has ended; in between, the Live may be sampled at any time from any
// goroutine (at least once a second for the row counts to move; see sources.Counter).
type Progress interface {
	RunStarted(l *Live)
	RunEnded(l *Live, err error)
}

// Live is one attempt of a run as it happens. The runner updates it; Snapshot reads it.
type Live struct {
	Job     string
	Attempt int
	DryRun  bool
	Started time.Time
	now     func() time.Time

	mu         sync.Mutex
	runID      int64
	stage      string
	stageSince time.Time
	stages     []StageSpan // every stage the run has been in, in order
	current    string      // the table being pushed
	tables     []*liveTable
}

type liveTable struct {
	name                  string
	read                  *sources.Counter
	totalRows, totalBytes int64
	pushedRows            atomic.Int64
	pushedBytes           atomic.Int64
	chunks                atomic.Int64

	// under Live.mu
	stage          string
	started, ended time.Time
}

func newLive(job string, attempt int, dryRun bool, now func() time.Time) *Live {
	t := now()
	return &Live{Job: job, Attempt: attempt, DryRun: dryRun, Started: t, now: now, stage: StageConnecting, stageSince: t,
		stages: []StageSpan{{Stage: StageConnecting, Since: t}}}
}

// enter moves the run to a stage at t; the caller holds l.mu.
func (l *Live) enter(stage string, t time.Time) {
	if l.stage == stage {
		return
	}
	l.stage, l.stageSince = stage, t
	l.stages = append(l.stages, StageSpan{Stage: stage, Since: t})
}

func (l *Live) setRunID(id int64) {
	l.mu.Lock()
	l.runID = id
	l.mu.Unlock()
}

func (l *Live) setStage(stage string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.enter(stage, l.now())
}

// addTable lists an opened table; read is the counter its source adds to, the totals are
// what the source knows it will read (zero for a query).
func (l *Live) addTable(name string, read *sources.Counter, totalRows, totalBytes int64) *liveTable {
	lt := &liveTable{name: name, read: read, totalRows: totalRows, totalBytes: totalBytes, stage: StageWaiting}
	l.mu.Lock()
	l.tables = append(l.tables, lt)
	l.mu.Unlock()
	return lt
}

// tableStage moves a table, and with it the run, to a stage.
func (l *Live) tableStage(lt *liveTable, stage string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	lt.stage = stage
	switch stage {
	case StageReading:
		lt.started = t
		l.current = lt.name
	case StageDone, StageFailed:
		lt.ended = t
		return
	}
	l.enter(stage, t)
}

func (lt *liveTable) pushed(rows, bytes int64) {
	lt.pushedRows.Add(rows)
	lt.pushedBytes.Add(bytes)
	lt.chunks.Add(1)
}

// LiveRun is a snapshot of a run's progress.
type LiveRun struct {
	Job        string
	RunID      int64 // 0 for a dry run, or before the run is recorded
	Attempt    int
	DryRun     bool
	Started    time.Time
	Now        time.Time // when the snapshot was taken
	Stage      string    // StageConnecting, StageReading, StageUploading or StagePublishing
	StageSince time.Time
	Table      string // the table being read or uploaded
	// Stages lists every stage the run has been in so far, in order, the current one last:
	// a stage too short for any sample to catch is still there.
	Stages []StageSpan
	Tables []LiveTable
}

// StageSpan is a stage of a run and when the run entered it.
type StageSpan struct {
	Stage string
	Since time.Time
}

// StageElapsed is how long the run has been in its stage.
func (r LiveRun) StageElapsed() time.Duration { return r.Now.Sub(r.StageSince) }

// Elapsed is how long the run has been going.
func (r LiveRun) Elapsed() time.Duration { return r.Now.Sub(r.Started) }

// LiveTable is a snapshot of one table's progress.
type LiveTable struct {
	Name  string
	Stage string // StageWaiting, StageReading, StageUploading, StageDone or StageFailed
	// Rows and Bytes have been read from the source: decoded rows, and the bytes they came
	// from (the values as Postgres sent them; the compressed columns of a Parquet file).
	Rows, Bytes int64
	// TotalRows and TotalBytes are what the source holds, when it knows before reading
	// (Parquet files, from their footers); zero otherwise.
	TotalRows, TotalBytes int64
	// PushedRows, PushedBytes (JSON) and Chunks have been uploaded.
	PushedRows, PushedBytes, Chunks int64
	Elapsed                         time.Duration // since the table started reading
}

// RowsPerSecond is the table's read rate so far.
func (t LiveTable) RowsPerSecond() float64 {
	if t.Elapsed <= 0 {
		return 0
	}
	return float64(t.Rows) / t.Elapsed.Seconds()
}

// Fraction is the share of the table read so far, when its total is known.
func (t LiveTable) Fraction() (float64, bool) {
	if t.TotalRows <= 0 {
		return 0, false
	}
	return min(float64(t.Rows)/float64(t.TotalRows), 1), true
}

// ETA is how long the rest of the table should take to read at its rate so far, when its
// total is known and some rows have been read.
func (t LiveTable) ETA() (time.Duration, bool) {
	rate := t.RowsPerSecond()
	if t.TotalRows <= 0 || rate <= 0 {
		return 0, false
	}
	left := max(t.TotalRows-t.Rows, 0)
	return time.Duration(float64(left) / rate * float64(time.Second)), true
}

// Snapshot returns the run's progress now.
func (l *Live) Snapshot() LiveRun {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	r := LiveRun{Job: l.Job, RunID: l.runID, Attempt: l.Attempt, DryRun: l.DryRun, Started: l.Started, Now: now,
		Stage: l.stage, StageSince: l.stageSince, Table: l.current, Stages: slices.Clone(l.stages)}
	for _, lt := range l.tables {
		t := LiveTable{Name: lt.name, Stage: lt.stage, TotalRows: lt.totalRows, TotalBytes: lt.totalBytes,
			PushedRows: lt.pushedRows.Load(), PushedBytes: lt.pushedBytes.Load(), Chunks: lt.chunks.Load()}
		t.Rows, t.Bytes = lt.read.Load()
		switch {
		case lt.started.IsZero():
		case !lt.ended.IsZero():
			t.Elapsed = lt.ended.Sub(lt.started)
		case !lt.started.IsZero():
			t.Elapsed = now.Sub(lt.started)
		}
		r.Tables = append(r.Tables, t)
	}
	return r
}
