package jobs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/sink/emulator"
)

// dialects are the ways servers within the documented API answer where it leaves room;
// every job must run against each exactly as against the default emulator.
var dialects = []struct {
	name string
	opts emulator.Options
}{
	{"default", emulator.Options{}},
	{"bigint as integer precision 8", emulator.Options{BigIntegerAsInteger: true}},
	{"in-progress statuses 4 8 9 10", emulator.Options{PublishStatuses: []int{4, 8, 9, 10}}},
	{"status as string", emulator.Options{StatusAsString: true, PublishStatuses: []int{6}}},
	{"four-digit error codes", emulator.Options{ErrorCodeDigits: 4}},
}

// TestRunDialects runs a job of every type and an upsert job twice against each dialect:
// the second run checks the dataset the first created. Both succeed, the data is exact and
// the dataset is created once. On the second run the server also says once that the login
// expired (in the dialect's spelling of ERR009): the client logs in again and goes on.
func TestRunDialects(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			b := setupWith(t, d.opts)
			ctx := context.Background()
			wantTypes := writeEveryType(t, b.dir)
			writeSales(t, b.dir, "data/orders.parquet", []int64{1, 2, 9007199254740993}, []string{"north", "south", "north"}, []int32{1, 2, 3}, []float64{10.5, 20, 30})
			types := b.job(t, "types", `
[jobs.types]
target = "emu"
dataset = { name = "Types" }
[[jobs.types.tables]]
name = "all_types"
policy = "replace"
parquet = "data/types.parquet"
`)
			sales := b.job(t, "sales", salesJob)
			wantSales := []string{"1|north|1|10.5", "2|south|2|20", "9007199254740993|north|3|30"}
			ids := map[string]string{}
			for run := 1; run <= 2; run++ {
				if run == 2 {
					b.emu.FailNth(emulator.CallPut, 1, 401, "")
				}
				for _, job := range []*jobs.Job{types, sales} {
					res, err := b.runner.Run(ctx, job, jobs.RunOptions{})
					if err != nil {
						t.Fatalf("run %d of job %s: %v", run, job.Name, err)
					}
					if prev, ok := ids[job.Name]; ok && prev != res.DatasetID {
						t.Errorf("run %d of job %s pushed to dataset %s, want %s", run, job.Name, res.DatasetID, prev)
					}
					ids[job.Name] = res.DatasetID
				}
				if got := b.rows(t, ids["types"], "all_types"); strings.Join(got, "\n") != strings.Join(wantTypes, "\n") {
					t.Errorf("run %d: all_types =\n%s\nwant\n%s", run, strings.Join(got, "\n"), strings.Join(wantTypes, "\n"))
				}
				if got := b.rows(t, ids["sales"], "orders"); strings.Join(got, "\n") != strings.Join(wantSales, "\n") {
					t.Errorf("run %d: orders =\n%s\nwant\n%s", run, strings.Join(got, "\n"), strings.Join(wantSales, "\n"))
				}
			}
			if n := b.emu.Stats().Calls[emulator.CallModel]; n != 2 {
				t.Errorf("models calls = %d, want 2 (one per job, on its first run)", n)
			}
			if open := b.emu.OpenSessions(); len(open) != 0 {
				t.Errorf("upload sessions left open: %+v", open)
			}
		})
	}
}
