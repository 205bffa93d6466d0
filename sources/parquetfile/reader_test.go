package parquetfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestReadEveryTypeAcrossFilesAndRowGroups reads every type, value by value, with the
// columns of a batch decoded at once (the default) and one after another (Sequential).
func TestReadEveryTypeAcrossFilesAndRowGroups(t *testing.T) {
	dir := t.TempDir()
	// Two files of several row groups each, with a last row group shorter than the others.
	writeFile(t, memory.DefaultAllocator, filepath.Join(dir, "part-1.parquet"), allTypes, 0, 1000, 300)
	writeFile(t, memory.DefaultAllocator, filepath.Join(dir, "part-2.parquet"), allTypes, 1000, 450, 200)
	for _, sequential := range []bool{false, true} {
		t.Run(fmt.Sprintf("sequential=%t", sequential), func(t *testing.T) {
			readEveryType(t, dir, Options{Sequential: sequential})
		})
	}
}

func readEveryType(t *testing.T, dir string, opts Options) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	const batchRows = 128
	opts.BatchRows, opts.Allocator = batchRows, mem
	r := mustOpen(t, dir, "", opts)
	defer r.Close()

	for i, want := range allTypes.Fields() {
		got := r.Schema().Field(i)
		if got.Name != want.Name || !arrow.TypeEqual(got.Type, want.Type) {
			t.Errorf("Schema().Field(%d) = %s %s, want %s %s", i, got.Name, got.Type, want.Name, want.Type)
		}
	}
	if got := r.Schema().NumFields(); got != allTypes.NumFields() {
		t.Fatalf("Schema() has %d fields, want %d", got, allTypes.NumFields())
	}

	recs := readAll(t, r)
	defer releaseAll(recs)
	for i, rec := range recs {
		if rec.NumRows() > batchRows {
			t.Errorf("batch %d has %d rows, want at most BatchRows = %d", i, rec.NumRows(), batchRows)
		}
		if !rec.Schema().Equal(r.Schema()) {
			t.Errorf("batch %d schema = %s, want the reader's %s", i, rec.Schema(), r.Schema())
		}
	}

	want := buildRows(t, mem, allTypes, 0, 1450)
	defer want.Release()
	gotRows, wantRows := rowStrings(recs), rowStrings([]arrow.RecordBatch{want})
	if len(gotRows) != len(wantRows) {
		t.Fatalf("read %d rows, want %d", len(gotRows), len(wantRows))
	}
	for i := range wantRows {
		for c := range wantRows[i] {
			if gotRows[i][c] != wantRows[i][c] {
				t.Fatalf("row %d column %s = %s, want %s", i, allTypes.Field(c).Name, gotRows[i][c], wantRows[i][c])
			}
		}
	}

	files := r.Files()
	if len(files) != 2 || filepath.Base(files[0].Path) != "part-1.parquet" || filepath.Base(files[1].Path) != "part-2.parquet" {
		t.Fatalf("Files() = %+v, want part-1.parquet then part-2.parquet", files)
	}
	for _, f := range files {
		st, err := os.Stat(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if f.Size != st.Size() || !f.ModTime.Equal(st.ModTime()) {
			t.Errorf("Files() entry %+v, want size %d and mod time %s", f, st.Size(), st.ModTime())
		}
	}
}

func TestBatchesNeverExceedBatchRows(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	path := filepath.Join(t.TempDir(), "t.parquet")
	writeFile(t, mem, path, sc, 0, 5000, 1500)

	for _, tc := range []struct {
		name      string
		batchRows int
		wantMax   int64
	}{
		{"one row", 1, 1},
		{"smaller than a row group", 1000, 1000},
		{"not a power of two", 777, 777},
		{"larger than a row group", 4096, 1500},
		{"default", 0, 1500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustOpen(t, path, "", Options{BatchRows: tc.batchRows, Allocator: mem})
			defer r.Close()
			recs := readAll(t, r)
			defer releaseAll(recs)
			var total, largest int64
			for _, rec := range recs {
				total += rec.NumRows()
				largest = max(largest, rec.NumRows())
			}
			if total != 5000 {
				t.Errorf("read %d rows, want 5000", total)
			}
			if largest != tc.wantMax {
				t.Errorf("largest batch has %d rows, want %d (BatchRows %d, row groups of 1500)", largest, tc.wantMax, tc.batchRows)
			}
		})
	}
}

// ids reads every batch of r and returns its first column, an int64 id.
func ids(t *testing.T, r *Reader) []int64 {
	t.Helper()
	recs := readAll(t, r)
	defer releaseAll(recs)
	var out []int64
	for _, rec := range recs {
		col := rec.Column(0).(interface{ Value(int) int64 })
		for i := range int(rec.NumRows()) {
			out = append(out, col.Value(i))
		}
	}
	return out
}

var idSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)

func TestPatterns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	base := t.TempDir()
	data := filepath.Join(base, "data")
	// Written out of order: reading must follow the sorted paths.
	writeFile(t, mem, filepath.Join(data, "b.parquet"), idSchema, 10, 2, 10)
	writeFile(t, mem, filepath.Join(data, "a.parquet"), idSchema, 0, 2, 10)
	writeFile(t, mem, filepath.Join(data, "c.PARQUET"), idSchema, 20, 2, 10)
	writeFile(t, mem, filepath.Join(data, "nested", "d.parquet"), idSchema, 30, 2, 10)
	// Files that a directory read skips: writer side files and hidden or temporary files.
	for _, name := range []string{"_SUCCESS", "_metadata.parquet", ".tmp.parquet", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(data, name), []byte("not parquet"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name, pattern, baseDir string
		want                   []int64
	}{
		{"file relative to base dir", "data/b.parquet", base, []int64{10, 11}},
		{"absolute file ignores base dir", filepath.Join(data, "a.parquet"), "/nonexistent", []int64{0, 1}},
		{"directory reads its parquet files sorted, not recursively", "data", base, []int64{0, 1, 10, 11, 20, 21}},
		{"directory with trailing slash", "data/", base, []int64{0, 1, 10, 11, 20, 21}},
		{"glob sorted", "data/[ba].parquet", base, []int64{0, 1, 10, 11}},
		{"recursive-looking glob", "data/*/*.parquet", base, []int64{30, 31}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustOpen(t, tc.pattern, tc.baseDir, Options{Allocator: mem})
			defer r.Close()
			if got := ids(t, r); !slices.Equal(got, tc.want) {
				t.Errorf("Open(%q, %q) read ids %v, want %v", tc.pattern, tc.baseDir, got, tc.want)
			}
		})
	}

	t.Run("relative to working directory without base dir", func(t *testing.T) {
		t.Chdir(base)
		r := mustOpen(t, "data/a.parquet", "", Options{Allocator: mem})
		defer r.Close()
		if got := ids(t, r); !slices.Equal(got, []int64{0, 1}) {
			t.Errorf("read ids %v, want [0 1]", got)
		}
	})

	empty := filepath.Join(base, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, pattern string
		wantInErr     []string
	}{
		{"missing file", "data/nope.parquet", []string{`"data/nope.parquet"`, "does not exist", base}},
		{"directory without parquet files", "empty", []string{`"empty"`, "no *.parquet file"}},
		{"glob matching nothing", "data/*.csv", []string{`"data/*.csv"`, "matches no file"}},
		{"glob matching only directories", "data/nest*", []string{`"data/nest*"`, "matches no file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open(context.Background(), tc.pattern, base, Options{Allocator: mem})
			if err == nil {
				r.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tc.pattern)
			}
			if !errors.Is(err, ErrNoFiles) {
				t.Errorf("Open(%q) error %q does not wrap ErrNoFiles", tc.pattern, err)
			}
			for _, s := range tc.wantInErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Open(%q) error %q does not mention %s", tc.pattern, err, s)
				}
			}
		})
	}

	t.Run("empty pattern", func(t *testing.T) {
		if _, err := Open(context.Background(), " ", base, Options{}); err == nil || !strings.Contains(err.Error(), "empty") {
			t.Errorf("Open(\" \") error = %v, want one saying the pattern is empty", err)
		}
	})
}

func TestOnlySelectsFiles(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	dir := t.TempDir()
	writeFile(t, mem, filepath.Join(dir, "2024-01.parquet"), idSchema, 0, 3, 10)
	writeFile(t, mem, filepath.Join(dir, "2024-02.parquet"), idSchema, 100, 3, 10)

	t.Run("new files only", func(t *testing.T) {
		loaded := filepath.Join(dir, "2024-01.parquet")
		r := mustOpen(t, dir, "", Options{Allocator: mem, Only: func(f FileInfo) bool { return f.Path != loaded }})
		defer r.Close()
		if got := ids(t, r); !slices.Equal(got, []int64{100, 101, 102}) {
			t.Errorf("read ids %v, want only the second file's [100 101 102]", got)
		}
		if got := len(r.Files()); got != 2 {
			t.Errorf("Files() lists %d files, want both matches (2)", got)
		}
	})

	t.Run("nothing new is an empty stream with the schema", func(t *testing.T) {
		r := mustOpen(t, dir, "", Options{Allocator: mem, Only: func(FileInfo) bool { return false }})
		defer r.Close()
		if !r.Schema().Equal(idSchema) {
			t.Errorf("Schema() = %s, want %s", r.Schema(), idSchema)
		}
		rec, err := r.Next(context.Background())
		if rec != nil {
			rec.Release()
		}
		if !errors.Is(err, io.EOF) {
			t.Errorf("Next() error = %v, want io.EOF", err)
		}
	})

	t.Run("filtered out files are not checked", func(t *testing.T) {
		odd := filepath.Join(t.TempDir(), "odd")
		writeFile(t, mem, filepath.Join(odd, "1-old.parquet"), arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.Binary}}, nil), 0, 1, 10)
		writeFile(t, mem, filepath.Join(odd, "2-new.parquet"), idSchema, 7, 1, 10)
		r := mustOpen(t, odd, "", Options{Allocator: mem, Only: func(f FileInfo) bool { return strings.HasSuffix(f.Path, "2-new.parquet") }})
		defer r.Close()
		if got := ids(t, r); !slices.Equal(got, []int64{7}) {
			t.Errorf("read ids %v, want [7]", got)
		}
	})
}

func TestSchemaMismatch(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	base := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "qty", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
	for _, tc := range []struct {
		name      string
		other     *arrow.Schema
		wantInErr []string
	}{
		{"different type", arrow.NewSchema([]arrow.Field{
			{Name: "id", Type: arrow.PrimitiveTypes.Int64},
			{Name: "qty", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		}, nil), []string{`column "qty" is int32 in the first and int64 in the second`}},
		{"missing column", arrow.NewSchema([]arrow.Field{
			{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		}, nil), []string{`column "qty" is missing from the second`}},
		{"extra column", arrow.NewSchema([]arrow.Field{
			{Name: "id", Type: arrow.PrimitiveTypes.Int64},
			{Name: "qty", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
		}, nil), []string{`column "note" is missing from the first`}},
		{"renamed column", arrow.NewSchema([]arrow.Field{
			{Name: "id", Type: arrow.PrimitiveTypes.Int64},
			{Name: "quantity", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		}, nil), []string{`column 2 is "qty" in the first and "quantity" in the second`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			first, second := filepath.Join(dir, "a.parquet"), filepath.Join(dir, "b.parquet")
			writeFile(t, mem, first, base, 0, 5, 10)
			writeFile(t, mem, second, tc.other, 0, 5, 10)

			r, err := Open(context.Background(), dir, "", Options{Allocator: mem})
			if err == nil {
				r.Close()
				t.Fatal("Open succeeded on files of different schemas, want an error")
			}
			var mismatch *SchemaMismatchError
			if !errors.As(err, &mismatch) {
				t.Errorf("Open error %q is not a *SchemaMismatchError", err)
			}
			for _, s := range append(tc.wantInErr, first, second) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Open error %q does not mention %s", err, s)
				}
			}
		})
	}

	t.Run("required in one file, optional in another", func(t *testing.T) {
		dir := t.TempDir()
		required := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "qty", Type: arrow.PrimitiveTypes.Int32}}, nil)
		writeFile(t, mem, filepath.Join(dir, "a.parquet"), required, 0, 5, 10)
		writeFile(t, mem, filepath.Join(dir, "b.parquet"), base, 5, 10, 10)
		r := mustOpen(t, dir, "", Options{Allocator: mem})
		defer r.Close()
		if !r.Schema().Field(1).Nullable {
			t.Errorf("Schema() = %s, want qty nullable since one file allows nulls", r.Schema())
		}
		if got := ids(t, r); len(got) != 15 {
			t.Errorf("read %d rows, want 15", len(got))
		}
	})
}

// TestTypesPassThrough checks that the reader does not judge column types: the sink's type
// table does, for every source alike. Columns of any type are read as they are, and
// excluded ones not at all.
func TestTypesPassThrough(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	for _, tc := range []struct {
		name string
		typ  arrow.DataType
	}{
		{"binary", arrow.BinaryTypes.Binary},
		{"uint64", arrow.PrimitiveTypes.Uint64},
		{"list", arrow.ListOf(arrow.PrimitiveTypes.Int32)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := arrow.NewSchema([]arrow.Field{
				{Name: "id", Type: arrow.PrimitiveTypes.Int64},
				{Name: "payload", Type: tc.typ, Nullable: true},
			}, nil)
			path := filepath.Join(t.TempDir(), "events.parquet")
			writeFile(t, mem, path, sc, 0, 3, 10)

			r := mustOpen(t, path, "", Options{Allocator: mem})
			if got := r.Schema().NumFields(); got != 2 {
				t.Errorf("Schema() = %s, want id and payload", r.Schema())
			}
			if got := ids(t, r); !slices.Equal(got, []int64{0, 1, 2}) {
				t.Errorf("read ids %v, want [0 1 2]", got)
			}
			r.Close()

			r = mustOpen(t, path, "", Options{Allocator: mem, Exclude: []string{"payload"}})
			defer r.Close()
			if got := r.Schema().NumFields(); got != 1 {
				t.Errorf("with payload excluded Schema() = %s, want only id", r.Schema())
			}
		})
	}
}

func TestExclude(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	path := filepath.Join(t.TempDir(), "all.parquet")
	writeFile(t, mem, path, allTypes, 0, 20, 10)

	t.Run("drops the columns", func(t *testing.T) {
		r := mustOpen(t, path, "", Options{Allocator: mem, Exclude: []string{"i8", "dict", "ts_ns_utc"}})
		defer r.Close()
		recs := readAll(t, r)
		defer releaseAll(recs)
		for _, name := range []string{"i8", "dict", "ts_ns_utc"} {
			if idx := r.Schema().FieldIndices(name); len(idx) != 0 {
				t.Errorf("Schema() still has excluded column %s", name)
			}
		}
		if got, want := r.Schema().NumFields(), allTypes.NumFields()-3; got != want {
			t.Errorf("Schema() has %d columns, want %d", got, want)
		}
		if len(recs) == 0 || recs[0].NumCols() != int64(r.Schema().NumFields()) {
			t.Errorf("batches do not have the schema's %d columns", r.Schema().NumFields())
		}
	})

	t.Run("unknown column", func(t *testing.T) {
		r, err := Open(context.Background(), path, "", Options{Allocator: mem, Exclude: []string{"nope"}})
		if err == nil {
			r.Close()
			t.Fatal("Open succeeded excluding a column that does not exist, want an error")
		}
		for _, s := range []string{path, `"nope"`, "does not exist", `"i8"`} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("Open error %q does not mention %s", err, s)
			}
		}
	})
}

func TestNotParquet(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "broken.parquet")
	if err := os.WriteFile(path, []byte("id,amount\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), dir, "", Options{})
	if err == nil {
		r.Close()
		t.Fatal("Open succeeded on a CSV file, want an error")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("Open error %q does not name the file %s", err, path)
	}
}

func TestCloseAndCancel(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	path := filepath.Join(t.TempDir(), "t.parquet")
	writeFile(t, mem, path, allTypes, 0, 500, 200)

	t.Run("close mid-stream releases everything", func(t *testing.T) {
		r := mustOpen(t, path, "", Options{Allocator: mem, BatchRows: 50})
		rec, err := r.Next(context.Background())
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		rec.Release()
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := r.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := r.Next(context.Background()); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("Next after Close error = %v, want a read-after-close error", err)
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		r := mustOpen(t, path, "", Options{Allocator: mem, BatchRows: 50})
		defer r.Close()
		ctx, cancel := context.WithCancel(context.Background())
		rec, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		rec.Release()
		cancel()
		if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Next with a cancelled context error = %v, want context.Canceled", err)
		}
	})

	t.Run("cancelled before open", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Open(ctx, path, "", Options{Allocator: mem}); !errors.Is(err, context.Canceled) {
			t.Errorf("Open with a cancelled context error = %v, want context.Canceled", err)
		}
	})
}
