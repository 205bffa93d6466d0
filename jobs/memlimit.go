package jobs

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"

	"github.com/cubesync/cubesync/sink"
)

// The Go heap of a push is small and steady: a few record batches, the readers' pages and
// the encoder's tasks, a few tens of MB, while its chunks live outside the heap (see
// sink.ChunkHeapBytes). Left to the garbage collector's default (GOGC=100) the heap grows
// to twice that before each collection, which is most of what a process's peak RSS holds
// besides its two chunks. While tables are pushed, a soft memory limit (debug.SetMemoryLimit)
// of their summed budgets keeps the heap near what it holds: the garbage is collected
// sooner, at little cost, as it is mostly large buffers without pointers to follow.
//
// A table whose batches are larger than its budget guessed (long text values, say) must not
// have the collector running back to back: after every collection the limit is raised to
// half as much again as the live heap when that is more (as GOGC=50 would).
//
// The limit is only set when nobody else set one (GOMEMLIMIT, or a program embedding jobs),
// and it is lifted again when the last table is pushed.

// Heap budget of one table's push: a base for the reader, encoder and client, and some
// MiB per column for its batches in flight, its pages and its encoder's buffers.
const (
	heapBudgetBase   = 32 << 20
	heapBudgetColumn = 3 << 20
)

// tableHeapBudget is the Go heap a push of a table of columns columns into chunks of
// chunkSize bytes is given.
func tableHeapBudget(columns int, chunkSize int64) int64 {
	return heapBudgetBase + int64(columns)*heapBudgetColumn + sink.ChunkHeapBytes(chunkSize)
}

// memoryLimit sets the process's soft memory limit to the sum of the budgets of the tables
// being pushed, and follows the live heap when it outgrows them.
type memoryLimit struct {
	set  func(int64) int64 // debug.SetMemoryLimit
	live func() int64      // the live heap after the last collection

	mu     sync.Mutex
	owned  bool  // the limit in force is this one's (set while budget > 0)
	gen    int   // counts the times owned was set, so that an old watch stops
	budget int64 // sum of the reservations in force
	limit  int64 // the limit set
}

var processMemoryLimit = &memoryLimit{set: debug.SetMemoryLimit, live: liveHeap}

// reserve adds budget to the limit until the returned func is called.
func (m *memoryLimit) reserve(budget int64) (release func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.budget == 0 {
		if m.set(-1) != math.MaxInt64 || os.Getenv("GOMEMLIMIT") != "" {
			return func() {} // someone else's limit: leave it alone
		}
		m.owned = true
		m.gen++
		m.watch(m.gen)
	}
	m.budget += budget
	m.apply()
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.budget -= budget
			if m.budget == 0 {
				m.owned = false
				m.limit = math.MaxInt64
				m.set(math.MaxInt64)
				return
			}
			m.apply()
		})
	}
}

// apply sets the limit to the budget, or to 1.5 times the live heap when that is more; m.mu is
// held.
func (m *memoryLimit) apply() {
	limit := max(m.budget, m.live()*3/2)
	if limit != m.limit {
		m.limit = limit
		m.set(limit)
	}
}

// watch calls afterGC once the next collection is over (a cleanup runs when the collector
// found its object unreachable), and so on while the limit is this one's since gen.
func (m *memoryLimit) watch(gen int) {
	sentinel := new([64]byte) // not a tiny allocation: those share a block and its fate
	runtime.AddCleanup(sentinel, m.afterGC, gen)
}

func (m *memoryLimit) afterGC(gen int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.owned || gen != m.gen {
		return
	}
	m.apply()
	m.watch(gen)
}

// liveHeap is the heap the last collection found live, in bytes.
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}
