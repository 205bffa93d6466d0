package arrowalloc

import (
	"math/bits"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Pool is a memory.Allocator that keeps the buffers given back by Free and hands them out
// again, zeroed, instead of allocating afresh. A source reads batch after batch of the
// same shape, so after the first few batches every buffer comes from the pool: the
// garbage collector no longer has hundreds of megabytes of dead column buffers to find,
// nor the kernel fresh pages to fault in and zero.
//
// Buffers of at least minPooled bytes are rounded up to a size class and pooled, up to
// maxIdle bytes kept at a time; smaller ones come from the Go heap as memory.GoAllocator's
// do. There are four classes between one power of two and the next (a quarter apart),
// so that a buffer wastes at most a fifth of its size: a Parquet page of just over 1 MiB
// takes 1.25 MiB, not 2. Every buffer is 64-byte aligned and zeroed, as Arrow expects. A Pool is safe for
// concurrent use.
type Pool struct {
	maxIdle int

	mu   sync.Mutex
	idle int                  // bytes in free
	free [numClasses][][]byte // by class: buffers of classSize(class) bytes
	heap memory.GoAllocator
}

const (
	minShift   = 12 // classes start above 4 KiB
	maxShift   = 27 // and end at 128 MiB
	minPooled  = 1<<minShift + 1
	numClasses = 4 * (maxShift - minShift)
)

// New returns a pool that keeps up to maxIdle bytes of freed buffers.
func New(maxIdle int) *Pool { return &Pool{maxIdle: maxIdle} }

var _ memory.Allocator = (*Pool)(nil)

// class is the size class of size bytes: the smallest that holds it, or -1 when the pool
// does not keep buffers of that size.
func class(size int) int {
	if size < minPooled || size > 1<<maxShift {
		return -1
	}
	shift := bits.Len(uint(size-1)) - 1 // 1<<shift < size <= 2<<shift
	quarter := 1 << (shift - 2)
	return 4*(shift-minShift) + (size-1-1<<shift)/quarter
}

// classSize is the size of the buffers of class c: 1<<shift and one to four quarters of it.
func classSize(c int) int {
	shift := minShift + c/4
	return 1<<shift + (c%4+1)<<(shift-2)
}

// Allocate returns a zeroed buffer of size bytes.
func (p *Pool) Allocate(size int) []byte {
	c := class(size)
	if c < 0 {
		return p.heap.Allocate(size)
	}
	p.mu.Lock()
	if n := len(p.free[c]); n > 0 {
		b := p.free[c][n-1]
		p.free[c][n-1] = nil
		p.free[c] = p.free[c][:n-1]
		p.idle -= cap(b)
		p.mu.Unlock()
		b = b[:size]
		clear(b)
		return b
	}
	p.mu.Unlock()
	b := make([]byte, classSize(c))
	if uintptr(unsafe.Pointer(unsafe.SliceData(b)))%64 != 0 {
		// Sizes above 4 KiB are page aligned by the Go allocator; should that ever
		// change, fall back to Arrow's own padding (such a buffer is not pooled).
		return p.heap.Allocate(size)
	}
	return b[:size]
}

// Reallocate returns a buffer of size bytes holding b's bytes, zeroed beyond them; b must
// not be used afterwards.
func (p *Pool) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		old := len(b)
		b = b[:size]
		if size > old {
			clear(b[old:])
		}
		return b
	}
	nb := p.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

// Free gives b back for reuse.
func (p *Pool) Free(b []byte) {
	c := class(cap(b))
	if c < 0 || cap(b) != classSize(c) {
		return // not one of the pool's: the garbage collector frees it
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle+cap(b) > p.maxIdle {
		return
	}
	p.free[c] = append(p.free[c], b[:0])
	p.idle += cap(b)
}
