package parquetfile

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestDemoData reads the data set the shipped demo job loads (testdata/demo, written by
// testdata/demo/gen.go) and checks the columns the job's key and exclude lists rely on.
func TestDemoData(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	demo := filepath.Join("..", "..", "testdata", "demo")
	for _, tc := range []struct {
		pattern   string
		wantFiles int
		wantRows  int
		columns   string   // name:type, as the job author sees them
		wantNulls []string // columns that must have some NULLs
		uniqueKey string   // an int column whose values must be unique
	}{
		{
			pattern: "stores.parquet", wantFiles: 1, wantRows: 25,
			columns: "store_id:int32 store_name:utf8 city:utf8 region:dictionary<values=utf8, indices=int32, ordered=false> " +
				"opened_on:date32 manager:utf8 floor_area_m2:decimal(10, 2)",
			wantNulls: []string{"manager"},
			uniqueKey: "store_id",
		},
		{
			pattern: "orders", wantFiles: 2, wantRows: 3900,
			columns: "order_id:int64 store_id:int32 ordered_at:timestamp[us, tz=UTC] ship_date:date32 pickup_time:time64[us] " +
				"customer:utf8 channel:dictionary<values=utf8, indices=int32, ordered=false> quantity:int32 " +
				"unit_price:decimal(10, 2) discount:float64 amount:float64 gift:bool",
			wantNulls: []string{"ship_date", "pickup_time", "discount"},
			uniqueKey: "order_id",
		},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			r := mustOpen(t, tc.pattern, demo, Options{Allocator: mem})
			defer r.Close()

			var cols []string
			for _, f := range r.Schema().Fields() {
				cols = append(cols, f.Name+":"+f.Type.String())
			}
			if got := strings.Join(cols, " "); got != tc.columns {
				t.Errorf("columns:\n got %s\nwant %s\n(regenerate with go run testdata/demo/gen.go, and update jobs.toml's demo job if they changed on purpose)", got, tc.columns)
			}
			files := r.Files()
			if len(files) != tc.wantFiles {
				t.Errorf("matched %d files, want %d", len(files), tc.wantFiles)
			}
			for _, f := range files {
				if f.Size > 200_000 {
					t.Errorf("%s is %d bytes, want the demo files under 200 KB", f.Path, f.Size)
				}
			}

			recs := readAll(t, r)
			defer releaseAll(recs)
			rows, nulls, seen := 0, map[string]int{}, map[int64]bool{}
			for _, rec := range recs {
				rows += int(rec.NumRows())
				for i, f := range rec.Schema().Fields() {
					nulls[f.Name] += rec.Column(i).NullN()
					if f.Name != tc.uniqueKey {
						continue
					}
					for j := range int(rec.NumRows()) {
						var v int64
						switch col := rec.Column(i).(type) {
						case *array.Int32:
							v = int64(col.Value(j))
						case *array.Int64:
							v = col.Value(j)
						}
						if seen[v] {
							t.Errorf("%s %d appears twice", tc.uniqueKey, v)
						}
						seen[v] = true
					}
				}
			}
			if rows != tc.wantRows {
				t.Errorf("read %d rows, want %d", rows, tc.wantRows)
			}
			for name, n := range nulls {
				wantSome := slices.Contains(tc.wantNulls, name)
				if wantSome && n == 0 {
					t.Errorf("column %s has no NULLs, want some", name)
				}
				if !wantSome && n != 0 {
					t.Errorf("column %s has %d NULLs, want none", name, n)
				}
			}
		})
	}
}
