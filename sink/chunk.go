package sink

import (
	"errors"
	"fmt"
	"io"
)

// Chunk is one column-oriented JSON payload, `[[c1r1,c1r2,...],[c2r1,...],...]`, as the
// encoder produced it and before base64. Each column is kept as its comma-separated JSON
// values without brackets, in one or more blocks, so the full document is only ever
// assembled while it is being written (see WriteTo).
type Chunk struct {
	rows    int
	cols    [][][]byte // per column, its blocks in order
	release func()
}

// NewChunk makes a chunk of rows rows from per-column JSON value lists: cols[i] holds the
// rows values of column i, each a JSON value, separated by single commas. release, if not
// nil, is called by Release to hand the buffers back to their owner.
func NewChunk(rows int, cols [][]byte, release func()) *Chunk {
	blocks := make([][][]byte, len(cols))
	for i, c := range cols {
		blocks[i] = [][]byte{c}
	}
	return &Chunk{rows: rows, cols: blocks, release: release}
}

// Rows is the number of rows in the chunk.
func (c *Chunk) Rows() int { return c.rows }

// Columns is the number of columns in the chunk.
func (c *Chunk) Columns() int { return len(c.cols) }

// Len is the size in bytes of the JSON document WriteTo writes.
func (c *Chunk) Len() int64 {
	n := int64(2) // outer brackets
	for i, col := range c.cols {
		if i > 0 {
			n++ // comma between columns
		}
		n += 2
		for _, b := range col {
			n += int64(len(b))
		}
	}
	return n
}

// WriteTo writes the chunk's JSON document to w without assembling it in memory.
func (c *Chunk) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for _, b := range c.segments() {
		n, err := w.Write(b)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// segments returns the chunk's JSON document as the pieces WriteTo writes, in order,
// sharing the chunk's blocks.
func (c *Chunk) segments() [][]byte {
	segs := make([][]byte, 0, 2+3*len(c.cols))
	segs = append(segs, []byte("["))
	for i, col := range c.cols {
		if i == 0 {
			segs = append(segs, []byte("["))
		} else {
			segs = append(segs, []byte(",["))
		}
		for _, b := range col {
			if len(b) > 0 {
				segs = append(segs, b)
			}
		}
		segs = append(segs, []byte("]"))
	}
	return append(segs, []byte("]"))
}

// Bytes returns the chunk's JSON document as one slice (for tests and small chunks).
func (c *Chunk) Bytes() []byte {
	b := make([]byte, 0, c.Len())
	w := appendWriter{&b}
	_, _ = c.WriteTo(w)
	return b
}

// Release hands the chunk's buffers back to the encoder that made them. The chunk must
// not be used afterwards.
func (c *Chunk) Release() {
	if c.release != nil {
		c.release()
		c.release = nil
	}
	c.cols = nil
}

// ErrUnsplittable is returned by Split for a chunk of a single row.
var ErrUnsplittable = errors.New("chunk of one row cannot be split")

// Split cuts the chunk into two halves by rows, for a server that refused it as too large
// (413). The halves own copies of their data; c is left unchanged.
func (c *Chunk) Split() (*Chunk, *Chunk, error) {
	if c.rows < 2 {
		return nil, nil, ErrUnsplittable
	}
	half := c.rows / 2
	a := make([][]byte, len(c.cols))
	b := make([][]byte, len(c.cols))
	for i, blocks := range c.cols {
		var col []byte // a rare path (a server that refused the chunk): one copy is fine
		for _, blk := range blocks {
			col = append(col, blk...)
		}
		cut, err := valueOffset(col, half)
		if err != nil {
			return nil, nil, fmt.Errorf("split column %d: %w", i, err)
		}
		a[i] = append([]byte(nil), col[:cut-1]...) // without the comma before row half
		b[i] = append([]byte(nil), col[cut:]...)
	}
	return NewChunk(half, a, nil), NewChunk(c.rows-half, b, nil), nil
}

// valueOffset returns the offset in col at which value number n (0-based) starts.
func valueOffset(col []byte, n int) (int, error) {
	inString, escaped := false, false
	seen := 0
	for i, ch := range col {
		switch {
		case escaped:
			escaped = false
		case inString && ch == '\\':
			escaped = true
		case ch == '"':
			inString = !inString
		case !inString && ch == ',':
			seen++
			if seen == n {
				return i + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("column has fewer than %d values", n+1)
}

type appendWriter struct{ b *[]byte }

func (w appendWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}
