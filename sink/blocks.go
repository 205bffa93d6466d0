package sink

import (
	"runtime"
	"sync"
)

// blockPool hands out fixed-size byte blocks that chunks are built in and gives them back
// when a chunk is released, so that a steady run reuses the same memory chunk after chunk
// instead of faulting in fresh buffers (and, for a contiguous buffer, copying it each
// time it doubles).
//
// Large chunks' blocks are carved out of 2 MiB regions mapped outside the Go heap (see
// mapBlock): a run holds up to two chunks, and on the heap those would count as live
// data and let the garbage collector grow the heap to twice their size before
// collecting. A region is a huge page where the system has them (faulted in once, not 512
// times), while the blocks stay small: every column of a chunk ends in a partly filled
// block, so the block size is what each column may waste.
type blockPool struct {
	size   int
	mapped bool // blocks come from mapped regions, not make

	mu      sync.Mutex
	free    [][]byte
	out     int // blocks handed out and not put back
	closed  bool
	regions *mappedRegions
}

// mappedRegions records the regions a pool mapped, so that they are unmapped once the
// pool is closed and every block is back, or by the pool's cleanup should it become
// unreachable without that.
type mappedRegions struct {
	mu      sync.Mutex
	regions [][]byte
}

func (m *mappedRegions) unmapAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.regions {
		unmapBlock(r)
	}
	m.regions = nil
}

// Block sizes: about a sixteenth of the chunk, between 4 KiB and 128 KiB. Chunks of at
// least minMappedChunk take their blocks from mapped regions of regionSize.
const (
	maxBlockSize   = 128 << 10
	minBlockSize   = 4 << 10
	regionSize     = 2 << 20
	minMappedChunk = 4 << 20
)

// ChunkHeapBytes is how much of the Go heap an encoder's chunks of chunkSize bytes take at
// most: two chunks when their blocks come from the heap, nothing when they are mapped
// outside it.
func ChunkHeapBytes(chunkSize int64) int64 {
	if mapsChunks(chunkSize) && canMap {
		return 0
	}
	return 2 * chunkSize
}

// mapsChunks reports whether chunks of chunkSize bytes take their blocks from mapped regions.
func mapsChunks(chunkSize int64) bool { return chunkSize >= minMappedChunk }

func blockSizeFor(chunkSize int64) int {
	size := minBlockSize
	for int64(size)*16 < chunkSize && size < maxBlockSize {
		size *= 2
	}
	return size
}

// newBlockPool returns a pool of blocks of size bytes (a power of two up to regionSize),
// mapped outside the heap when mapped is set and the system can.
func newBlockPool(size int, mapped bool) *blockPool {
	p := &blockPool{size: size, mapped: mapped && canMap}
	if p.mapped {
		p.regions = &mappedRegions{}
		runtime.AddCleanup(p, (*mappedRegions).unmapAll, p.regions)
	}
	return p
}

// get returns an empty block of capacity p.size.
func (p *blockPool) get() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out++
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b[:0]
	}
	if !p.mapped {
		return make([]byte, 0, p.size)
	}
	r, err := mapBlock(regionSize)
	if err != nil { // out of address space or mappings: the heap will do
		return make([]byte, 0, p.size)
	}
	p.regions.mu.Lock()
	p.regions.regions = append(p.regions.regions, r)
	p.regions.mu.Unlock()
	// Hand out the region's first block; the others go to the free list, last first so
	// that blocks are taken in address order.
	for off := len(r) - p.size; off > 0; off -= p.size {
		p.free = append(p.free, r[off:off:off+p.size])
	}
	return r[:0:p.size]
}

// put gives a block back. Once the pool is closed and the last block is back, the
// regions are unmapped.
func (p *blockPool) put(b []byte) {
	p.mu.Lock()
	p.out--
	p.free = append(p.free, b)
	last := p.closed && p.out == 0
	p.mu.Unlock()
	if last {
		p.unmap()
	}
}

// close frees the pool's memory: at once if every block is back, otherwise when the
// last one is.
func (p *blockPool) close() {
	p.mu.Lock()
	p.closed = true
	last := p.out == 0
	p.mu.Unlock()
	if last {
		p.unmap()
	}
}

func (p *blockPool) unmap() {
	p.mu.Lock()
	p.free = nil
	p.mu.Unlock()
	if p.mapped {
		p.regions.unmapAll()
	}
}
