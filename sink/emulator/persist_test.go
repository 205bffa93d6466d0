package emulator

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cubesync/cubesync/sink"
)

// TestPublishedMeansOnDisk: once publishStatus says 1, the data dir holds the published
// rows (an emulator killed right after comes back with them); when they cannot be written,
// the publish fails and nothing is published.
func TestPublishedMeansOnDisk(t *testing.T) {
	dir := t.TempDir()
	b := setup(t, Options{DataDir: dir})
	ds := b.c.createDataset(salesModel("Sales"))
	sid := b.c.openSession(ds, colTable("orders", sink.Replace, orderHeaders...))
	b.c.mustPut(ds, sid, "orders", 1, `[[1,2,3],["a","b","c"],[1,2,3],[1,2,3]]`)
	b.c.mustPublish(ds, sid)

	file := filepath.Join(dir, ds+datasetFileSuffix)
	onDisk, err := readDataset(file) // read at once, the server still running
	if err != nil {
		t.Fatalf("read the dataset file once published: %v", err)
	}
	if got := len(onDisk.table("orders").Rows); got != 3 {
		t.Fatalf("the dataset file holds %d orders rows when publishStatus said 1, want 3", got)
	}

	// The file can no longer be replaced: a directory with something in it is in its place.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(file, "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	sid = b.c.openSession(ds, colTable("orders", sink.Replace, orderHeaders...))
	b.c.mustPut(ds, sid, "orders", 1, `[[9],["z"],[9],[9]]`)
	st, msg := b.c.publish(ds, sid)
	if st != statusError || !strings.Contains(msg, "could not save") {
		t.Errorf("publish whose data could not be saved ended in status %d (%s), want 3 saying it could not save", st, msg)
	}
	if got, want := rows(t, b.srv, ds, "orders"), []string{`[1,"a",1,1]`, `[2,"b",2,2]`, `[3,"c",3,3]`}; !slices.Equal(got, want) {
		t.Errorf("orders after a publish that could not be saved = %v, want the rows before it %v", got, want)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), tempSuffix) {
			t.Errorf("data dir holds %s after the failed write, want its temporary file removed", e.Name())
		}
	}
}
