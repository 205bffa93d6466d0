package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/sink/emulator"
)

// terminateLockConn ends the Postgres connection that holds job sales's lock in the state
// database dsn, as a network failure would.
func terminateLockConn(t *testing.T, dsn string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name LIKE 'cubesync lock sales by %'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminate the lock's connection: %d terminated, %v", n, err)
	}
}

// TestRunLostLockPublishesNothing takes the job's lock away from a run after it uploaded
// everything and recorded its pending state, just before it publishes: the Postgres lock's
// connection is terminated (pg_terminate_backend, as a failover or an idle-session killer
// would), or the local lock file is removed. The run must notice (fencing), cancel its
// upload session and publish nothing; the next run, holding the lock, loads the rows.
func TestRunLostLockPublishesNothing(t *testing.T) {
	for _, store := range []string{"local", "postgres"} {
		t.Run(store, func(t *testing.T) {
			ctx := context.Background()
			b := setup(t)
			var lose func()
			if store == "postgres" {
				dsn := pgtest.DSN(t)
				b.usePostgresStore(t, dsn)
				lose = func() { terminateLockConn(t, dsn) }
			} else {
				lose = func() {
					if err := os.Remove(filepath.Join(b.dir, ".cubesync", "locks", "sales.lock")); err != nil {
						t.Fatal(err)
					}
				}
			}
			writeSales(t, b.dir, "data/orders.parquet", []int64{1, 2}, []string{"north", "south"}, []int32{1, 2}, []float64{10, 20})
			job := b.job(t, "sales", salesJob)
			b.runner.Step = func(step string) error {
				if step == "after:record_pending" {
					lose()
				}
				return nil
			}
			_, err := b.runner.Run(ctx, job, jobs.RunOptions{})
			if !errors.Is(err, jobs.ErrLockLost) || !strings.Contains(err.Error(), "not publishing upload session") {
				t.Fatalf("run that lost its lock: err = %v, want ErrLockLost and that it did not publish", err)
			}
			b.checkNothingPublished(t, "the run that lost its lock")
			runs, _ := b.store.Runs(ctx, "sales", 10)
			if len(runs) != 1 || runs[0].Status != jobs.StatusFailed || !strings.Contains(runs[0].Error, "lock was lost") {
				t.Errorf("history = %+v, want one failed run saying the lock was lost", runs)
			}

			b.runner.Step = nil
			res := b.mustRun(t, "next run", job, jobs.RunOptions{})
			if got := b.rows(t, res.DatasetID, "orders"); len(got) != 2 {
				t.Errorf("next run published %v, want the 2 rows", got)
			}
		})
	}
}

// TestRunLostLockMidRunNoticed is issue 9's overlap: a run's advisory-lock connection is
// terminated while it uploads, and a second run of the job (another process) takes the lock
// at once, settles what the first left (cancels its upload session) and publishes. The first
// run must notice the loss by itself within seconds (the lease's watch, not only the check
// before publish), stop, and publish nothing: only the second run's publish reaches the server.
func TestRunLostLockMidRunNoticed(t *testing.T) {
	ctx := context.Background()
	b := setup(t)
	dsn := pgtest.DSN(t)
	b.usePostgresStore(t, dsn)
	second := openPostgresStore(t, dsn)
	var logs testutil.SyncBuffer
	b.runner.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	other := *b.runner // the second process: its own store, no hooks
	other.Store, other.Logger, other.Step = second, nil, nil

	writeSales(t, b.dir, "data/orders.parquet", []int64{1, 2}, []string{"north", "south"}, []int32{1, 2}, []float64{10, 20})
	job := b.job(t, "sales", salesJob)
	var (
		secondRes *jobs.Result
		secondErr error
	)
	b.runner.Step = func(step string) error {
		if step != "after:record_session" {
			return nil
		}
		// The first run has its session open; its lock's connection ends now.
		terminateLockConn(t, dsn)
		secondRes, secondErr = other.Run(ctx, job, jobs.RunOptions{})
		within := 2*jobs.LeaseWatchInterval + 5*time.Second
		testutil.WaitFor(t, within, "the first run to notice its lock lost", func() bool {
			return len(logs.LogLines("the job's lock was lost: stopping the run, its upload session is cancelled and nothing is published")) > 0
		})
		return nil
	}
	_, err := b.runner.Run(ctx, job, jobs.RunOptions{})
	if !errors.Is(err, jobs.ErrLockLost) {
		t.Errorf("run that lost its lock mid-run: err = %v, want ErrLockLost", err)
	}
	if secondErr != nil {
		t.Fatalf("second run, after the first lost the lock: %v", secondErr)
	}
	if got := b.rows(t, secondRes.DatasetID, "orders"); len(got) != 2 {
		t.Errorf("dataset holds %v, want the 2 rows", got)
	}
	if n := b.emu.Stats().Calls[emulator.CallPublish]; n != 1 {
		t.Errorf("%d publishes reached the server, want 1 (the second run's): the run that lost its lock published", n)
	}
	if open := b.emu.OpenSessions(); len(open) != 0 {
		t.Errorf("upload sessions left open: %+v", open)
	}
	runs, err := second.Runs(ctx, "sales", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Status == jobs.StatusRunning || r.Phase != jobs.PhaseNone {
			t.Errorf("run %d is left %s (phase %q): %s", r.ID, r.Status, r.Phase, r.Error)
		}
	}
	if len(runs) != 2 || runs[0].Status != jobs.StatusSucceeded || runs[1].Status != jobs.StatusAbandoned ||
		!strings.Contains(runs[1].Error, "cancelled by run") {
		t.Errorf("history = %+v, want the second run succeeded and the first abandoned, its session cancelled by the second", runs)
	}
}
