package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/cubesync/cubesync/internal/arrowalloc"
	"github.com/cubesync/cubesync/sink"
	"github.com/cubesync/cubesync/sources"
)

// arrowPoolIdle bounds the freed Arrow buffers a table's reader keeps for reuse: a few
// batches' worth (a batch of batchRows rows of a dozen columns is a few MB).
const arrowPoolIdle = 32 << 20

// openTables opens the source of every selected table, in job order, and works out what
// each pushes. On error the tables opened so far are returned for the caller to close.
func (r *Runner) openTables(ctx context.Context, job *Job, opts RunOptions, live *Live) ([]*openTable, error) {
	var marks map[string]Watermark
	if r.Store != nil {
		var err error
		if marks, err = r.Store.Watermarks(ctx, job.Name); err != nil {
			return nil, fmt.Errorf("read watermarks: %w", err)
		}
	}
	var out []*openTable
	for _, t := range job.Tables {
		if len(opts.Tables) > 0 && !slices.Contains(opts.Tables, t.Name) {
			continue
		}
		counter := new(sources.Counter)
		ot, err := r.openTraced(ctx, job, t, marks[t.Name], opts, counter)
		if err != nil {
			return out, fmt.Errorf("table %q: %w", t.Name, err)
		}
		var totalRows, totalBytes int64
		if tot, ok := ot.reader.(sources.Total); ok {
			totalRows, totalBytes = tot.Total()
		}
		ot.live = live.addTable(t.Name, counter, totalRows, totalBytes)
		out = append(out, ot)
	}
	return out, nil
}

// openTraced is openTable in a span of its own: for a query, connecting and running it
// until the first rows; for Parquet, finding and opening the files.
func (r *Runner) openTraced(ctx context.Context, job *Job, t *Table, mark Watermark, opts RunOptions, counter *sources.Counter) (ot *openTable, err error) {
	kind, attrs := t.sourceKind(), []attribute.KeyValue{attrTable.String(t.Name)}
	if t.Source != nil {
		attrs = append(attrs, attrSource.String(t.Source.Name))
	}
	ctx, span := r.tracer().Start(ctx, "open source", trace.WithAttributes(append(attrs, attrKind.String(kind))...))
	defer func() {
		if ot != nil && len(ot.files) > 0 {
			span.SetAttributes(attrFiles.Int(len(ot.files)))
		}
		r.endSpan(span, err)
	}()
	return r.openTable(ctx, job, t, mark, opts, counter)
}

func (r *Runner) openTable(ctx context.Context, job *Job, t *Table, mark Watermark, opts RunOptions, counter *sources.Counter) (*openTable, error) {
	ot := &openTable{table: t, policy: t.Policy}
	alloc := r.Allocator
	if alloc == nil {
		// Batch after batch of the same shape: their buffers are reused rather than left
		// to the garbage collector (see arrowalloc).
		alloc = arrowalloc.New(arrowPoolIdle)
	}
	if t.Incremental != nil && opts.ReplaceIncremental {
		ot.policy = sink.Replace
	}
	src, err := r.openSource(ctx, job, t, mark, opts, alloc, counter)
	if err != nil {
		return nil, err
	}
	ot.reader, ot.files, ot.readErrorsRecur = src.reader, src.files, src.readErrorsRecur
	if ot.shape, err = shapeTable(t, ot.reader.Schema(), src.dropped); err != nil {
		_ = ot.reader.Close()
		return nil, err
	}
	if inc := t.Incremental; inc != nil && inc.Column != "" {
		if ot.tracker, err = newMaxTracker(ot.reader.Schema(), inc.Column); err != nil {
			_ = ot.reader.Close()
			return nil, inputError(err)
		}
	}
	return ot, nil
}

// dataset returns the id of the job's dataset, creating it on the first run, and checks an
// existing one still has every table and column this run pushes.
func (r *Runner) dataset(ctx context.Context, c *sink.Client, job *Job, tables []*openTable, opts RunOptions, log *slog.Logger) (string, error) {
	id := job.Dataset.ID
	if id == "" {
		var err error
		id, err = r.Store.DatasetID(ctx, job.Name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return "", fmt.Errorf("read dataset id: %w", err)
		}
	}
	shapes := make([]*tableShape, len(tables))
	for i, t := range tables {
		shapes[i] = t.shape
	}
	if id == "" {
		if len(tables) < len(job.Tables) {
			return "", inputError(fmt.Errorf("dataset %q does not exist yet: run every table of the job once (without --tables) to create it", job.Dataset.Name))
		}
		model := buildModel(job.Dataset.Name, job.Description, job.Target.FolderID, shapes)
		var err error
		if id, err = c.CreateDataset(ctx, model); err != nil {
			return "", fmt.Errorf("create dataset %q: %w", job.Dataset.Name, err)
		}
		if err := r.write("record_dataset", func() error { return r.Store.SetDatasetID(ctx, job.Name, id, job.Dataset.Name) }); err != nil {
			return "", fmt.Errorf("remember dataset id %s: %w", id, err)
		}
		// The client logs "dataset created" with the id and name.
		if !job.Target.Embedded() {
			// The Push Data API has no search by name: a run without this state cannot find
			// the dataset, and its model POST would overwrite it (push-api.md).
			log.Warn(fmt.Sprintf("the new dataset's id is kept in the state store only: set dataset = { name = %q, id = %q } in job %s, so that a run without this state (a container without its volume) pushes into it rather than creating %q again over it",
				job.Dataset.Name, id, job.Name, job.Dataset.Name), "dataset", id)
		}
		return id, nil
	}
	def, err := c.Definition(ctx, id)
	if err != nil {
		if sink.IsNotFound(err) {
			return "", inputError(fmt.Errorf("%w; %s", err, missingDatasetHint(job)))
		}
		return "", err
	}
	if msg := job.DatasetNameDrift(def.Name); msg != "" {
		log.Warn(msg, "dataset", id)
	}
	if job.Dataset.ID == "" && def.Name != "" {
		// Remember the name as the server has it, for validate to compare dataset.name with.
		if kept, err := r.Store.DatasetName(ctx, job.Name); err == nil && kept != def.Name {
			if err := r.Store.SetDatasetID(ctx, job.Name, id, def.Name); err != nil {
				return "", fmt.Errorf("remember the name of dataset %s: %w", id, err)
			}
		}
	}
	mts := make([]sink.ModelTable, len(shapes))
	for i, s := range shapes {
		mts[i] = s.modelTable()
	}
	rep, err := def.Check(mts)
	for _, w := range rep.Warnings {
		log.Warn("dataset check: "+w, "dataset", id)
	}
	if mm, ok := errors.AsType[*sink.MismatchError](err); ok {
		err = &mismatchError{mm, job}
	}
	if err != nil {
		return "", inputError(err) // the error names the dataset
	}
	for _, n := range rep.Narrowed {
		advice := fmt.Sprintf("%s; a larger value cannot load into this dataset: have the column widened on the server, or push into a new dataset (%s)",
			n.Reason, newDatasetHow(job))
		for _, s := range shapes {
			if strings.EqualFold(s.name, n.Table) {
				s.narrow(n.Column, n.DataType, advice)
			}
		}
	}
	return id, nil
}

// missingDatasetHint says how to get going again when the job's dataset is gone.
func missingDatasetHint(job *Job) string {
	if job.Dataset.ID != "" {
		return fmt.Sprintf("the dataset.id of job %q names a dataset this project does not have: correct it, or remove it to have a new dataset created", job.Name)
	}
	return fmt.Sprintf("the dataset job %q created earlier is gone: run `cubesync state forget-dataset %s` to have the next run create a new one", job.Name, job.Name)
}

// mismatchError is a sink.MismatchError as the user of the jobs file reads it: what to
// change in the job.
type mismatchError struct {
	*sink.MismatchError
	job *Job
}

func (e *mismatchError) Error() string {
	return fmt.Sprintf("dataset %q (id %s) does not match the job: %s; fix the job's tables and columns to match the dataset, "+
		"or point the job at a new dataset (%s; cubesync never recreates a dataset by itself: that would break the dashboards built on it)",
		e.DatasetName, e.DatasetID, strings.Join(e.Problems, "; "), newDatasetHow(e.job))
}

func (e *mismatchError) Unwrap() error { return e.MismatchError }

// newDatasetHow says how to have the job push into a new dataset.
func newDatasetHow(job *Job) string {
	if job.Dataset.ID != "" {
		return "remove dataset.id, or set it to the new dataset's id"
	}
	return fmt.Sprintf("run `cubesync state forget-dataset %s`, and the next run creates one", job.Name)
}

// DatasetNameDrift says what to do when the dataset the job pushes into is named
// serverName (on the server, or as the state store remembers it) while dataset.name says
// otherwise; "" when the names agree or serverName is not known.
func (j *Job) DatasetNameDrift(serverName string) string {
	if serverName == "" || serverName == j.Dataset.Name {
		return ""
	}
	if j.Dataset.ID != "" {
		return fmt.Sprintf("dataset.name of job %q is %q but dataset %s is named %q on the server: the job pushes into %q; correct dataset.name to silence this",
			j.Name, j.Dataset.Name, j.Dataset.ID, serverName, serverName)
	}
	return fmt.Sprintf("dataset.name of job %q is %q but the dataset it remembers is named %q: the job keeps pushing into %q; run `cubesync state forget-dataset %s` to have the next run create a new dataset %q, or set dataset.name back",
		j.Name, j.Dataset.Name, serverName, serverName, j.Name, j.Dataset.Name)
}

// pushTable streams one table: the source is read on one goroutine, which hands its
// records to the encoder's workers (one per core) and puts their JSON together in row
// order, while chunks are uploaded on another. The channel between them is unbuffered, so
// at most two chunks exist at a time — chunk N being uploaded while chunk N+1 is encoded
// (and then waits to be handed over) — and memory is bounded by the chunk size whatever
// the number of rows.
func (r *Runner) pushTable(ctx context.Context, job *Job, t *openTable, session *lazySession, log *slog.Logger, live *Live) (tr TableResult, err error) {
	ctx, span := r.tracer().Start(ctx, "table", trace.WithAttributes(attrTable.String(t.table.Name), attrPolicy.String(string(t.policy))))
	defer func() {
		span.SetAttributes(attrRows.Int64(tr.Rows), attrBytes.Int64(tr.Bytes), attrChunks.Int64(tr.Chunks))
		r.endSpan(span, err)
	}()
	tr = TableResult{Name: t.table.Name, Policy: t.policy}
	start := r.now()
	live.tableStage(t.live, StageReading)
	enc, err := sink.NewEncoder(t.reader.Schema(), t.shape.encodeColumns(), job.ChunkSize)
	if err != nil {
		return tr, inputError(fmt.Errorf("table %q: %w", t.table.Name, err))
	}
	enc.SetWorkers(runtime.GOMAXPROCS(0))
	defer processMemoryLimit.reserve(tableHeapBudget(t.reader.Schema().NumFields(), job.ChunkSize))()

	g, gctx := errgroup.WithContext(ctx)
	chunks := make(chan *sink.Chunk)
	g.Go(func() error {
		defer close(chunks)
		// Before chunks is closed: the encoder emits from a goroutine of its own, also
		// after a read error ends this one, until it is closed. Chunks emitted earlier
		// stay valid until the uploader releases them.
		defer enc.Close()
		emit := func(c *sink.Chunk) error {
			select {
			case chunks <- c:
				return nil
			case <-gctx.Done():
				c.Release()
				return context.Cause(gctx)
			}
		}
		for {
			rec, err := t.reader.Next(gctx)
			if errors.Is(err, io.EOF) {
				live.tableStage(t.live, StageUploading)
				err := enc.Flush(emit)
				if _, ok := errors.AsType[*sink.ValueError](err); ok {
					err = inputError(err)
				}
				return tableError(t.table.Name, err)
			}
			if err != nil {
				err = fmt.Errorf("table %q: read%s: %w", t.table.Name, t.sourceName(), err)
				if t.readErrorsRecur && gctx.Err() == nil {
					err = inputError(err) // a corrupt file stays corrupt
				}
				return err
			}
			if t.tracker != nil {
				t.tracker.observe(rec)
			}
			err = enc.Write(rec, emit)
			rec.Release()
			if _, ok := errors.AsType[*sink.ValueError](err); ok {
				err = inputError(err) // the same rows fail the same way
			}
			if err != nil {
				return tableError(t.table.Name, err)
			}
		}
	})
	g.Go(func() error {
		for c := range chunks {
			rows, size := int64(c.Rows()), c.Len()
			s, err := session.get(gctx)
			if err == nil && s != nil {
				err = s.Upload(gctx, t.table.Name, c)
			}
			if err != nil {
				c.Release()
				for c := range chunks { // unblock the encoder so it sees the cancellation
					c.Release()
				}
				return err
			}
			c.Release()
			tr.Rows += rows
			tr.Bytes += size
			tr.Chunks++
			t.live.pushed(rows, size)
		}
		return nil
	})
	err = g.Wait()
	tr.Duration = r.now().Sub(start)
	st := enc.Stats()
	tr.NonFinite, tr.InvalidUTF8 = st.NonFinite, st.InvalidUTF8
	if err == nil && tr.Rows == 0 && t.policy == sink.Replace && !t.table.AllowEmpty {
		err = inputError(fmt.Errorf("table %q: the source returned no rows and the policy is replace, which would empty the table; set allow_empty = true if an empty table is expected", t.table.Name))
	}
	if err == nil && t.tracker != nil {
		if v, ok := t.tracker.value(); ok {
			tr.Watermark = v
		}
	}
	if err != nil {
		live.tableStage(t.live, StageFailed)
	} else {
		live.tableStage(t.live, StageDone)
	}
	if err != nil {
		// Read and encode errors were given the table's name above; upload errors name it
		// (and the chunk) themselves, and the session's errors are not the table's.
		return tr, err
	}
	if st.NonFinite > 0 {
		log.Warn("NaN or infinite values sent as null", "table", t.table.Name, "count", st.NonFinite, "columns", st.NonFiniteByColumn)
	}
	if st.InvalidUTF8 > 0 {
		log.Warn("invalid UTF-8 replaced with U+FFFD", "table", t.table.Name, "count", st.InvalidUTF8, "columns", st.InvalidUTF8ByColumn)
	}
	msg := "table pushed"
	if session == nil {
		msg = "would push" // a dry run: read and encoded, not sent
	}
	log.Info(msg, "table", tr.Name, "policy", string(tr.Policy), "rows", tr.Rows, "bytes", tr.Bytes, "chunks", tr.Chunks,
		"duration", tr.Duration.Round(time.Millisecond), "rows_per_s", int64(tr.RowsPerSecond()))
	return tr, nil
}

// tableError adds the table's name to a read or encode error; nil stays nil. (When an
// upload fails, the reader's error is the cancellation that follows; the errgroup reports
// the upload's own error, which names the table and chunk.)
func tableError(table string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("table %q: %w", table, err)
}

// sourceName names a query table's source for read errors (a Parquet reader's errors
// name the file themselves).
func (t *openTable) sourceName() string {
	if t.table.Source == nil {
		return ""
	}
	return fmt.Sprintf(" source %q", t.table.Source.Name)
}
