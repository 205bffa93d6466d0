package sources

import "sync/atomic"

// CountEvery is the most rows a Reader decodes before it adds them to its Counter. Between
// two flushes a Reader also checks, once per row, whether a reader of the Counter asked for
// fresh figures (a plain load, no atomic write), so a query that yields rows slowly still
// shows each of them within one sampling of the Counter.
const CountEvery = 1024

// Counter is what a Reader has decoded so far, for live progress: the rows and the bytes of
// source data they came from (the values' wire size for a query, the compressed column data
// for a Parquet file). A Reader adds to it as it decodes, not once per batch; any goroutine
// may read it at any time. The zero value is ready to use.
type Counter struct {
	rows   atomic.Int64
	bytes  atomic.Int64
	wanted atomic.Bool
}

// Add is called by the Reader with the rows and bytes decoded since its previous Add.
func (c *Counter) Add(rows, bytes int64) {
	c.rows.Add(rows)
	c.bytes.Add(bytes)
	if c.wanted.Load() {
		c.wanted.Store(false)
	}
}

// Wanted reports whether a reader of the counter is waiting for the rows decoded since the
// last Add: a Reader checks it per row and adds at once when it is set.
func (c *Counter) Wanted() bool { return c.wanted.Load() }

// Load returns the rows and bytes counted so far, and asks the Reader to add what it has
// decoded since, so the next Load sees it (sample at least once a second for live figures).
func (c *Counter) Load() (rows, bytes int64) {
	if !c.wanted.Load() {
		c.wanted.Store(true)
	}
	return c.rows.Load(), c.bytes.Load()
}

// Total is implemented by Readers that know how much they will read before reading it
// (Parquet: from the files' footers). Rows and bytes are on the Counter's scale.
type Total interface {
	Total() (rows, bytes int64)
}
