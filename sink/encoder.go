package sink

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
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
// way they were rendered. Chunks are built in fixed-size blocks that Chunk.Release hands
// back to the encoder, so a steady pipeline reuses its memory and allocates almost
// nothing per chunk.
//
// Write and Flush are called from one goroutine; emitted chunks may be used and released,
// and Stats called, on any other. After Write or Flush returned an error, the encoder
// returns that error from then on. Close frees the encoder's memory once it is done.
type Encoder struct {
	cols      []encColumn
	chunkSize int64
	overhead  int64 // JSON bytes of a chunk besides its columns' values and commas
	workers   int

	pool     *blockPool
	free     *freeList
	cur      *bufSet // the chunk being filled; nil until a row is added
	curRows  int
	size     int64 // JSON size of the chunk being filled, overhead included
	rowsIn   int64 // rows accepted by Write so far, for row numbers in errors
	estRow   int64 // estimated JSON bytes per row, to size tasks
	inflight []*task
	spare    []*task // finished tasks kept for their buffers
	rowBufs  [][]byte
	rowCnts  []counts
	err      error

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
		estRow:    8 * int64(len(cols)),
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
	e.pool = newBlockPool(blockSizeFor(chunkSize), chunkSize >= minMappedChunk)
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
		rows := int(max(1, min(taskBytes/e.estRow, maxTaskRows)))
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
		for len(e.inflight) > e.workers {
			if err := e.assembleFirst(emit); err != nil {
				return e.fail(err)
			}
		}
		t.done = make(chan struct{})
		e.inflight = append(e.inflight, t)
		go func() {
			defer close(t.done)
			t.run(e.cols)
		}()
	}
	e.rowsIn += int64(n)
	return nil
}

// Flush emits the chunk being filled, if it has any rows, once every row written has been
// rendered. The encoder can be written to again afterwards.
func (e *Encoder) Flush(emit func(*Chunk) error) error {
	if e.err != nil {
		return e.err
	}
	for len(e.inflight) > 0 {
		if err := e.assembleFirst(emit); err != nil {
			return e.fail(err)
		}
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
	e.spare = nil
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
	for _, t := range e.inflight {
		<-t.done
		e.recycle(t)
	}
	clear(e.inflight)
	e.inflight = e.inflight[:0]
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
	if n := len(e.spare); n > 0 {
		t = e.spare[n-1]
		e.spare[n-1] = nil
		e.spare = e.spare[:n-1]
	} else {
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
	t.rec = nil
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

// assembleFirst waits for the oldest task in flight and adds its rows.
func (e *Encoder) assembleFirst(emit func(*Chunk) error) error {
	t := e.inflight[0]
	copy(e.inflight, e.inflight[1:])
	e.inflight[len(e.inflight)-1] = nil
	e.inflight = e.inflight[:len(e.inflight)-1]
	<-t.done
	return e.assemble(t, emit)
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
	e.estRow = max(1, valueBytes/int64(rows))
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

// renderer appends the JSON values of rows [lo, hi) of an Arrow array, each followed by
// a comma, and counts the values it had to change in c.
type renderer interface {
	appendRows(dst []byte, arr arrow.Array, lo, hi int, c *counts) ([]byte, error)
}

// valueError is a value that cannot be pushed as the column's dataType; row is its index
// in the array, which the encoder turns into a row number.
type valueError struct {
	row int
	msg string
	fix string // what to do about it, unless EncodeColumn.Advice says otherwise
}

func (e *valueError) Error() string { return fmt.Sprintf("row %d: %s", e.row, e.msg) }

// newRenderer returns the renderer of Arrow type t pushed as dataType dt; overrideAllowed
// has accepted the pair.
func newRenderer(t arrow.DataType, dt DataType) (renderer, error) {
	var r renderer
	switch t.ID() {
	case arrow.INT8:
		r = newSigned[int8](dt)
	case arrow.INT16:
		r = newSigned[int16](dt)
	case arrow.INT32:
		r = newSigned[int32](dt)
	case arrow.INT64:
		r = newSigned[int64](dt)
	case arrow.UINT8:
		r = newUnsigned[uint8](dt)
	case arrow.UINT16:
		r = newUnsigned[uint16](dt)
	case arrow.UINT32:
		r = newUnsigned[uint32](dt)
	case arrow.UINT64:
		r = newUnsigned[uint64](dt)
	case arrow.FLOAT16:
		r = halfRenderer{}
	case arrow.FLOAT32:
		r = floatRenderer[float32]{bits: 32}
	case arrow.FLOAT64:
		r = floatRenderer[float64]{bits: 64}
	case arrow.DECIMAL32:
		r = smallDecimalRenderer[int32]{scale: t.(arrow.DecimalType).GetScale()}
	case arrow.DECIMAL64:
		r = smallDecimalRenderer[int64]{scale: t.(arrow.DecimalType).GetScale()}
	case arrow.DECIMAL128:
		r = decimal128Renderer{scale: t.(arrow.DecimalType).GetScale()}
	case arrow.DECIMAL256:
		r = decimal256Renderer{scale: t.(arrow.DecimalType).GetScale()}
	case arrow.BOOL:
		r = boolRenderer{}
	case arrow.STRING:
		r = stringRenderer[int32]{}
	case arrow.LARGE_STRING:
		r = stringRenderer[int64]{}
	case arrow.STRING_VIEW:
		r = stringViewRenderer{}
	case arrow.DICTIONARY:
		r = dictionaryRenderer{}
	case arrow.DATE32:
		r = dateRenderer{wide: false}
	case arrow.DATE64:
		r = dateRenderer{wide: true}
	case arrow.TIME32:
		r = newTimeRenderer(t.(*arrow.Time32Type).Unit, false)
	case arrow.TIME64:
		r = newTimeRenderer(t.(*arrow.Time64Type).Unit, true)
	case arrow.TIMESTAMP:
		r = newTimestampRenderer(t.(*arrow.TimestampType).Unit)
	case arrow.EXTENSION:
		if !isUUID(t) {
			return nil, fmt.Errorf("arrow type %s is not supported: %s", t, unsupportedAdvice(t))
		}
		r = uuidRenderer{}
	default:
		return nil, fmt.Errorf("arrow type %s is not supported: %s", t, unsupportedAdvice(t))
	}
	switch c := classOf(t); {
	case dt == String && c != classString && c != classDate && c != classTime && c != classTimestamp:
		// Numbers and bools are quoted; dates, times and strings already are.
		r = quoteRenderer{inner: r}
	}
	return r, nil
}

// validity answers IsNull without an interface call per value.
type validity struct {
	bits []byte
	off  int
	none bool // no nulls: bits is not read
}

func validityOf(arr arrow.Array) validity {
	if arr.NullN() == 0 {
		return validity{none: true}
	}
	return validity{bits: arr.NullBitmapBytes(), off: arr.Data().Offset()}
}

func (v validity) null(i int) bool {
	if v.none {
		return false
	}
	j := v.off + i
	return v.bits[j>>3]&(1<<(j&7)) == 0
}

const null = "null,"

// signedRenderer renders signed integers; check makes values outside [min, max] errors
// (an int64 column pushed as INTEGER).
type signedRenderer[T int8 | int16 | int32 | int64] struct {
	check    bool
	min, max int64
}

func newSigned[T int8 | int16 | int32 | int64](dt DataType) renderer {
	var r signedRenderer[T]
	if dt == Integer && unsafe.Sizeof(T(0)) > 4 {
		r = signedRenderer[T]{check: true, min: math.MinInt32, max: math.MaxInt32}
	}
	return r
}

func (r signedRenderer[T]) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	vals := arrow.GetValues[T](arr.Data(), 1)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		x := int64(vals[i])
		if r.check && (x < r.min || x > r.max) {
			return dst, &valueError{row: i, msg: fmt.Sprintf("value %d does not fit INTEGER (%d to %d)", x, r.min, r.max),
				fix: "set the column's type to BIGINTEGER"}
		}
		dst = strconv.AppendInt(dst, x, 10)
		dst = append(dst, ',')
	}
	return dst, nil
}

// unsignedRenderer renders unsigned integers; check makes values above max errors (a
// uint32 pushed as INTEGER, a uint64 pushed as BIGINTEGER).
type unsignedRenderer[T uint8 | uint16 | uint32 | uint64] struct {
	check bool
	max   uint64
	dt    DataType
}

func newUnsigned[T uint8 | uint16 | uint32 | uint64](dt DataType) renderer {
	r := unsignedRenderer[T]{dt: dt}
	switch size := unsafe.Sizeof(T(0)); {
	case dt == Integer && size >= 4:
		r.check, r.max = true, math.MaxInt32
	case dt == BigInteger && size == 8:
		r.check, r.max = true, math.MaxInt64
	}
	return r
}

func (r unsignedRenderer[T]) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	vals := arrow.GetValues[T](arr.Data(), 1)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		x := uint64(vals[i])
		if r.check && x > r.max {
			fix := "BIGINTEGER"
			if r.dt == BigInteger {
				fix = "BIGDECIMAL or STRING"
			}
			return dst, &valueError{row: i, msg: fmt.Sprintf("value %d does not fit %s (at most %d)", x, r.dt, r.max),
				fix: "set the column's type to " + fix}
		}
		dst = strconv.AppendUint(dst, x, 10)
		dst = append(dst, ',')
	}
	return dst, nil
}

// floatRenderer renders float32 and float64 at their own precision.
type floatRenderer[T float32 | float64] struct{ bits int }

func (r floatRenderer[T]) appendRows(dst []byte, arr arrow.Array, lo, hi int, c *counts) ([]byte, error) {
	vals := arrow.GetValues[T](arr.Data(), 1)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		x := float64(vals[i])
		if x-x != 0 { // NaN or ±Inf
			c.nonFinite++
			dst = append(dst, null...)
			continue
		}
		dst = appendFloat(dst, x, r.bits)
		dst = append(dst, ',')
	}
	return dst, nil
}

// appendFloat appends the shortest text of x that reads back as x at the given precision,
// as a JSON number: plain digits for magnitudes in [1e-6, 1e21), exponent form outside
// (as JavaScript and encoding/json write them).
func appendFloat(dst []byte, x float64, bits int) []byte {
	a := math.Abs(x)
	format := byte('f')
	if a != 0 {
		if bits == 64 && (a < 1e-6 || a >= 1e21) || bits == 32 && (float32(a) < 1e-6 || float32(a) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, x, format, -1, bits)
	if format == 'e' {
		// e-07 → e-7
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// halfRenderer renders float16 values: arrow-go's float16 conversions truncate and lose
// subnormals, so the bits are decoded here.
type halfRenderer struct{}

func (halfRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, c *counts) ([]byte, error) {
	vals := arrow.GetValues[uint16](arr.Data(), 1)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		h := vals[i]
		if h&0x7c00 == 0x7c00 { // NaN or ±Inf
			c.nonFinite++
			dst = append(dst, null...)
			continue
		}
		dst = appendHalf(dst, h)
		dst = append(dst, ',')
	}
	return dst, nil
}

// halfToFloat64 is the exact value of half-precision bits h.
func halfToFloat64(h uint16) float64 {
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	var x float64
	switch exp {
	case 0:
		x = math.Ldexp(frac, -24)
	case 0x1f:
		x = math.Inf(1)
		if frac != 0 {
			x = math.NaN()
		}
	default:
		x = math.Ldexp(frac+1024, exp-25)
	}
	if h&0x8000 != 0 {
		x = -x
	}
	return x
}

// appendHalf appends the shortest decimal that rounds back to the finite half h: the
// first number of significant digits whose decimal lies strictly closer to h than
// halfway to either neighbour.
func appendHalf(dst []byte, h uint16) []byte {
	mag := h & 0x7fff
	x := halfToFloat64(mag)
	if mag == 0 {
		return appendFloat(dst, halfToFloat64(h), 64)
	}
	below := halfToFloat64(mag - 1)
	above := 65520.0 // from here on, values round to +Inf
	if mag < 0x7bff {
		above = halfToFloat64(mag + 1)
	}
	var buf [32]byte
	d := x
	for prec := 0; prec < 17; prec++ {
		s := strconv.AppendFloat(buf[:0], x, 'e', prec, 64)
		p, err := strconv.ParseFloat(unsafe.String(&s[0], len(s)), 64)
		if err == nil && p-x < (above-x)/2 && x-p < (x-below)/2 {
			d = p
			break
		}
	}
	if h&0x8000 != 0 {
		d = -d
	}
	return appendFloat(dst, d, 64)
}

// smallDecimalRenderer renders decimal32 and decimal64.
type smallDecimalRenderer[T int32 | int64] struct{ scale int32 }

func (r smallDecimalRenderer[T]) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	vals := arrow.GetValues[T](arr.Data(), 1)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		x := int64(vals[i])
		mag := uint64(x)
		if x < 0 {
			mag = -mag
		}
		dst = appendDecimal(dst, x < 0, [4]uint64{mag}, r.scale)
		dst = append(dst, ',')
	}
	return dst, nil
}

type decimal128Renderer struct{ scale int32 }

func (r decimal128Renderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	vals := arrow.GetValues[decimal128.Num](arr.Data(), 1)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		n := vals[i]
		lo, hi := n.LowBits(), uint64(n.HighBits())
		neg := n.HighBits() < 0
		if neg { // two's complement magnitude
			lo, hi = ^lo+1, ^hi
			if lo == 0 {
				hi++
			}
		}
		dst = appendDecimal(dst, neg, [4]uint64{lo, hi}, r.scale)
		dst = append(dst, ',')
	}
	return dst, nil
}

type decimal256Renderer struct{ scale int32 }

func (r decimal256Renderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	vals := arrow.GetValues[decimal256.Num](arr.Data(), 1)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		w := vals[i].Array()
		neg := w[3]>>63 == 1
		if neg {
			carry := uint64(1)
			for j := range w {
				w[j], carry = bits.Add64(^w[j], 0, carry)
			}
		}
		dst = appendDecimal(dst, neg, w, r.scale)
		dst = append(dst, ',')
	}
	return dst, nil
}

// appendDecimal appends the exact decimal text of the unscaled magnitude w (64-bit words,
// least significant first) divided by 10^scale, keeping the scale's digits.
func appendDecimal(dst []byte, neg bool, w [4]uint64, scale int32) []byte {
	var buf [96]byte
	digits := appendMagnitude(buf[:0], w)
	if neg {
		dst = append(dst, '-')
	}
	n := int32(len(digits))
	switch {
	case scale <= 0:
		dst = append(dst, digits...)
		if n > 1 || digits[0] != '0' {
			for range -scale {
				dst = append(dst, '0')
			}
		}
	case n > scale:
		dst = append(dst, digits[:n-scale]...)
		dst = append(dst, '.')
		dst = append(dst, digits[n-scale:]...)
	default:
		dst = append(dst, '0', '.')
		for range scale - n {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	}
	return dst
}

// appendMagnitude appends the decimal digits of the unsigned 256-bit number w.
func appendMagnitude(dst []byte, w [4]uint64) []byte {
	top := 3
	for top > 0 && w[top] == 0 {
		top--
	}
	if top == 0 {
		return strconv.AppendUint(dst, w[0], 10)
	}
	const base = 10_000_000_000_000_000_000 // 10^19, the largest power of ten in 64 bits
	var limbs [5]uint64                     // base-10^19 digits, least significant first
	n := 0
	for top > 0 || w[0] >= base {
		var rem uint64
		for j := top; j >= 0; j-- {
			w[j], rem = bits.Div64(rem, w[j], base)
		}
		limbs[n] = rem
		n++
		for top > 0 && w[top] == 0 {
			top--
		}
	}
	dst = strconv.AppendUint(dst, w[0], 10)
	for j := n - 1; j >= 0; j-- {
		var pad [20]byte
		s := strconv.AppendUint(pad[:0], limbs[j], 10)
		for range 19 - len(s) {
			dst = append(dst, '0')
		}
		dst = append(dst, s...)
	}
	return dst
}

type boolRenderer struct{}

func (boolRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	b := arr.(*array.Boolean)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		switch {
		case v.null(i):
			dst = append(dst, null...)
		case b.Value(i):
			dst = append(dst, "true,"...)
		default:
			dst = append(dst, "false,"...)
		}
	}
	return dst, nil
}

// stringRenderer renders string (int32 offsets) and large_string (int64 offsets) arrays.
// When a block's bytes need no escaping, which is the common case, values are copied
// without looking at them one by one.
type stringRenderer[O int32 | int64] struct{}

func (stringRenderer[O]) appendRows(dst []byte, arr arrow.Array, lo, hi int, c *counts) ([]byte, error) {
	data := arr.Data()
	offs := arrow.GetOffsets[O](data, 1)
	var text []byte
	if b := data.Buffers()[2]; b != nil {
		text = b.Bytes()
	}
	v := validityOf(arr)
	if !needsEscape(text[offs[lo]:offs[hi]]) {
		for i := lo; i < hi; i++ {
			if v.null(i) {
				dst = append(dst, null...)
				continue
			}
			dst = append(dst, '"')
			dst = append(dst, text[offs[i]:offs[i+1]]...)
			dst = append(dst, '"', ',')
		}
		return dst, nil
	}
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		if s := text[offs[i]:offs[i+1]]; !needsEscape(s) {
			dst = append(dst, '"')
			dst = append(dst, s...)
			dst = append(dst, '"', ',')
			continue
		}
		dst = appendString(dst, text[offs[i]:offs[i+1]], c)
	}
	return dst, nil
}

type stringViewRenderer struct{}

func (stringViewRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, c *counts) ([]byte, error) {
	sv := arr.(*array.StringView)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		s := sv.Value(i)
		dst = appendString(dst, unsafe.Slice(unsafe.StringData(s), len(s)), c)
	}
	return dst, nil
}

// dictionaryRenderer renders dictionary<string> and dictionary<large_string> arrays with
// any index type.
type dictionaryRenderer struct{}

func (dictionaryRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, c *counts) ([]byte, error) {
	d := arr.(*array.Dictionary)
	dict := d.Dictionary()
	var text []byte
	if b := dict.Data().Buffers()[2]; b != nil {
		text = b.Bytes()
	}
	if dict.DataType().ID() == arrow.LARGE_STRING {
		return appendDictionary(dst, d, arrow.GetOffsets[int64](dict.Data(), 1), text, validityOf(dict), lo, hi, c), nil
	}
	return appendDictionary(dst, d, arrow.GetOffsets[int32](dict.Data(), 1), text, validityOf(dict), lo, hi, c), nil
}

func appendDictionary[O int32 | int64](dst []byte, d *array.Dictionary, offs []O, text []byte, dictValid validity, lo, hi int, c *counts) []byte {
	v := validityOf(d)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		j := d.GetValueIndex(i)
		if dictValid.null(j) {
			dst = append(dst, null...)
			continue
		}
		dst = appendString(dst, text[offs[j]:offs[j+1]], c)
	}
	return dst
}

// uuidRenderer renders arrow.uuid extension arrays as "01234567-89ab-cdef-0123-456789abcdef".
type uuidRenderer struct{}

func (uuidRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	storage := arr.(array.ExtensionArray).Storage().(*array.FixedSizeBinary)
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		dst = append(dst, '"')
		for j, b := range storage.Value(i) {
			if j == 4 || j == 6 || j == 8 || j == 10 {
				dst = append(dst, '-')
			}
			dst = append(dst, hexDigits[b>>4], hexDigits[b&0xf])
		}
		dst = append(dst, '"', ',')
	}
	return dst, nil
}

// needsEscape reports whether s has a byte that a JSON string cannot hold as it is
// (control characters, quote, backslash) or that needs UTF-8 validation (>= 0x80). It
// looks at 8 bytes at a time; a false positive only costs the slow path.
func needsEscape(s []byte) bool {
	const ones = 0x0101010101010101
	const highs = 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		q := x ^ (ones * '"')
		b := x ^ (ones * '\\')
		// (y - ones) &^ y has a high bit set where y has a zero byte; x - 0x20 per byte
		// likewise where x has a byte below 0x20; x's own high bits mark non-ASCII.
		if (x|(x-ones*0x20)&^x|(q-ones)&^q|(b-ones)&^b)&highs != 0 {
			return true
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string and a comma. Each invalid UTF-8 byte becomes
// U+FFFD, and the value is counted once in c.invalidUTF8.
func appendString(dst []byte, s []byte, c *counts) []byte {
	dst = append(dst, '"')
	start := 0
	invalid := false
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			invalid = true
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but not valid JavaScript: escaped as encoding/json does.
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	if invalid {
		c.invalidUTF8++
	}
	return append(dst, '"', ',')
}

const (
	secPerDay = 86400
	msPerDay  = secPerDay * 1000
)

// dateRenderer renders date32 (days) and date64 (milliseconds) as "2024-01-31".
type dateRenderer struct {
	wide bool // date64
}

func (r dateRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	var vals32 []int32
	var vals64 []int64
	if r.wide {
		vals64 = arrow.GetValues[int64](arr.Data(), 1)
	} else {
		vals32 = arrow.GetValues[int32](arr.Data(), 1)
	}
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		var days int64
		if r.wide {
			days = floorDiv(vals64[i], msPerDay)
		} else {
			days = int64(vals32[i])
		}
		dst = append(dst, '"')
		dst = appendDate(dst, days)
		dst = append(dst, '"', ',')
	}
	return dst, nil
}

// timeRenderer renders time32 (s, ms) and time64 (us, ns) as "13:45:00[.fff]".
type timeRenderer struct {
	perSec int64
	digits int // fraction digits of the unit
	wide   bool
	unit   arrow.TimeUnit
}

func newTimeRenderer(u arrow.TimeUnit, wide bool) *timeRenderer {
	perSec, digits := unitScale(u)
	return &timeRenderer{perSec: perSec, digits: digits, wide: wide, unit: u}
}

func (r *timeRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	var vals32 []int32
	var vals64 []int64
	if r.wide {
		vals64 = arrow.GetValues[int64](arr.Data(), 1)
	} else {
		vals32 = arrow.GetValues[int32](arr.Data(), 1)
	}
	limit := secPerDay * r.perSec
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		var x int64
		if r.wide {
			x = vals64[i]
		} else {
			x = int64(vals32[i])
		}
		if x < 0 || x > limit {
			return dst, &valueError{row: i, msg: fmt.Sprintf(
				"time value %d%s is outside 00:00:00 to 24:00:00", x, r.unit)}
		}
		dst = append(dst, '"')
		dst = appendClock(dst, x/r.perSec, x%r.perSec, r.digits)
		dst = append(dst, '"', ',')
	}
	return dst, nil
}

// timestampRenderer renders timestamps of any unit as "2024-01-31T13:45:00[.fff]". Arrow
// stores zoned and naive timestamps alike as time since the epoch in UTC (wall time for
// naive ones), so the zone only changes what the value means, not how it is rendered.
type timestampRenderer struct {
	perSec int64
	digits int
}

func newTimestampRenderer(u arrow.TimeUnit) *timestampRenderer {
	perSec, digits := unitScale(u)
	return &timestampRenderer{perSec: perSec, digits: digits}
}

func (r *timestampRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, _ *counts) ([]byte, error) {
	vals := arrow.GetValues[int64](arr.Data(), 1)
	perDay := secPerDay * r.perSec
	v := validityOf(arr)
	for i := lo; i < hi; i++ {
		if v.null(i) {
			dst = append(dst, null...)
			continue
		}
		x := vals[i]
		days := floorDiv(x, perDay)
		rem := x - days*perDay // wraps for the most negative values, but the result is right
		dst = append(dst, '"')
		dst = appendDate(dst, days)
		dst = append(dst, 'T')
		dst = appendClock(dst, rem/r.perSec, rem%r.perSec, r.digits)
		dst = append(dst, '"', ',')
	}
	return dst, nil
}

func unitScale(u arrow.TimeUnit) (perSec int64, digits int) {
	switch u {
	case arrow.Millisecond:
		return 1e3, 3
	case arrow.Microsecond:
		return 1e6, 6
	case arrow.Nanosecond:
		return 1e9, 9
	}
	return 1, 0
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// pairs holds the two-digit texts of 00 to 99, for formatting two digits at a time.
const pairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

// appendClock appends hh:mm:ss of sec seconds into the day, then frac (in units of
// 10^-digits seconds) as a fraction when it is not zero, without trailing zeros.
func appendClock(dst []byte, sec, frac int64, digits int) []byte {
	u, f := uint64(sec), uint64(frac) // both >= 0: unsigned division needs no sign fix-ups
	h, m, s := 2*(u/3600), 2*(u/60%60), 2*(u%60)
	dst = append(dst, pairs[h], pairs[h+1], ':', pairs[m], pairs[m+1], ':', pairs[s], pairs[s+1])
	if f == 0 {
		return dst
	}
	var buf [10]byte
	i := digits
	for ; i >= 2; i -= 2 {
		p := 2 * (f % 100)
		f /= 100
		buf[i-1], buf[i] = pairs[p], pairs[p+1]
	}
	if i == 1 {
		buf[1] = byte('0' + f)
	}
	n := digits
	for buf[n] == '0' {
		n--
	}
	buf[0] = '.'
	return append(dst, buf[:n+1]...)
}

// appendDate appends the proleptic Gregorian date days after 1970-01-01 as YYYY-MM-DD;
// years outside 0000–9999 are written as java.time does: +10000, -0001.
func appendDate(dst []byte, days int64) []byte {
	y, m, d := civil(days)
	m, d = 2*m, 2*d
	if y >= 0 && y <= 9999 {
		c, r := 2*(y/100), 2*(y%100)
		return append(dst, pairs[c], pairs[c+1], pairs[r], pairs[r+1], '-', pairs[m], pairs[m+1], '-', pairs[d], pairs[d+1])
	}
	if y > 9999 {
		dst = append(dst, '+')
		dst = strconv.AppendInt(dst, y, 10)
	} else {
		dst = append(dst, '-')
		for p := int64(1000); p > 1 && -y < p; p /= 10 {
			dst = append(dst, '0')
		}
		dst = strconv.AppendInt(dst, -y, 10)
	}
	return append(dst, '-', pairs[m], pairs[m+1], '-', pairs[d], pairs[d+1])
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date. Days within about
// ±30,000 years take Neri and Schneider's Euclidean affine algorithm ("Euclidean affine
// functions and their application to calendar algorithms", 2022), which needs no
// division by a variable; the rest take civilWide.
func civil(days int64) (y int64, m, d int) {
	const (
		shift = 82                    // 400-year eras added so that the arithmetic is unsigned
		k     = 719468 + 146097*shift // days from 0000-03-01 (shifted) to 1970-01-01
		l     = 400 * shift
	)
	if days < -k || days >= 1<<29 {
		return civilWide(days)
	}
	n := uint32(days + k)
	n1 := 4*n + 3
	c := n1 / 146097
	nc := n1 % 146097 / 4
	n2 := 4*nc + 3
	p2 := uint64(2939745) * uint64(n2)
	z := uint32(p2 >> 32)
	ny := uint32(p2) / 2939745 / 4 // day of the year, from March 1st
	yy := 100*c + z
	n3 := 2141*ny + 197913
	mm := n3 >> 16
	dd := n3&0xffff/2141 + 1
	if ny >= 306 { // January and February belong to the next year
		mm -= 12
		yy++
	}
	return int64(yy) - l, int(mm), int(dd)
}

// civilWide is Howard Hinnant's civil_from_days in 64-bit arithmetic, for any int64 days
// whose year fits.
func civilWide(days int64) (y int64, m, d int) {
	z := days + 719468 // days since 0000-03-01
	era := floorDiv(z, 146097)
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365]
	mp := (5*doy + 2) / 153                                // [0, 11], from March
	d = int(doy - (153*mp+2)/5 + 1)
	m = int(mp + 3)
	if mp >= 10 {
		m = int(mp - 9)
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}

// quoteRenderer renders a number or bool column pushed as STRING: the inner renderer's
// values, none of which holds a comma or a quote, each put in quotes; null stays null.
// Values are rendered one at a time straight into dst, so that it holds no state of its
// own and tasks may use it at once.
type quoteRenderer struct {
	inner renderer
}

func (q quoteRenderer) appendRows(dst []byte, arr arrow.Array, lo, hi int, c *counts) ([]byte, error) {
	for i := lo; i < hi; i++ {
		start := len(dst)
		dst = append(dst, '"')
		var err error
		if dst, err = q.inner.appendRows(dst, arr, i, i+1, c); err != nil {
			return dst[:start], err
		}
		if string(dst[start+1:len(dst)-1]) == "null" {
			dst = append(dst[:start], null...)
			continue
		}
		dst[len(dst)-1] = '"' // in place of the value's comma
		dst = append(dst, ',')
	}
	return dst, nil
}
