package jobs_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubesync/cubesync/clock"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/sink/emulator"
)

// liveRecorder samples every attempt's live progress as a UI would, every few milliseconds,
// and keeps what it saw.
type liveRecorder struct {
	mu       sync.Mutex
	attempts []int
	samples  []jobs.LiveRun
	final    []jobs.LiveRun
	stop     chan struct{}
	done     chan struct{}
}

func (r *liveRecorder) RunStarted(l *jobs.Live) {
	r.mu.Lock()
	r.attempts = append(r.attempts, l.Attempt)
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	stop, done := r.stop, r.done
	r.mu.Unlock()
	go func() {
		defer close(done)
		for {
			s := l.Snapshot()
			r.mu.Lock()
			r.samples = append(r.samples, s)
			r.mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
}

func (r *liveRecorder) RunEnded(l *jobs.Live, err error) {
	r.mu.Lock()
	stop, done := r.stop, r.done
	r.mu.Unlock()
	close(stop)
	<-done
	r.mu.Lock()
	r.final = append(r.final, l.Snapshot())
	r.mu.Unlock()
}

// A run shows its stages as they happen — connecting, reading, publishing for as long as the
// server takes — and a Parquet table its total from the start, ending with every row read
// and pushed.
func TestLiveProgressStagesAndParquetTotal(t *testing.T) {
	b := setupWith(t, emulator.Options{})
	b.emu.SetPublishDelay(400 * time.Millisecond)
	writeSales(t, b.dir, "data/orders.parquet", []int64{1, 2, 3}, []string{"north", "south", "north"}, []int32{1, 2, 3}, []float64{10.5, 20, 30})
	rec := &liveRecorder{}
	b.runner.Progress = rec
	b.runner.Clock = clock.Wall{} // the stages are timed while the server takes 400ms to publish
	if _, err := b.runner.Run(context.Background(), b.job(t, "sales", salesJob), jobs.RunOptions{}); err != nil {
		t.Fatalf("run: %v", err)
	}

	for _, s := range rec.samples {
		for _, tb := range s.Tables {
			if tb.TotalRows != 3 {
				t.Fatalf("table %s shows a total of %d rows while %s, want 3 from the file's footer from the moment it is listed", tb.Name, tb.TotalRows, tb.Stage)
			}
		}
	}
	if len(rec.final) != 1 {
		t.Fatalf("final snapshots %+v, want one run", rec.final)
	}
	end := rec.final[0]
	var stages []string
	for _, s := range end.Stages {
		stages = append(stages, s.Stage)
	}
	if want := []string{jobs.StageConnecting, jobs.StageReading, jobs.StageUploading, jobs.StagePublishing}; !slices.Equal(stages, want) {
		t.Errorf("stages of the run %v, want %v", stages, want)
	}
	if last := end.Stages[len(end.Stages)-1]; last.Stage != jobs.StagePublishing || end.Now.Sub(last.Since) < 400*time.Millisecond {
		t.Errorf("the run ended %s after entering %q, want publishing to show the server's 400ms publish", end.Now.Sub(last.Since), last.Stage)
	}
	var sampledPublishing bool
	for _, s := range rec.samples {
		sampledPublishing = sampledPublishing || s.Stage == jobs.StagePublishing && s.StageElapsed() > 0
	}
	if !sampledPublishing {
		t.Error("no sample taken during the 400ms publish showed the publishing stage with its elapsed time")
	}
	if len(rec.final) != 1 || len(rec.final[0].Tables) != 1 {
		t.Fatalf("final snapshots %+v, want one run with one table", rec.final)
	}
	got := rec.final[0].Tables[0]
	if got.Stage != jobs.StageDone || got.Rows != 3 || got.PushedRows != 3 || got.Chunks != 1 || got.Bytes <= 0 {
		t.Errorf("table at the end = %+v, want done with 3 rows read and pushed in 1 chunk", got)
	}
	if f, ok := got.Fraction(); !ok || f != 1 {
		t.Errorf("Fraction at the end = %v, %v; want 1, true", f, ok)
	}
	if rec.final[0].RunID == 0 {
		t.Error("the live run has no run id: the status page cannot link it")
	}
}

// Every attempt of a retried run is shown with its number.
func TestLiveProgressCountsAttempts(t *testing.T) {
	b := setup(t)
	writeSales(t, b.dir, "data/orders.parquet", []int64{1}, []string{"north"}, []int32{1}, []float64{10})
	for i := 1; i <= 3; i++ { // the first attempt's upload fails, after its call retries
		b.emu.FailNth(emulator.CallPut, i, 500, "")
	}
	rec := &liveRecorder{}
	b.runner.Progress = rec
	job := b.job(t, "sales", strings.Replace(salesJob, "[[jobs.sales.tables]]", "retry = { attempts = 2, initial_delay = \"1ms\" }\n[[jobs.sales.tables]]", 1))
	res := b.mustRun(t, "run", job, jobs.RunOptions{})
	if !slices.Equal(rec.attempts, []int{1, 2}) || res.Attempts != 2 {
		t.Errorf("attempts shown %v (result says %d), want [1 2]", rec.attempts, res.Attempts)
	}
	runs, err := b.store.Runs(context.Background(), "sales", 10)
	if err != nil || len(runs) != 2 || runs[0].Attempt != 2 || runs[1].Attempt != 1 {
		t.Fatalf("recorded runs %+v (err %v), want attempt 2 then attempt 1", runs, err)
	}
	if tb := runs[0].Tables; len(tb) != 1 || tb[0].Name != "orders" || tb[0].Rows != 1 || tb[0].Chunks != 1 || tb[0].Policy != "upsert" {
		t.Errorf("the succeeded attempt recorded tables %+v, want orders: 1 row in 1 chunk, upsert", tb)
	}
	if st := rec.final[0].Tables[0].Stage; st != jobs.StageFailed {
		t.Errorf("first attempt's table ended %q, want %q", st, jobs.StageFailed)
	}
}
