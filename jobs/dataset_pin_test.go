package jobs_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/cubesync/cubesync/internal/testutil"
	"github.com/cubesync/cubesync/jobs"
)

// TestNewDatasetSaysToPinItsID: the run that creates a job's dataset says to put its id in
// the jobs file, since a run without the state store (a container without its volume)
// would otherwise create the dataset again under the same name, over the existing one; a
// run that finds the id says nothing of it.
func TestNewDatasetSaysToPinItsID(t *testing.T) {
	b := setup(t)
	var logs testutil.SyncBuffer
	b.runner.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	writeSales(t, b.dir, "data/orders.parquet", []int64{1}, []string{"north"}, []int32{1}, []float64{1})
	job := b.job(t, "sales", salesJob)

	res := b.mustRun(t, "first run", job, jobs.RunOptions{})
	want := `id = \"` + res.DatasetID + `\" } in job sales`
	if !strings.Contains(logs.String(), want) {
		t.Errorf("the run that created dataset %s does not say to set its id (%s):\n%s", res.DatasetID, want, logs.String())
	}

	var again testutil.SyncBuffer
	b.runner.Logger = slog.New(slog.NewTextHandler(&again, nil))
	res2, err := b.runner.Run(context.Background(), job, jobs.RunOptions{})
	if err != nil || res2.DatasetID != res.DatasetID {
		t.Fatalf("second run: dataset %q, %v; want a push into %s", res2.DatasetID, err, res.DatasetID)
	}
	if strings.Contains(again.String(), "kept in the state store only") {
		t.Errorf("a run that found the dataset's id says to set it:\n%s", again.String())
	}
}
