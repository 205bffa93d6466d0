package jobs

// The one place that maps a table's config to a source backend. The runner (push.go) opens
// every table through openSource and knows only sources.Reader; a new kind of source is a
// sibling package of sources/postgres and sources/parquetfile, its keys in config_decode.go,
// and a case here.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/cubesync/cubesync/internal/arrowalloc"
	"github.com/cubesync/cubesync/sources"
	"github.com/cubesync/cubesync/sources/parquetfile"
	"github.com/cubesync/cubesync/sources/postgres"
)

// batchRows bounds the rows of one Arrow record batch read from a source.
const batchRows = 64 * 1024

// parquetPattern is the table's parquet pattern as written, the directory it resolves
// against and how errors name that directory (the jobs file's).
func (t *Table) parquetPattern() (pattern, base, baseName string) {
	if t.ParquetPattern == "" {
		return t.Parquet, "", ""
	}
	dir := t.BaseDir
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return t.ParquetPattern, t.BaseDir, "the directory of the jobs file, " + dir
}

// CheckParquetFiles reports, for a parquet table, whether its path or glob matches any
// file now, without opening one (validate warns: files may still arrive before a run).
// The error wraps parquetfile.ErrNoFiles when none matches. A query table has nothing to check.
func (t *Table) CheckParquetFiles() error {
	if t.Parquet == "" {
		return nil
	}
	pattern, base, baseName := t.parquetPattern()
	_, err := parquetfile.Files(pattern, base, baseName)
	return err
}

// sourceKind names the kind of a table's source, for traces: "parquet" or "postgres".
func (t *Table) sourceKind() string {
	if t.Parquet != "" {
		return "parquet"
	}
	return "postgres"
}

// tableSource is a table's source, open for one run.
type tableSource struct {
	reader  sources.Reader
	files   []LoadedFile // the files this run loads (Parquet with incremental files = "new")
	dropped []string     // columns the source left out (exclude), which the shape must not expect
	// readErrorsRecur: an error reading it recurs when the run is tried again.
	readErrorsRecur bool
}

// openSource opens the source of table t for one run: the query with the watermark mark
// bound as $1, or the Parquet files (only the new ones for incremental files = "new").
// Errors that running the job again would repeat are input errors.
func (r *Runner) openSource(ctx context.Context, job *Job, t *Table, mark Watermark, opts RunOptions, alloc memory.Allocator, counter *sources.Counter) (tableSource, error) {
	if t.Parquet != "" {
		return r.openParquet(ctx, job, t, opts, alloc, counter)
	}
	return r.openQuery(ctx, t, mark, opts, alloc, counter)
}

// openParquet opens the files of a parquet table.
func (r *Runner) openParquet(ctx context.Context, job *Job, t *Table, opts RunOptions, alloc memory.Allocator, counter *sources.Counter) (tableSource, error) {
	// Excluded columns are not even read, so an unsupported type can be left out.
	src := tableSource{dropped: t.Exclude, readErrorsRecur: true}
	popts := parquetfile.Options{BatchRows: batchRows, Allocator: alloc, Exclude: t.Exclude, Counter: counter}
	if pool, ok := alloc.(*arrowalloc.Pool); ok {
		// The batches' pool takes the pages too: one budget of idle buffers, shared.
		popts.PageAllocator = pool
	}
	if t.Incremental != nil && t.Incremental.NewFiles && !opts.FullRefresh {
		loaded, err := r.Store.LoadedFiles(ctx, job.Name, t.Name)
		if err != nil {
			return src, fmt.Errorf("read loaded files: %w", err)
		}
		popts.Only = func(f parquetfile.FileInfo) bool {
			prev, ok := loaded[f.Path]
			return !ok || prev.Size != f.Size || !prev.ModTime.Equal(f.ModTime)
		}
	}
	pattern, base, baseName := t.parquetPattern()
	popts.BaseDirName = baseName
	pr, err := parquetfile.Open(ctx, pattern, base, popts)
	if err != nil {
		if ctx.Err() != nil {
			return src, err
		}
		// A missing, empty or corrupt file, or files of two schemas: running the job
		// again reads the same files and fails the same way.
		return src, inputError(err)
	}
	src.reader = pr
	if t.Incremental != nil && t.Incremental.NewFiles {
		for _, f := range pr.Files() {
			if popts.Only == nil || popts.Only(f) {
				src.files = append(src.files, LoadedFile{Job: job.Name, Table: t.Name, Path: f.Path, Size: f.Size, ModTime: f.ModTime})
			}
		}
	}
	return src, nil
}

// openQuery runs the query of a table on its Postgres source.
func (r *Runner) openQuery(ctx context.Context, t *Table, mark Watermark, opts RunOptions, alloc memory.Allocator, counter *sources.Counter) (tableSource, error) {
	var src tableSource
	var args []any
	if inc := t.Incremental; inc != nil && inc.Column != "" {
		arg := watermarkArg("", inc.Initial)
		if mark.Value != "" && !opts.FullRefresh {
			arg = watermarkArg(mark.Kind, mark.Value)
			if inc.Lookback > 0 {
				var err error
				if arg, err = lookbackArg(mark, inc.Lookback); err != nil {
					return src, inputError(err)
				}
			}
		}
		args = append(args, arg)
	}
	popts := postgres.Options{BatchRows: batchRows, Allocator: alloc, Logger: r.logger(), Counter: counter}
	var err error
	if t.Parallel > 1 {
		src.reader, err = postgres.OpenParallel(ctx, t.Source.DSN, t.Query, args, t.Parallel, t.ParallelColumn, popts)
	} else {
		src.reader, err = postgres.Open(ctx, t.Source.DSN, t.Query, args, popts)
	}
	if err != nil {
		err = fmt.Errorf("source %q: %w", t.Source.Name, err)
		if _, ok := errors.AsType[*postgres.UnsupportedTypeError](err); ok {
			return src, inputError(err) // the query needs a cast: running it again fails again
		}
		return src, err
	}
	return src, nil
}
