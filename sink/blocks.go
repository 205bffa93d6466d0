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
// Large blocks are mapped outside the Go heap (see mapBlock): a run holds up to two
// chunks, and on the heap those would count as live data and let the garbage collector
// grow the heap to twice their size before collecting.
type blockPool struct {
	size   int
	mapped bool // blocks come from mapBlock, not make

	mu     sync.Mutex
	free   [][]byte
	closed bool
	live   *mappedBlocks // every mapped block not yet unmapped
}

// mappedBlocks records the blocks a pool mapped, so that the pool's cleanup can unmap
// them should it become unreachable without being closed.
type mappedBlocks struct {
	mu     sync.Mutex
	blocks map[*byte][]byte
}

func (m *mappedBlocks) unmapAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, b := range m.blocks {
		unmapBlock(b)
		delete(m.blocks, k)
	}
}

// Block sizes: chunks of at least 32 MiB use 2 MiB blocks (a huge page each where the
// system has them); smaller chunks use blocks of about a sixteenth of the chunk.
const (
	maxBlockSize = 2 << 20
	minBlockSize = 4 << 10
	// minMappedBlock is the smallest block mapped outside the heap; smaller ones are
	// cheap enough for the garbage collector.
	minMappedBlock = 256 << 10
)

func blockSizeFor(chunkSize int64) int {
	size := minBlockSize
	for int64(size)*16 < chunkSize && size < maxBlockSize {
		size *= 2
	}
	return size
}

func newBlockPool(size int) *blockPool {
	p := &blockPool{size: size, mapped: size >= minMappedBlock && canMap}
	if p.mapped {
		p.live = &mappedBlocks{blocks: map[*byte][]byte{}}
		runtime.AddCleanup(p, (*mappedBlocks).unmapAll, p.live)
	}
	return p
}

// get returns an empty block of capacity p.size.
func (p *blockPool) get() []byte {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return b[:0]
	}
	p.mu.Unlock()
	if !p.mapped {
		return make([]byte, 0, p.size)
	}
	b, err := mapBlock(p.size)
	if err != nil { // out of address space or mappings: the heap will do
		return make([]byte, 0, p.size)
	}
	p.live.mu.Lock()
	p.live.blocks[&b[:1][0]] = b
	p.live.mu.Unlock()
	return b[:0]
}

// put gives a block back; after close, mapped blocks are unmapped at once.
func (p *blockPool) put(b []byte) {
	p.mu.Lock()
	if !p.closed {
		p.free = append(p.free, b)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.release(b)
}

func (p *blockPool) release(b []byte) {
	if !p.mapped || cap(b) == 0 {
		return
	}
	k := &b[:1][0]
	p.live.mu.Lock()
	full, ok := p.live.blocks[k]
	delete(p.live.blocks, k)
	p.live.mu.Unlock()
	if ok {
		unmapBlock(full)
	}
}

// close frees the pool's idle blocks; blocks still in chunks are freed as they come back.
func (p *blockPool) close() {
	p.mu.Lock()
	free := p.free
	p.free = nil
	p.closed = true
	p.mu.Unlock()
	for _, b := range free {
		p.release(b)
	}
}
