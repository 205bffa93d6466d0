package jobs_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cubesync/cubesync/jobs"
)

// TestPostgresParallelReadPushesWhatOneConnectionPushes pushes one table read over one
// connection and over several (split by ctid and by a column), each encoded on several
// goroutines into chunks small enough that there are many, and compares the published
// datasets value by value.
func TestPostgresParallelReadPushesWhatOneConnectionPushes(t *testing.T) {
	w := newWarehouse(t)
	w.exec(t, `CREATE TABLE facts AS SELECT
		i::bigint AS id,
		CASE WHEN i % 7 = 0 THEN NULL ELSE 'label "' || i || '"' END AS label,
		(i * 1.25)::numeric(12,2) AS amount,
		i * 0.37::float8 AS value,
		date '2024-01-01' + i % 400 AS day,
		timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second 7 microseconds' AS at
		FROM generate_series(1, 30000) AS i`)
	w.exec(t, "DELETE FROM facts WHERE id % 17 = 0")

	push := func(parallel string) []string {
		t.Helper()
		b := setup(t)
		job := b.job(t, "facts", w.source()+fmt.Sprintf(`
[jobs.facts]
target = "emu"
dataset = { name = "Facts" }
chunk_size = "64KiB"
[[jobs.facts.tables]]
name = "facts"
policy = "replace"
source = "warehouse"
query = "SELECT * FROM facts WHERE day > '2024-01-05'"
%s
`, parallel))
		res, err := b.runner.Run(context.Background(), job, jobs.RunOptions{})
		if err != nil {
			t.Fatalf("run with %q: %v", parallel, err)
		}
		if res.Tables[0].Chunks < 10 {
			t.Fatalf("run with %q pushed %d chunks, want many", parallel, res.Tables[0].Chunks)
		}
		return b.rows(t, res.DatasetID, "facts")
	}
	want := sorted(push(""))
	for _, parallel := range []string{"parallel = 3", "parallel = 4\nparallel_column = \"id\""} {
		if got := sorted(push(parallel)); got != want {
			t.Errorf("dataset pushed with %q differs from the one read over one connection", parallel)
		}
	}
}
