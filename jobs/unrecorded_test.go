package jobs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cubesync/cubesync/internal/pgtest"
	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/sink/emulator"
)

// TestRunPublishedButUnrecorded makes the state store fail for real right after a publish
// (issue 9, 3a): the Postgres state database refuses connections, or the local job file can
// be neither read nor replaced. The run must fail, never report success with its state
// unsaved, saying it published and what the next run does; the next run, with the store
// back, records it succeeded late and commits its loaded files, so nothing is pushed again.
func TestRunPublishedButUnrecorded(t *testing.T) {
	for _, store := range []string{"local", "postgres"} {
		t.Run(store, func(t *testing.T) {
			ctx := context.Background()
			b := setup(t)
			var breakStore, mend func()
			if store == "postgres" {
				dsn := pgtest.DSN(t)
				b.usePostgresStore(t, dsn)
				cfg, err := pgx.ParseConfig(dsn)
				if err != nil {
					t.Fatal(err)
				}
				name := cfg.Database
				db := pgx.Identifier{name}.Sanitize()
				cfg.Database = "postgres" // a database cannot refuse connections while one asks it to
				admin, err := pgx.ConnectConfig(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { admin.Close(ctx) })
				exec := func(sql string, args ...any) {
					if _, err := admin.Exec(ctx, sql, args...); err != nil {
						t.Fatalf("%s: %v", sql, err)
					}
				}
				breakStore = func() {
					// New connections are refused and the pool's are ended; the job's lock
					// keeps its own connection.
					exec("ALTER DATABASE " + db + " ALLOW_CONNECTIONS false")
					exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
						WHERE datname = $1 AND application_name = 'cubesync'`, name)
				}
				mend = func() { exec("ALTER DATABASE " + db + " ALLOW_CONNECTIONS true") }
			} else {
				path := filepath.Join(b.dir, ".cubesync", "jobs", "sales.json")
				aside := path + ".aside"
				breakStore = func() {
					// A directory where the job's file was: it can be neither read nor
					// replaced by a rename.
					if err := os.Rename(path, aside); err != nil {
						t.Fatal(err)
					}
					if err := os.MkdirAll(filepath.Join(path, "x"), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				mend = func() {
					if err := os.RemoveAll(path); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(aside, path); err != nil {
						t.Fatal(err)
					}
				}
			}
			writeSales(t, b.dir, "data/orders/a.parquet", []int64{1, 2}, []string{"north", "south"}, []int32{1, 2}, []float64{10, 20})
			job := b.job(t, "sales", newFilesJob)
			broken := false
			b.runner.Step = func(step string) error {
				if step == "before:finish_run" && !broken { // the record is tried a few times
					breakStore()
					broken = true
				}
				return nil
			}
			res, err := b.runner.Run(ctx, job, jobs.RunOptions{})
			ue, ok := errors.AsType[*jobs.UnsettledError](err)
			if !ok || !ue.Published || !strings.Contains(err.Error(), "PUBLISHED upload session") || !strings.Contains(err.Error(), "the next run") {
				t.Fatalf("run whose record failed after the publish: err = %v, want an UnsettledError saying it published and what the next run does", err)
			}
			if res == nil || res.Run.Status == jobs.StatusSucceeded {
				t.Errorf("run whose record failed reports %+v, want it not succeeded", res)
			}
			mend()
			b.runner.Step = nil

			b.mustRun(t, "next run", job, jobs.RunOptions{})
			runs, err := b.store.Runs(ctx, "sales", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != 2 || runs[1].Status != jobs.StatusSucceeded || !strings.Contains(runs[1].Error, "recorded late") ||
				runs[0].Status != jobs.StatusSucceeded || !runs[0].NoChanges() {
				t.Errorf("history = %+v, want the published run succeeded (recorded late) and the next with no changes", runs)
			}
			files, err := b.store.LoadedFiles(ctx, "sales", "orders")
			if err != nil || len(files) != 1 {
				t.Errorf("loaded files = %v, %v; want a.parquet committed with the late record", files, err)
			}
			if n := b.emu.Stats().Calls[emulator.CallPublish]; n != 1 {
				t.Errorf("%d publishes, want 1: a.parquet was pushed again", n)
			}
			if got := b.rows(t, res.DatasetID, "orders"); len(got) != 2 {
				t.Errorf("dataset holds %v, want the 2 rows", got)
			}
		})
	}
}
