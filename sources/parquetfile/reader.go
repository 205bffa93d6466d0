package parquetfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/cubesync/cubesync/internal/arrowalloc"
	"github.com/cubesync/cubesync/sources"
)

// DefaultBatchRows is the number of rows per record batch when Options.BatchRows is not set.
const DefaultBatchRows = 64 * 1024

// readBufferSize is the buffered-stream size for reading column chunks. Pages are read
// through it instead of loading whole column chunks, so a large row group costs little memory.
// It holds page headers and small pages only: a page larger than it is read straight into
// the page's own buffer. Each column chunk read allocates one, so a larger buffer (it was
// 1 MiB) is mostly garbage: 75 MB of it per 2 M rows of 6 columns.
const readBufferSize = 64 << 10

// pagePoolIdle bounds the freed page buffers a Reader's own page pool keeps: a page and its
// decompressed copy per column, pages being about 1 MiB.
const pagePoolIdle = 16 << 20

var _ sources.Reader = (*Reader)(nil)

// Options tune Open. The zero value reads every matched file in batches of DefaultBatchRows.
type Options struct {
	// BatchRows is the most rows a record batch holds; 0 or less means DefaultBatchRows.
	BatchRows int
	// Allocator allocates the record batches' memory; nil means memory.DefaultAllocator.
	Allocator memory.Allocator
	// PageAllocator allocates the buffers pages are read and decompressed into; they are
	// freed at the end of each column chunk. nil means a pool of the Reader's own, so that
	// every column chunk reuses the buffers of the one before instead of faulting in fresh
	// memory (most of the cost of reading an uncompressed file). The Parquet decoders drop
	// some buffers without freeing them: it must not be a checked allocator.
	PageAllocator memory.Allocator
	// Sequential decodes the columns of a batch one after another on the goroutine that
	// calls Next. By default they are decoded at once, a goroutine each.
	Sequential bool
	// Only selects the files to read among those matched (for incremental loads: the files
	// not loaded yet); nil reads them all. Files still lists every match.
	Only func(f FileInfo) bool
	// Exclude names columns that are not read at all: they are neither type-checked nor
	// compared between files, and they are absent from Schema and from the batches.
	Exclude []string
	// BaseDirName is how errors name Open's baseDir, e.g. "the directory of jobs.toml
	// (/srv/etl)"; "" names it by its path.
	BaseDirName string
	// Counter, if set, is told of the rows of every batch as it is decoded, and of the
	// compressed bytes of the columns read (see Total).
	Counter *sources.Counter
}

// Reader streams the rows of a table's Parquet files, file after file in path order and row
// group after row group, as record batches of at most Options.BatchRows rows. It implements
// sources.Reader. A Reader is not safe for concurrent use.
type Reader struct {
	pattern   string
	files     []FileInfo // every match, in order
	toRead    []FileInfo // the matches Only selected
	schema    *arrow.Schema
	mem       memory.Allocator
	pages     memory.Allocator // the page readers' buffers
	parallel  bool             // decode a batch's columns at once
	batchRows int
	exclude   map[string]bool
	counter   *sources.Counter // never nil
	totalRows int64            // of the selected files, from their footers
	totalSize int64            // compressed bytes of the columns read, from the footers

	next     int                  // index in toRead of the next file to open
	cur      *openFile            // the file being read, nil between files
	rowGroup int                  // next row group of cur to read
	rr       pqarrow.RecordReader // the row group being read, nil between row groups
	// the row group being read, for counting its bytes in proportion to its rows
	rgRows, rgSize, rgRead, rgCounted int64
	closed                            bool
	// ctx is the context of the Open or Next call under way; the open files check it
	// before every read. Kept here because the Parquet library's readers take none.
	ctx context.Context
}

// openFile is one Parquet file opened for reading.
type openFile struct {
	info   FileInfo
	pf     *file.Reader
	fr     *pqarrow.FileReader
	fields []arrow.Field // the columns read, Exclude left out
	leaves []int         // the Parquet leaf columns behind fields
}

func (f *openFile) close() error { return f.pf.Close() }

// rowGroupSize is the compressed size of the columns read in row group rg, from the footer.
func (f *openFile) rowGroupSize(rg int) int64 {
	md := f.pf.MetaData().RowGroup(rg)
	var n int64
	for _, leaf := range f.leaves {
		if cc, err := md.ColumnChunk(leaf); err == nil {
			n += cc.TotalCompressedSize()
		}
	}
	return n
}

// Open resolves pattern to Parquet files and returns a Reader over them.
//
// pattern is a file, a directory (every *.parquet file directly in it, names starting with
// '.' or '_' skipped) or a glob; when relative it is resolved against baseDir (or the working
// directory when baseDir is empty). Files are read in path order. Open reads every selected
// file's footer and fails, naming the file and the column, when two files' schemas differ.
// When no file matches, the error wraps
// ErrNoFiles. When files match but Only selects none, the Reader is empty and its schema is
// that of the last matched file.
func Open(ctx context.Context, pattern, baseDir string, opts Options) (*Reader, error) {
	files, err := resolve(pattern, baseDir, opts.BaseDirName)
	if err != nil {
		return nil, err
	}
	r := &Reader{
		pattern:   pattern,
		files:     files,
		mem:       opts.Allocator,
		batchRows: opts.BatchRows,
		exclude:   make(map[string]bool, len(opts.Exclude)),
		counter:   opts.Counter,
		ctx:       ctx,
	}
	if r.counter == nil {
		r.counter = &sources.Counter{}
	}
	r.pages, r.parallel = opts.PageAllocator, !opts.Sequential
	if r.pages == nil {
		r.pages = arrowalloc.New(pagePoolIdle)
	}
	if r.mem == nil {
		r.mem = memory.DefaultAllocator
	}
	if r.batchRows <= 0 {
		r.batchRows = DefaultBatchRows
	}
	for _, c := range opts.Exclude {
		r.exclude[c] = true
	}
	for _, f := range files {
		if opts.Only == nil || opts.Only(f) {
			r.toRead = append(r.toRead, f)
		}
	}

	check := r.toRead
	if len(check) == 0 {
		check = files[len(files)-1:]
	}
	var first *openFile
	for _, info := range check {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("parquet %q: %w", pattern, err)
		}
		f, err := r.open(info)
		if err != nil {
			return nil, err
		}
		if len(r.toRead) > 0 {
			r.totalRows += f.pf.NumRows()
			for rg := range f.pf.NumRowGroups() {
				r.totalSize += f.rowGroupSize(rg)
			}
		}
		err = errors.Join(r.checkFile(f, first), f.close())
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = f
			if err := r.checkFirst(f, opts.Exclude); err != nil {
				return nil, err
			}
			r.schema = arrow.NewSchema(slices.Clone(f.fields), nil)
			continue
		}
		// A column may be required in one file and optional in another; the stream's
		// schema says nullable when any file does.
		for i, fld := range f.fields {
			if fld.Nullable && !r.schema.Field(i).Nullable {
				fields := r.schema.Fields()
				fields[i].Nullable = true
				r.schema = arrow.NewSchema(fields, nil)
			}
		}
	}
	return r, nil
}

// checkFirst checks the reference file of the stream: every excluded column must exist and
// some column must be left. Which types push is not decided here: the sink's type table
// decides that for every source, once the schema is known.
func (r *Reader) checkFirst(f *openFile, exclude []string) error {
	for _, name := range exclude {
		if !slices.ContainsFunc(f.fr.Manifest.Fields, func(sf pqarrow.SchemaField) bool { return sf.Field.Name == name }) {
			return fmt.Errorf("parquet file %s: excluded column %q does not exist (its columns: %s)",
				f.info.Path, name, columnNames(f.fr))
		}
	}
	if len(f.fields) == 0 {
		return fmt.Errorf("parquet file %s: no column left to read once %s are excluded", f.info.Path, strings.Join(exclude, ", "))
	}
	return nil
}

// checkFile compares f's columns with those of ref, the first file of the stream; a nil ref
// accepts anything.
func (r *Reader) checkFile(f, ref *openFile) error {
	if ref == nil {
		return nil
	}
	mismatch := func(format string, args ...any) error {
		return &SchemaMismatchError{File: ref.info.Path, OtherFile: f.info.Path, Detail: fmt.Sprintf(format, args...)}
	}
	for i := range max(len(ref.fields), len(f.fields)) {
		switch {
		case i >= len(f.fields):
			return mismatch("column %q is missing from the second", ref.fields[i].Name)
		case i >= len(ref.fields):
			return mismatch("column %q is missing from the first", f.fields[i].Name)
		case ref.fields[i].Name != f.fields[i].Name:
			return mismatch("column %d is %q in the first and %q in the second", i+1, ref.fields[i].Name, f.fields[i].Name)
		case !arrow.TypeEqual(ref.fields[i].Type, f.fields[i].Type):
			return mismatch("column %q is %s in the first and %s in the second", ref.fields[i].Name, ref.fields[i].Type, f.fields[i].Type)
		}
	}
	return nil
}

// openRegular opens path for reading, refusing anything but a regular file: the file may have
// been replaced by a named pipe or a device since the pattern was resolved, and opening or
// reading those can block for ever. Every read of the returned file first checks *ctx.
func openRegular(path string, ctx *context.Context) (*ctxFile, error) {
	f, err := openNoBlock(path)
	if err != nil {
		return nil, fmt.Errorf("parquet file %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("parquet file %s: %w", path, err), f.Close())
	}
	if !st.Mode().IsRegular() {
		return nil, errors.Join(fmt.Errorf("parquet file %s is %s, %w: cubesync reads only regular Parquet files",
			path, describeMode(st.Mode()), ErrNotRegular), f.Close())
	}
	return &ctxFile{File: f, ctx: ctx}, nil
}

// ctxFile is an open Parquet file whose reads stop once the run's context is done, so a
// cancelled or timed-out run leaves a file between two reads rather than at its end.
type ctxFile struct {
	*os.File
	ctx *context.Context // the Reader's current context, set by Open and Next
}

func (f *ctxFile) ReadAt(p []byte, off int64) (int, error) {
	if err := (*f.ctx).Err(); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *ctxFile) Read(p []byte) (int, error) {
	if err := (*f.ctx).Err(); err != nil {
		return 0, err
	}
	return f.File.Read(p)
}

// open opens one file and works out the columns to read from it.
func (r *Reader) open(info FileInfo) (*openFile, error) {
	// Buffered streams read a column chunk page by page rather than whole, into buffers
	// from r.pages; the record batches handed out come from r.mem.
	props := parquet.NewReaderProperties(r.pages)
	props.BufferedStreamEnabled = true
	props.BufferSize = readBufferSize
	src, err := openRegular(info.Path, &r.ctx)
	if err != nil {
		return nil, err
	}
	pf, err := file.NewParquetReader(src, file.WithReadProps(props))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("parquet file %s: %w (is it a Parquet file?)", info.Path, err), src.Close())
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(r.batchRows), Parallel: r.parallel}, r.mem)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("parquet file %s: schema: %w", info.Path, err), pf.Close())
	}
	f := &openFile{info: info, pf: pf, fr: fr}
	for i := range fr.Manifest.Fields {
		sf := &fr.Manifest.Fields[i]
		if r.exclude[sf.Field.Name] {
			continue
		}
		// Field metadata is dropped: pqarrow adds PARQUET:field_id to every field, and the
		// stream's schema must not depend on which file a batch came from.
		fld := *sf.Field
		fld.Metadata = arrow.Metadata{}
		f.fields = append(f.fields, fld)
		f.leaves = appendLeaves(f.leaves, sf)
	}
	return f, nil
}

func appendLeaves(dst []int, sf *pqarrow.SchemaField) []int {
	if sf.IsLeaf() {
		return append(dst, sf.ColIndex)
	}
	for i := range sf.Children {
		dst = appendLeaves(dst, &sf.Children[i])
	}
	return dst
}

func columnNames(fr *pqarrow.FileReader) string {
	names := make([]string, len(fr.Manifest.Fields))
	for i, sf := range fr.Manifest.Fields {
		names[i] = fmt.Sprintf("%q", sf.Field.Name)
	}
	return strings.Join(names, ", ")
}

// Files returns every file the pattern matched, in read order, including those Only left
// out; the caller records them as loaded once the run succeeds.
func (r *Reader) Files() []FileInfo { return slices.Clone(r.files) }

// Schema returns the schema of every batch Next returns.
func (r *Reader) Schema() *arrow.Schema { return r.schema }

// Next returns the next batch of at most Options.BatchRows rows, or io.EOF after the last
// one. The caller must Release the batch.
func (r *Reader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if r.closed {
		return nil, fmt.Errorf("parquet %q: read after close", r.pattern)
	}
	r.ctx = ctx
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("parquet %q: %w", r.pattern, err)
		}
		switch {
		case r.rr != nil:
			rec, err := r.rr.Read()
			if errors.Is(err, io.EOF) || (err == nil && rec == nil) {
				r.rr.Release()
				r.rr = nil
				continue
			}
			if err != nil {
				if ctxErr := ctx.Err(); ctxErr != nil {
					err = ctxErr // the read stopped because the run ended, not because the file is bad
				}
				return nil, fmt.Errorf("parquet file %s row group %d: %w", r.cur.info.Path, r.rowGroup-1, err)
			}
			if rec.NumRows() == 0 {
				continue
			}
			r.count(rec.NumRows())
			// Rebuild on the stream's schema: files may differ in nullability and metadata.
			return array.NewRecordBatch(r.schema, rec.Columns(), rec.NumRows()), nil

		case r.cur != nil:
			if r.rowGroup >= r.cur.pf.NumRowGroups() {
				path, err := r.cur.info.Path, r.cur.close()
				r.cur = nil
				if err != nil {
					return nil, fmt.Errorf("parquet file %s: close: %w", path, err)
				}
				continue
			}
			rg := r.rowGroup
			r.rowGroup++
			if r.cur.pf.MetaData().RowGroup(rg).NumRows() == 0 {
				continue
			}
			rr, err := r.cur.fr.GetRecordReader(ctx, r.cur.leaves, []int{rg})
			if err != nil {
				return nil, fmt.Errorf("parquet file %s row group %d: %w", r.cur.info.Path, rg, err)
			}
			r.rr = rr
			r.rgRows, r.rgSize, r.rgRead, r.rgCounted = r.cur.pf.MetaData().RowGroup(rg).NumRows(), r.cur.rowGroupSize(rg), 0, 0

		case r.next < len(r.toRead):
			info := r.toRead[r.next]
			r.next++
			f, err := r.open(info)
			if err != nil {
				return nil, err
			}
			// The file may have been replaced since Open read its footer.
			if err := r.checkStream(f); err != nil {
				return nil, errors.Join(err, f.close())
			}
			r.cur, r.rowGroup = f, 0

		default:
			return nil, io.EOF
		}
	}
}

// count adds a decoded batch of the current row group to the counter, with its share of
// the row group's bytes (the shares add up to the row group's size exactly).
func (r *Reader) count(rows int64) {
	r.rgRead += rows
	size := r.rgSize
	if r.rgRead < r.rgRows {
		size = r.rgSize * r.rgRead / r.rgRows
	}
	r.counter.Add(rows, size-r.rgCounted)
	r.rgCounted = size
}

// Total returns the rows and compressed bytes of the columns read of the selected files, as
// their footers give them: what the Counter reaches once the Reader is exhausted.
func (r *Reader) Total() (rows, bytes int64) { return r.totalRows, r.totalSize }

// checkStream checks that f's columns match the stream's schema.
func (r *Reader) checkStream(f *openFile) error {
	ok := len(f.fields) == r.schema.NumFields()
	for i := 0; ok && i < len(f.fields); i++ {
		ok = f.fields[i].Name == r.schema.Field(i).Name && arrow.TypeEqual(f.fields[i].Type, r.schema.Field(i).Type)
	}
	if !ok {
		return fmt.Errorf("parquet file %s changed while being read: its schema %s no longer matches %s", f.info.Path, arrow.NewSchema(f.fields, nil), r.schema)
	}
	return nil
}

// Close releases the file and buffers the Reader holds. It may be called at any time and
// more than once.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.rr != nil {
		r.rr.Release()
		r.rr = nil
	}
	if r.cur != nil {
		err := r.cur.close()
		path := r.cur.info.Path
		r.cur = nil
		if err != nil {
			return fmt.Errorf("parquet file %s: close: %w", path, err)
		}
	}
	return nil
}
