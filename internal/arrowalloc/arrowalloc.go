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
// Buffers of at least minPooled bytes are rounded up to a power of two and pooled, up to
// maxIdle bytes kept at a time; smaller ones come from the Go heap as memory.GoAllocator's
// do. Every buffer is 64-byte aligned and zeroed, as Arrow expects. A Pool is safe for
// concurrent use.
type Pool struct {
	maxIdle int

	mu   sync.Mutex
	idle int                    // bytes in free
	free [maxClass + 1][][]byte // by class: buffers of 1<<class bytes
	heap memory.GoAllocator
}

const (
	minClass  = 12 // 4 KiB
	maxClass  = 27 // 128 MiB
	minPooled = 1 << minClass
)

// New returns a pool that keeps up to maxIdle bytes of freed buffers.
func New(maxIdle int) *Pool { return &Pool{maxIdle: maxIdle} }

var _ memory.Allocator = (*Pool)(nil)

// class is the size class of size bytes: the power of two that holds it, or -1 when the
// pool does not keep buffers of that size.
func class(size int) int {
	if size < minPooled {
		return -1
	}
	c := bits.Len(uint(size - 1))
	if c > maxClass {
		return -1
	}
	return c
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
	b := make([]byte, 1<<c)
	if uintptr(unsafe.Pointer(unsafe.SliceData(b)))%64 != 0 {
		// Power-of-two sizes from 4 KiB up are aligned by the Go allocator; should that
		// ever change, fall back to Arrow's own padding (such a buffer is not pooled).
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
	if c < 0 || cap(b) != 1<<c {
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
