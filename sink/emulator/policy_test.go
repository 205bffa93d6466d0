package emulator

import (
	"slices"
	"testing"

	"github.com/cubesync/cubesync/sink"
)

// chunk is one PUT of a policy test: index and COLUMN-orientation JSON data.
type chunk struct {
	index any
	data  string
}

func TestUpdatePolicies(t *testing.T) {
	// orders matches on (order_id, store); amount and qty are metrics. The existing rows are
	// loaded with replace before each case.
	existing := `[[1,1,2],["north","south","north"],[10,20,30],[1,2,3]]` // (1,north) (1,south) (2,north)
	tests := []struct {
		name   string
		policy sink.Policy
		chunks []chunk
		want   []string
	}{
		{
			name:   "replace empties the table then inserts",
			policy: sink.Replace,
			chunks: []chunk{{1, `[[7],["east"],[70],[7]]`}},
			want:   []string{`[7,"east",70,7]`},
		},
		{
			name:   "replace with no chunks empties the table",
			policy: sink.Replace,
			want:   []string{},
		},
		{
			name:   "add keeps existing tuples and inserts new ones",
			policy: sink.Add,
			chunks: []chunk{{1, `[[1,3],["north","west"],[99,40],[9,4]]`}},
			want:   []string{`[1,"north",10,1]`, `[1,"south",20,2]`, `[2,"north",30,3]`, `[3,"west",40,4]`},
		},
		{
			name:   "update overwrites metrics of existing tuples and ignores new ones",
			policy: sink.Update,
			chunks: []chunk{{1, `[[1,3],["south","west"],[21.5,40],[null,4]]`}},
			want:   []string{`[1,"north",10,1]`, `[1,"south",21.5,null]`, `[2,"north",30,3]`},
		},
		{
			name:   "upsert overwrites existing tuples and inserts new ones",
			policy: sink.Upsert,
			chunks: []chunk{{1, `[[2,4],["north","north"],[31,50],[3,5]]`}},
			want:   []string{`[1,"north",10,1]`, `[1,"south",20,2]`, `[2,"north",31,3]`, `[4,"north",50,5]`},
		},
		{
			name:   "upsert applies chunks in index order whatever the order they came in",
			policy: sink.Upsert,
			chunks: []chunk{
				{3, `[[5],["east"],[3],[3]]`},
				{1, `[[5],["east"],[1],[1]]`},
				{2, `[[5],["east"],[2],[2]]`},
			},
			want: []string{`[1,"north",10,1]`, `[1,"south",20,2]`, `[2,"north",30,3]`, `[5,"east",3,3]`},
		},
		{
			name:   "a repeated index overwrites the earlier chunk",
			policy: sink.Add,
			chunks: []chunk{
				{1, `[[8],["east"],[1],[1]]`},
				{2, `[[9],["east"],[2],[2]]`},
				{1, `[[10],["east"],[3],[3]]`}, // a retry of chunk 1 with other rows
			},
			want: []string{`[1,"north",10,1]`, `[1,"south",20,2]`, `[2,"north",30,3]`, `[10,"east",3,3]`, `[9,"east",2,2]`},
		},
		{
			name:   "an index sent as a numeric string is the same index",
			policy: sink.Add,
			chunks: []chunk{
				{1, `[[8],["east"],[1],[1]]`},
				{"1", `[[9],["east"],[2],[2]]`},
			},
			want: []string{`[1,"north",10,1]`, `[1,"south",20,2]`, `[2,"north",30,3]`, `[9,"east",2,2]`},
		},
		{
			name:   "duplicate tuples in one push keep the last, across chunks",
			policy: sink.Upsert,
			chunks: []chunk{
				{1, `[[6,6],["x","y"],[1,5],[1,5]]`},
				{2, `[[6,1],["x","north"],[2,11],[2,11]]`},
			},
			want: []string{`[1,"north",11,11]`, `[1,"south",20,2]`, `[2,"north",30,3]`, `[6,"x",2,2]`, `[6,"y",5,5]`},
		},
		{
			name:   "replace keeps every row, equal tuples too",
			policy: sink.Replace,
			chunks: []chunk{{1, `[[1,2,1],["a","b","a"],[1,2,3],[1,2,3]]`}, {2, `[[1],["a"],[1],[1]]`}},
			want:   []string{`[1,"a",1,1]`, `[2,"b",2,2]`, `[1,"a",3,3]`, `[1,"a",1,1]`},
		},
		{
			name:   "add with duplicate tuples in one push inserts the last",
			policy: sink.Add,
			chunks: []chunk{{1, `[[7,7,1],["a","a","north"],[1,2,99],[1,2,99]]`}},
			want:   []string{`[1,"north",10,1]`, `[1,"south",20,2]`, `[2,"north",30,3]`, `[7,"a",2,2]`},
		},
		{
			name:   "null is a tuple value like any other",
			policy: sink.Upsert,
			chunks: []chunk{{1, `[[null,null],[null,null],[1,2],[1,2]]`}},
			want:   []string{`[1,"north",10,1]`, `[1,"south",20,2]`, `[2,"north",30,3]`, `[null,null,2,2]`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t, Options{})
			ds := b.c.createDataset(salesModel("Sales"))
			headers := []string{"order_id", "store", "amount", "qty"}
			sid := b.c.openSession(ds, colTable("orders", sink.Replace, headers...))
			b.c.mustPut(ds, sid, "orders", 1, existing)
			b.c.mustPublish(ds, sid)

			sid = b.c.openSession(ds, colTable("orders", tt.policy, headers...))
			for _, c := range tt.chunks {
				b.c.mustPut(ds, sid, "orders", c.index, c.data)
			}
			b.c.mustPublish(ds, sid)
			if got := rows(t, b.srv, ds, "orders"); !slices.Equal(got, tt.want) {
				t.Errorf("orders after %s:\n got %v\nwant %v", tt.policy, got, tt.want)
			}
		})
	}
}

func TestPoliciesWithoutAttributes(t *testing.T) {
	// A table of metrics only has no tuple to match on: update and upsert append like add.
	model := sink.Model{
		Name:    "Readings",
		Tables:  []sink.ModelTable{{Name: "readings", Columns: []sink.Column{{Name: "value", DataType: sink.Double}, {Name: "count", DataType: sink.Integer}}}},
		Metrics: []sink.Metric{metric("value", "readings"), metric("count", "readings")},
	}
	for _, policy := range []sink.Policy{sink.Add, sink.Update, sink.Upsert, sink.Replace} {
		t.Run(string(policy), func(t *testing.T) {
			b := setup(t, Options{})
			ds := b.c.createDataset(model)
			sid := b.c.openSession(ds, colTable("readings", sink.Add, "value", "count"))
			b.c.mustPut(ds, sid, "readings", 1, `[[1.5],[1]]`)
			b.c.mustPublish(ds, sid)

			sid = b.c.openSession(ds, colTable("readings", policy, "value", "count"))
			b.c.mustPut(ds, sid, "readings", 1, `[[1.5,2.5],[1,1]]`)
			b.c.mustPublish(ds, sid)
			want := []string{`[1.5,1]`, `[1.5,1]`, `[2.5,1]`}
			if policy == sink.Replace {
				want = want[1:]
			}
			if got := rows(t, b.srv, ds, "readings"); !slices.Equal(got, want) {
				t.Errorf("readings after %s = %v, want %v", policy, got, want)
			}
		})
	}
}

func TestTablesOutsideTheSessionAreUntouched(t *testing.T) {
	b := setup(t, Options{})
	ds := b.c.createDataset(salesModel("Sales"))
	sid := b.c.openSession(ds, colTable("stores", sink.Replace, "store", "name", "area"))
	b.c.mustPut(ds, sid, "stores", 1, `[["north"],["North"],[1.25]]`)
	b.c.mustPublish(ds, sid)

	sid = b.c.openSession(ds, colTable("orders", sink.Replace, "order_id", "store", "amount", "qty"))
	b.c.mustPut(ds, sid, "orders", 1, `[[1],["north"],[1],[1]]`)
	b.c.mustPublish(ds, sid)
	if got, want := rows(t, b.srv, ds, "stores"), []string{`["north","North",1.25]`}; !slices.Equal(got, want) {
		t.Errorf("stores = %v, want %v (not in the second session)", got, want)
	}
}
