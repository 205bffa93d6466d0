package sink

// The encoder core: it binds a record batch's columns to their renderers (render*.go), splits
// the rows into tasks for its workers, puts their output back together in row order and cuts
// chunks at the chunk size. One cohesive thing: the ordering and memory bounds only hold
// together.

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// EncodeColumn is one pushed column: where it is in the record schema, its name in the
// dataset, and the dataType it is pushed as.
type EncodeColumn struct {
	// Index is the field index of the column in the record schema.
	Index int
	// Name is the column's name in the dataset; stats and errors use it.
	Name string
	// Type is the dataType pushed: usually MapType's, or a user's override. Empty means
	// MapType's.
	Type DataType
	// Advice, when set, replaces what a range error tells the user to do about a value that
	// does not fit Type (by default: choose a wider type), for a Type the caller narrowed
	// to fit the dataset's column rather than the user's choice.
	Advice string
}

// EncodeStats counts what an Encoder has emitted so far. NonFinite counts float values
// (NaN, +Inf, -Inf) sent as null because JSON has no spelling for them; InvalidUTF8 counts
// string values in which invalid UTF-8 bytes were replaced by U+FFFD. The ByColumn maps
// hold the same counts per column name, for columns with a non-zero count only (nil when
// there are none).
type EncodeStats struct {
	Rows   int64 // rows emitted
	Bytes  int64 // JSON bytes emitted (before base64)
	Chunks int64 // chunks emitted

	NonFinite           int64
	InvalidUTF8         int64
	NonFiniteByColumn   map[string]int64
	InvalidUTF8ByColumn map[string]int64
}

// Encoder turns Arrow record batches into column-oriented JSON chunks of at most a given
// size in bytes, cutting at row boundaries whatever the batch boundaries.
//
// Renderings (NULL is null for every type):
//   - INTEGER, BIGINTEGER: decimal digits, exact.
//   - DOUBLE: the shortest text that reads back as the same value at the column's own
//     precision (float16, float32 or float64), as a JSON number: plain digits for
//     magnitudes in [1e-6, 1e21), exponent form (1e+21, 1e-7) outside; NaN and ±Inf are
//     null and counted in EncodeStats.NonFinite.
//   - BIGDECIMAL: the exact decimal text with the column's scale kept (numeric(7,4) 123.45
//     is 123.4500); a negative scale appends zeros. Never through a float.
//   - BOOL: true or false.
//   - STRING: a JSON string; control characters, quote and backslash escaped, U+2028 and
//     U+2029 escaped; each invalid UTF-8 byte becomes U+FFFD and the value is counted in
//     EncodeStats.InvalidUTF8. UUIDs (the arrow.uuid extension) are their 8-4-4-4-12 hex.
//   - DATE: "2024-01-31". Years outside 0000–9999 use ISO 8601's expanded form as
//     java.time writes it: "+12345-01-01", "-0044-03-15" (astronomical years: 0 is 1 BC).
//   - TIME: "13:45:00", with a fraction only when it is not zero, trailing zeros trimmed
//     ("13:45:00.5", "13:45:00.123456", up to 9 digits for nanoseconds). 24:00:00 (which
//     Postgres allows) is kept; values outside 00:00:00–24:00:00 are an error.
//   - DATETIME: "2024-01-31T13:45:00" with a fraction as for TIME. A timestamp without a
//     zone is its wall time; a timestamp with a zone is the instant in UTC, in the same
//     format without a suffix (Arrow stores both as time since the epoch in UTC).
//
// A column pushed as STRING whose Arrow type is a number or a bool is sent as the same
// text in a JSON string. A column pushed as INTEGER or BIGINTEGER whose Arrow type can
// hold larger values is range checked: a value that does not fit is an error naming the
// column, the row and the value.
//
// A chunk's JSON document is never larger than the chunk size, and every chunk but the
// last is full: the next row would not have fitted. A single row whose JSON is larger
// than the chunk size on its own is an error (naming the row and its largest column)
// rather than an oversized chunk, because chunk_size is the bound the user set for the
// server's request size.
//
// Rows are rendered in tasks of a few thousand rows (a slice of one record), by the
// calling goroutine or, after SetWorkers(n > 1), by up to n goroutines at once; the
// tasks' JSON is then put together in row order, so the chunks are the same whichever
// way they were rendered. With several workers the putting together (and the calls of
// emit) happen on a goroutine of their own, so that the caller goes on reading the next
// batch meanwhile. Chunks are built in fixed-size blocks that Chunk.Release hands
// back to the encoder, so a steady pipeline reuses its memory and allocates almost
// nothing per chunk.
//
// Write and Flush are called from one goroutine; emit may be called on another (with
// several workers), also after Write returned, until Flush or Close returns: a caller
// that stops writing because of an error of its own must Close the encoder before it
// tears down what emit uses. Emitted chunks may be used and released, and Stats called,
// on any goroutine. After Write or Flush returned an error, the encoder
// returns that error from then on. Close frees the encoder's memory once it is done.
type Encoder struct {
	cols      []encColumn
	chunkSize int64
	overhead  int64 // JSON bytes of a chunk besides its columns' values and commas
	workers   int

	pool    *blockPool
	free    *freeList
	cur     *bufSet // the chunk being filled; nil until a row is added
	curRows int
	size    int64        // JSON size of the chunk being filled, overhead included
	rowsIn  int64        // rows accepted by Write so far, for row numbers in errors
	estRow  atomic.Int64 // estimated JSON bytes per row, to size tasks
	rowBufs [][]byte
	rowCnts []counts
	err     error

	// With several workers: tasks go, in row order, to the assembler goroutine, which
	// waits for each to be rendered and adds its rows to the chunk being filled (cur and
	// the fields above it, which then only it touches until Flush or drop waited for it).
	queue    chan *task     // nil until the assembler runs
	queued   sync.WaitGroup // tasks sent to queue and not assembled (or dropped) yet
	asmDone  chan struct{}  // closed when the assembler has returned
	asmErr   atomic.Pointer[error]
	stopping atomic.Bool // the assembler drops what it gets instead of assembling it

	spareMu sync.Mutex
	spare   []*task // finished tasks kept for their buffers

	mu    sync.Mutex // guards stats, read by Stats
	stats EncodeStats
}

type encColumn struct {
	EncodeColumn
	arrowType arrow.DataType
	render    renderer
	pending   counts // counts of the rows in the chunk being filled
}

// counts are the per-column counts of values that were changed to be valid JSON.
type counts struct {
	nonFinite   int64
	invalidUTF8 int64
}

func (c *counts) add(o counts) {
	c.nonFinite += o.nonFinite
	c.invalidUTF8 += o.invalidUTF8
}

// Task sizing: a task renders about taskBytes of JSON, in groups of about a sixteenth of
// its rows (the unit in which rows are added to a chunk before the size check), and
// stops early once it has rendered taskLimit bytes (rows far larger than estimated).
const (
	taskBytes   = 1 << 20
	maxTaskRows = 16 << 10
	taskLimit   = 8 << 20
)

// NewEncoder returns an encoder of the columns cols of records with the given schema
// into chunks of at most chunkSize JSON bytes. It is an error when a column's Type cannot
// render its Arrow type (the message names the column, the Arrow type, the override and
// the dataTypes that would work), when two columns share a name, or when chunkSize cannot
// hold even one row of nulls.
func NewEncoder(schema *arrow.Schema, cols []EncodeColumn, chunkSize int64) (*Encoder, error) {
	if len(cols) == 0 {
		return nil, errors.New("no columns to encode")
	}
	e := &Encoder{
		cols:      make([]encColumn, len(cols)),
		chunkSize: chunkSize,
		overhead:  1 + 2*int64(len(cols)),
		workers:   1,
		rowBufs:   make([][]byte, len(cols)),
		rowCnts:   make([]counts, len(cols)),
	}
	seen := make(map[string]bool, len(cols))
	for i, c := range cols {
		if c.Index < 0 || c.Index >= schema.NumFields() {
			return nil, fmt.Errorf("column %q: field index %d is outside the schema's %d fields", c.Name, c.Index, schema.NumFields())
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("column %q appears twice: rename one of them (in the query: AS other_name)", c.Name)
		}
		seen[c.Name] = true
		t := schema.Field(c.Index).Type
		if c.Type == "" {
			dt, err := MapType(t)
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", c.Name, err)
			}
			c.Type = dt
		}
		if !overrideAllowed(t, c.Type) {
			if classOf(t) == classUnsupported { // say how to make it loadable
				_, err := MapType(t)
				return nil, fmt.Errorf("column %q: %w", c.Name, err)
			}
			return nil, fmt.Errorf("column %q: arrow type %s cannot be pushed as %s (it can be pushed as %v)",
				c.Name, t, c.Type, allowedOverrides(t))
		}
		r, err := newRenderer(t, c.Type)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		e.cols[i] = encColumn{EncodeColumn: c, arrowType: t, render: r}
	}
	if minSize := e.overhead + 5*int64(len(cols)); chunkSize < minSize {
		return nil, fmt.Errorf("chunk size %d bytes is too small: %d columns need at least %d bytes for one row of nulls",
			chunkSize, len(cols), minSize)
	}
	e.estRow.Store(8 * int64(len(cols)))
	e.pool = newBlockPool(blockSizeFor(chunkSize), mapsChunks(chunkSize))
	e.free = &freeList{pool: e.pool}
	return e, nil
}

// SetWorkers lets up to n goroutines render rows at once (1, the default, renders them on
// the goroutine that calls Write). Call it before the first Write.
func (e *Encoder) SetWorkers(n int) { e.workers = max(1, n) }

// Write encodes the rows of rec. Each time the chunk being filled cannot take the next
// row, Write calls emit with it; emit owns the chunk from then on and must Release it
// when it is done with it (even when it returns an error). An error from emit is
// returned as it is. Row numbers in errors count the rows written to the encoder, from 1.
// With several workers, rows of rec may still be rendering when Write returns (rec is
// retained until then), and an error in them is returned by a later Write or by Flush.
func (e *Encoder) Write(rec arrow.RecordBatch, emit func(*Chunk) error) error {
	if e.err != nil {
		return e.err
	}
	arrs, err := e.bind(rec)
	if err != nil {
		return e.fail(err)
	}
	n := int(rec.NumRows())
	for lo := 0; lo < n; {
		rows := int(max(1, min(taskBytes/e.estRow.Load(), maxTaskRows)))
		hi := min(n, lo+rows)
		t := e.newTask(rec, arrs, e.rowsIn, lo, hi)
		lo = hi
		if e.workers == 1 {
			t.run(e.cols)
			if err := e.assemble(t, emit); err != nil {
				return e.fail(err)
			}
			continue
		}
		if err := e.assemblerErr(); err != nil {
			e.recycle(t)
			return e.fail(err)
		}
		e.startAssembler()
		t.done, t.emit = make(chan struct{}), emit
		go func() {
			defer close(t.done)
			t.run(e.cols)
		}()
		e.queued.Add(1)
		e.queue <- t // blocks while workers tasks wait for the assembler: memory stays bounded
	}
	e.rowsIn += int64(n)
	return nil
}

// startAssembler starts the assembler goroutine unless it runs.
func (e *Encoder) startAssembler() {
	if e.queue != nil {
		return
	}
	e.queue = make(chan *task, e.workers)
	e.asmDone = make(chan struct{})
	e.stopping.Store(false)
	go func() {
		defer close(e.asmDone)
		for t := range e.queue {
			<-t.done
			if e.stopping.Load() || e.asmErr.Load() != nil {
				e.recycle(t)
			} else if err := e.assemble(t, t.emit); err != nil {
				e.asmErr.Store(&err)
			}
			e.queued.Done()
		}
	}()
}

// assemblerErr is the error the assembler met, if any.
func (e *Encoder) assemblerErr() error {
	if p := e.asmErr.Load(); p != nil {
		return *p
	}
	return nil
}

// stopAssembler makes the assembler drop the tasks it still has and waits for it to return.
func (e *Encoder) stopAssembler() {
	if e.queue == nil {
		return
	}
	e.stopping.Store(true)
	close(e.queue)
	<-e.asmDone
	e.queue = nil
}

// Flush emits the chunk being filled, if it has any rows, once every row written has been
// rendered. The encoder can be written to again afterwards.
func (e *Encoder) Flush(emit func(*Chunk) error) error {
	if e.err != nil {
		return e.err
	}
	e.queued.Wait() // the assembler is idle from here until the next Write
	if err := e.assemblerErr(); err != nil {
		return e.fail(err)
	}
	if e.cur == nil || e.curRows == 0 {
		return nil
	}
	if err := e.emit(emit); err != nil {
		return e.fail(err)
	}
	return nil
}

// Close waits for rows still rendering, drops the chunk being filled and frees the
// encoder's memory; chunks emitted earlier stay valid until they are released. The
// encoder cannot be used afterwards.
func (e *Encoder) Close() {
	e.drop()
	if e.err == nil {
		e.err = errors.New("encoder closed")
	}
	e.spareMu.Lock()
	e.spare = nil
	e.spareMu.Unlock()
	e.pool.close()
}

// Stats returns the counts of what has been emitted so far.
func (e *Encoder) Stats() EncodeStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.NonFiniteByColumn = maps.Clone(s.NonFiniteByColumn)
	s.InvalidUTF8ByColumn = maps.Clone(s.InvalidUTF8ByColumn)
	return s
}

func (e *Encoder) fail(err error) error {
	e.err = err
	e.drop()
	return err
}

// drop waits for the tasks in flight and releases them and the chunk being filled.
func (e *Encoder) drop() {
	e.stopAssembler()
	if e.cur != nil {
		e.cur.release()
		e.cur = nil
		e.curRows = 0
	}
}

// bind checks rec's columns against the schema the encoder was made for and returns them
// in the encoder's column order. The tasks of rec share the slice.
func (e *Encoder) bind(rec arrow.RecordBatch) ([]arrow.Array, error) {
	arrs := make([]arrow.Array, 0, len(e.cols))
	for i := range e.cols {
		c := &e.cols[i]
		if c.Index >= int(rec.NumCols()) {
			return nil, fmt.Errorf("column %q: record has %d columns, want field %d", c.Name, rec.NumCols(), c.Index)
		}
		arr := rec.Column(c.Index)
		if !arrow.TypeEqual(arr.DataType(), c.arrowType) {
			return nil, fmt.Errorf("column %q: record has arrow type %s, the encoder was made for %s",
				c.Name, arr.DataType(), c.arrowType)
		}
		// Arrays compute their null count and dictionary on first use: do it here, before
		// tasks read them on several goroutines.
		arr.NullN()
		if d, ok := arr.(*array.Dictionary); ok {
			d.Dictionary().NullN()
		}
		arrs = append(arrs, arr)
	}
	return arrs, nil
}

// task renders rows [lo, hi) of one record into per-column buffers, in groups of group
// rows: ends and cnts hold, after each group, every column's length and counts.
type task struct {
	rec    arrow.RecordBatch // retained until the task is recycled
	arrs   []arrow.Array
	base   int64 // rows written to the encoder before rec
	lo, hi int
	group  int
	emit   func(*Chunk) error // Write's, for the assembler

	cols   [][]byte
	ends   []int // group g, column c: ends[g*len(cols)+c]
	cnts   []counts
	groups int
	stop   int   // rows [lo, stop) were rendered: hi, or less after an error or taskLimit
	err    error // rendering row stop failed
	done   chan struct{}
}

func (e *Encoder) newTask(rec arrow.RecordBatch, arrs []arrow.Array, base int64, lo, hi int) *task {
	var t *task
	e.spareMu.Lock()
	if n := len(e.spare); n > 0 {
		t = e.spare[n-1]
		e.spare[n-1] = nil
		e.spare = e.spare[:n-1]
	}
	e.spareMu.Unlock()
	if t == nil {
		t = &task{cols: make([][]byte, len(e.cols))}
	}
	rec.Retain()
	rows := hi - lo
	*t = task{rec: rec, arrs: arrs, base: base, lo: lo, hi: hi, group: max(1, rows/16),
		cols: t.cols, ends: t.ends[:0], cnts: t.cnts[:0]}
	for i := range t.cols {
		t.cols[i] = t.cols[i][:0]
	}
	return t
}

// recycle releases t's record and keeps its buffers for the next task.
func (e *Encoder) recycle(t *task) {
	t.rec.Release()
	t.rec, t.emit = nil, nil
	e.spareMu.Lock()
	defer e.spareMu.Unlock()
	if len(e.spare) < 2*e.workers+2 {
		e.spare = append(e.spare, t)
	}
}

// run renders the task's rows, group by group.
func (t *task) run(cols []encColumn) {
	t.stop = t.lo
	var rendered int
	for lo := t.lo; lo < t.hi; lo += t.group {
		hi := min(lo+t.group, t.hi)
		for i := range cols {
			t.cnts = append(t.cnts, counts{}) // a pointer into the slice: no allocation
			b, err := cols[i].render.appendRows(t.cols[i], t.arrs[i], lo, hi, &t.cnts[len(t.cnts)-1])
			rendered += len(b) - len(t.cols[i])
			t.cols[i] = b
			if err != nil {
				t.err = cols[i].valueErr(err, t.base)
				return
			}
			t.ends = append(t.ends, len(b))
		}
		t.groups++
		t.stop = hi
		if rendered > taskLimit {
			return
		}
	}
}

// ValueError is a value the encoder cannot push as its column's dataType (out of range,
// or not a valid date or time). Running again over the same data fails the same way.
type ValueError struct {
	Column string
	Row    int64 // counted from 1 over every row written
	Msg    string
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("column %q row %d: %s", e.Column, e.Row, e.Msg)
}

// valueErr names the column and the row (counted from 1 over every row written) of a
// renderer's error.
func (c *encColumn) valueErr(err error, base int64) error {
	var ve *valueError
	if errors.As(err, &ve) {
		msg := ve.msg
		if ve.fix != "" {
			msg += ": " + cmp.Or(c.Advice, ve.fix)
		}
		return &ValueError{Column: c.Name, Row: base + int64(ve.row) + 1, Msg: msg}
	}
	return fmt.Errorf("column %q: %w", c.Name, err)
}

// assemble adds a rendered task's rows to the chunk being filled, a group at a time while
// whole groups fit, emitting full chunks; it recycles t. The rest of a task that stopped
// early is rendered here, and the error of one that failed is returned after its good rows.
func (e *Encoder) assemble(t *task, emit func(*Chunk) error) error {
	for {
		err := e.addGroups(t, emit)
		if err == nil {
			err = t.err
		}
		if err != nil || t.stop == t.hi {
			e.recycle(t)
			return err
		}
		// Rows far larger than the estimate: render the rest in a task of its own.
		rest := e.newTask(t.rec, t.arrs, t.base, t.stop, t.hi)
		rest.group = 1
		rest.run(e.cols)
		e.recycle(t) // rest holds the record now
		t = rest
	}
}

func (e *Encoder) addGroups(t *task, emit func(*Chunk) error) error {
	nc := len(e.cols)
	if e.cur == nil {
		e.startChunk()
	}
	from := 0 // group from which t's bytes have not been copied into the chunk yet
	for g := range t.groups {
		var bytes int64
		for c := range nc {
			bytes += int64(t.ends[g*nc+c] - t.start(g, c))
		}
		lo := t.lo + g*t.group
		hi := min(lo+t.group, t.hi)
		if e.size+bytes <= e.chunkSize {
			e.size += bytes
			e.curRows += hi - lo
			for c := range nc {
				e.cols[c].pending.add(t.cnts[g*nc+c])
			}
			continue
		}
		e.copyGroups(t, from, g)
		from = g + 1
		if err := e.addRows(t, lo, hi, emit); err != nil {
			return err
		}
	}
	e.copyGroups(t, from, t.groups)
	return nil
}

// start is the offset in t.cols[c] at which group g begins.
func (t *task) start(g, c int) int {
	if g == 0 {
		return 0
	}
	return t.ends[(g-1)*len(t.cols)+c]
}

// copyGroups copies the JSON of groups [from, to) of t into the chunk being filled, whose
// size already counts them.
func (e *Encoder) copyGroups(t *task, from, to int) {
	if from >= to {
		return
	}
	for c := range e.cols {
		e.cur.append(c, t.cols[c][t.start(from, c):t.start(to, c)])
	}
}

// addRows adds rows [lo, hi) of t's record one by one, rendering each again to know its
// size, and emits the chunk each time the next row does not fit.
func (e *Encoder) addRows(t *task, lo, hi int, emit func(*Chunk) error) error {
	for r := lo; r < hi; {
		var bytes int64
		for c := range e.cols {
			e.rowCnts[c] = counts{}
			b, err := e.cols[c].render.appendRows(e.rowBufs[c][:0], t.arrs[c], r, r+1, &e.rowCnts[c])
			e.rowBufs[c] = b
			if err != nil { // rendered once already: cannot fail now
				return e.cols[c].valueErr(err, t.base)
			}
			bytes += int64(len(b))
		}
		if e.size+bytes <= e.chunkSize {
			for c := range e.cols {
				e.cur.append(c, e.rowBufs[c])
				e.cols[c].pending.add(e.rowCnts[c])
			}
			e.size += bytes
			e.curRows++
			r++
			continue
		}
		if e.curRows == 0 {
			return e.rowTooBig(t.base+int64(r), bytes)
		}
		if err := e.emit(emit); err != nil {
			return err
		}
		e.startChunk()
	}
	return nil
}

// rowTooBig describes row (0-based over every row written), whose rendering is in
// e.rowBufs and is bytes long, too large for an empty chunk.
func (e *Encoder) rowTooBig(row, bytes int64) error {
	largest, largestLen := 0, 0
	for c := range e.cols {
		if n := len(e.rowBufs[c]) - 1; n > largestLen {
			largest, largestLen = c, n
		}
	}
	return fmt.Errorf("row %d is %d bytes of JSON, more than the chunk size of %d bytes on its own "+
		"(column %q alone is %d bytes): raise chunk_size",
		row+1, e.overhead+bytes, e.chunkSize, e.cols[largest].Name, largestLen)
}

func (e *Encoder) startChunk() {
	e.cur = e.free.get(len(e.cols))
	e.curRows = 0
	e.size = e.overhead
}

// emit hands the chunk being filled to emit and counts it.
func (e *Encoder) emit(emit func(*Chunk) error) error {
	s := e.cur
	e.cur = nil
	valueBytes := e.size - e.overhead
	for c := range s.cols {
		s.dropLast(c) // the trailing comma
	}
	rows := e.curRows
	e.curRows = 0
	e.estRow.Store(max(1, valueBytes/int64(rows)))
	ch := &Chunk{rows: rows, cols: s.cols, release: s.release}

	e.mu.Lock()
	e.stats.Rows += int64(rows)
	e.stats.Bytes += ch.Len()
	e.stats.Chunks++
	for i := range e.cols {
		c := &e.cols[i]
		if n := c.pending.nonFinite; n > 0 {
			e.stats.NonFinite += n
			if e.stats.NonFiniteByColumn == nil {
				e.stats.NonFiniteByColumn = map[string]int64{}
			}
			e.stats.NonFiniteByColumn[c.Name] += n
		}
		if n := c.pending.invalidUTF8; n > 0 {
			e.stats.InvalidUTF8 += n
			if e.stats.InvalidUTF8ByColumn == nil {
				e.stats.InvalidUTF8ByColumn = map[string]int64{}
			}
			e.stats.InvalidUTF8ByColumn[c.Name] += n
		}
		c.pending = counts{}
	}
	e.mu.Unlock()
	return emit(ch)
}

// bufSet is the columns of one chunk, each a list of blocks from the pool. Its release
// func, made once, gives the blocks back and puts the set on the free list it came from.
type bufSet struct {
	cols    [][][]byte
	pool    *blockPool
	release func()
}

// append copies p to the end of column c, taking new blocks as they fill.
func (s *bufSet) append(c int, p []byte) {
	blocks := s.cols[c]
	for len(p) > 0 {
		n := len(blocks)
		if n == 0 || len(blocks[n-1]) == cap(blocks[n-1]) {
			blocks = append(blocks, s.pool.get())
			n++
		}
		last := blocks[n-1]
		k := min(len(p), cap(last)-len(last))
		blocks[n-1] = append(last, p[:k]...)
		p = p[k:]
	}
	s.cols[c] = blocks
}

// dropLast removes the last byte of column c.
func (s *bufSet) dropLast(c int) {
	blocks := s.cols[c]
	for n := len(blocks); n > 0; n-- {
		if b := blocks[n-1]; len(b) > 0 {
			blocks[n-1] = b[:len(b)-1]
			return
		}
	}
}

// freeList keeps released buffer sets for reuse. Chunks are released on other
// goroutines, so it is guarded by a mutex.
type freeList struct {
	pool *blockPool
	mu   sync.Mutex
	sets []*bufSet
}

// maxFree bounds the sets kept: more are only ever out when the consumer holds that
// many chunks at once.
const maxFree = 8

// get returns an empty set of ncols columns.
func (f *freeList) get(ncols int) *bufSet {
	f.mu.Lock()
	if n := len(f.sets); n > 0 {
		s := f.sets[n-1]
		f.sets[n-1] = nil
		f.sets = f.sets[:n-1]
		f.mu.Unlock()
		return s
	}
	f.mu.Unlock()
	s := &bufSet{cols: make([][][]byte, ncols), pool: f.pool}
	s.release = func() {
		for i, blocks := range s.cols {
			for j, b := range blocks {
				f.pool.put(b)
				blocks[j] = nil
			}
			s.cols[i] = blocks[:0]
		}
		f.put(s)
	}
	return s
}

func (f *freeList) put(s *bufSet) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sets) < maxFree {
		f.sets = append(f.sets, s)
	}
}
