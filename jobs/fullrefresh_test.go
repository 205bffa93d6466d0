package jobs_test

import (
	"fmt"
	"testing"

	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/sink"
)

// TestPostgresFullRefreshReplaces shows what an incremental load cannot do and a scheduled
// full refresh does: a row deleted at the source leaves the dataset, and the watermark is
// set back to the greatest value the full read saw.
func TestPostgresFullRefreshReplaces(t *testing.T) {
	tc := incrementalCases[0] // timestamptz
	w := newWarehouse(t)
	b := setup(t)
	newOrders(t, w, tc)
	job := b.job(t, "orders", w.source()+ordersJob(tc.initial))
	first := runOrders(t, b, job, jobs.RunOptions{}, 3)

	// Row 3 holds the watermark; deleting it is invisible to an incremental run.
	w.exec(t, "DELETE FROM orders WHERE id = 3")
	runOrders(t, b, job, jobs.RunOptions{}, 0)
	if got := b.rows(t, first.DatasetID, "orders"); len(got) != 3 {
		t.Fatalf("after an incremental run the dataset has %d rows, want the deleted row still there (3): %v", len(got), got)
	}

	full := runOrders(t, b, job, jobs.RunOptions{Trigger: jobs.TriggerFullRefresh, FullRefresh: true, ReplaceIncremental: true}, 2)
	if got := full.Tables[0].Policy; got != sink.Replace {
		t.Errorf("full refresh pushed the incremental table with policy %q, want replace", got)
	}
	checkDataset(t, b, w, first.DatasetID)
	if got, want := b.watermark(t, "orders", "orders"), "2024-05-01T09:00:00.5Z"; got != want {
		t.Errorf("watermark after the full refresh = %q, want %q (the greatest value the full read saw)", got, want)
	}
	if run := b.lastRun(t, "orders"); run.Trigger != jobs.TriggerFullRefresh || run.Status != jobs.StatusSucceeded {
		t.Errorf("full refresh recorded with trigger %q status %q, want full_refresh succeeded", run.Trigger, run.Status)
	}
}

// TestPostgresLookback: a row committed after a run with a changed_at older than the
// watermark is loaded by the next run when it falls within the lookback, and not without.
func TestPostgresLookback(t *testing.T) {
	for _, tc := range []struct {
		name     string
		kase     incrementalCase
		late     string // changed_at of the late row, just before the first run's watermark
		lookback string
		wantRows int64 // rows the second run pushes
	}{
		{"timestamptz within", incrementalCases[0], "2024-05-01 10:05:00+00", "10m", 2},
		{"timestamptz outside", incrementalCases[0], "2024-05-01 09:55:00+00", "10m", 1},
		{"timestamp within", incrementalCases[1], "2024-05-01 10:05:00", "10m", 2},
		{"date within", incrementalCases[2], "2024-05-01", "24h", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWarehouse(t)
			b := setup(t)
			newOrders(t, w, tc.kase)
			job := b.job(t, "orders", w.source()+ordersJob(tc.kase.initial, fmt.Sprintf("lookback = %q", tc.lookback)))
			first := runOrders(t, b, job, jobs.RunOptions{}, 3)
			mark := b.watermark(t, "orders", "orders")
			w.exec(t, fmt.Sprintf("INSERT INTO orders VALUES (5, 50, 5.50, '%s')", tc.late))
			runOrders(t, b, job, jobs.RunOptions{}, tc.wantRows)
			rows := b.rows(t, first.DatasetID, "orders")
			if tc.wantRows == 2 {
				checkDataset(t, b, w, first.DatasetID) // the late row is there, row 3 not doubled
			} else if len(rows) != 3 {
				t.Errorf("dataset has %d rows, want 3: the late row is outside the lookback", len(rows))
			}
			if got := b.watermark(t, "orders", "orders"); got != mark {
				t.Errorf("watermark after the lookback run = %q, want it kept at %q", got, mark)
			}
		})
	}
}
