package sink

import (
	"bytes"
	"testing"
	"unsafe"
)

// TestBlockPoolCarvesRegions checks that blocks carved out of mapped regions are disjoint
// and hold what was written to them up to their capacity, that a full block never grows
// into its neighbour, and that the regions are unmapped only once the pool is closed and
// every block is back.
func TestBlockPoolCarvesRegions(t *testing.T) {
	const size = 128 << 10
	p := newBlockPool(size, true)
	var blocks [][]byte
	for i := range 40 { // 16 blocks a region: 3 regions
		b := p.get()
		if len(b) != 0 || cap(b) != size {
			t.Fatalf("block %d: len %d cap %d, want 0 and %d", i, len(b), cap(b), size)
		}
		blocks = append(blocks, append(b, bytes.Repeat([]byte{byte(i)}, size)...))
	}
	// The slices were full: an append copies elsewhere instead of writing past the block.
	grown := append(blocks[0], 'x')
	if unsafe.SliceData(grown) == unsafe.SliceData(blocks[0]) {
		t.Fatal("appending to a full block wrote past its end")
	}
	for i, b := range blocks {
		if !bytes.Equal(b, bytes.Repeat([]byte{byte(i)}, size)) {
			t.Fatalf("block %d was overwritten by another block", i)
		}
	}
	if canMap {
		if got := len(p.regions.regions); got != 3 {
			t.Fatalf("40 blocks of 128 KiB mapped %d regions, want 3", got)
		}
	}
	for _, b := range blocks[:39] {
		p.put(b)
	}
	p.close()
	if canMap && len(p.regions.regions) == 0 {
		t.Fatal("regions unmapped while a block was still out")
	}
	p.put(blocks[39])
	if canMap && len(p.regions.regions) != 0 {
		t.Fatalf("%d regions still mapped after close and every block back", len(p.regions.regions))
	}
}

func TestChunkHeapBytesCountsOnlyChunksOnTheHeap(t *testing.T) {
	if got := ChunkHeapBytes(1 << 20); got != 2<<20 {
		t.Errorf("1 MiB chunks (heap blocks): %d, want %d", got, 2<<20)
	}
	want := int64(0)
	if !canMap {
		want = 200_000_000
	}
	if got := ChunkHeapBytes(100_000_000); got != want {
		t.Errorf("100 MB chunks: %d, want %d", got, want)
	}
	// The encoder's pool agrees: its blocks are mapped exactly when they take no heap.
	for _, size := range []int64{1 << 20, minMappedChunk - 1, minMappedChunk, 100_000_000} {
		p := newBlockPool(blockSizeFor(size), mapsChunks(size))
		if p.mapped != (ChunkHeapBytes(size) == 0) {
			t.Errorf("chunk size %d: pool mapped %v, ChunkHeapBytes %d", size, p.mapped, ChunkHeapBytes(size))
		}
		p.close()
	}
}
