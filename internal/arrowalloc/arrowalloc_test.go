package arrowalloc

import (
	"bytes"
	"testing"
	"unsafe"
)

func TestPoolReusesZeroedBuffers(t *testing.T) {
	p := New(1 << 20)
	a := p.Allocate(10000)
	if len(a) != 10000 || !allZero(a) {
		t.Fatalf("Allocate(10000): len %d, zeroed %v", len(a), allZero(a))
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(a)))%64 != 0 {
		t.Fatal("Allocate(10000) is not 64-byte aligned")
	}
	for i := range a {
		a[i] = 0xff
	}
	p.Free(a)
	b := p.Allocate(9000)
	if unsafe.SliceData(b) != unsafe.SliceData(a) {
		t.Fatal("Allocate after Free of a buffer of the same class did not reuse it")
	}
	if len(b) != 9000 || !allZero(b) {
		t.Fatalf("reused buffer: len %d, zeroed %v; want 9000 zero bytes", len(b), allZero(b))
	}

	// Growing within the capacity keeps the bytes and zeroes the rest; beyond it, copies.
	for i := range b {
		b[i] = byte(i)
	}
	want := bytes.Clone(b)
	c := p.Reallocate(10200, b) // the class of 10000 bytes holds 10240
	if !bytes.Equal(c[:9000], want) || !allZero(c[9000:]) {
		t.Fatal("Reallocate(10200) within the capacity lost bytes or left garbage after them")
	}
	c[10199] = 7
	d := p.Reallocate(20000, c)
	if !bytes.Equal(d[:9000], want) || d[10199] != 7 || !allZero(d[10200:]) || len(d) != 20000 {
		t.Fatal("Reallocate(20000) beyond the capacity lost bytes or left garbage after them")
	}
	// c's buffer went back to the pool when d replaced it.
	if e := p.Allocate(10240); unsafe.SliceData(e) != unsafe.SliceData(c) || !allZero(e) {
		t.Fatal("the buffer Reallocate replaced was not reused, zeroed")
	}
}

func TestPoolKeepsAtMostMaxIdle(t *testing.T) {
	p := New(8192)
	a, b := p.Allocate(8192), p.Allocate(8192)
	p.Free(a)
	p.Free(b) // over the bound: left to the garbage collector
	if got := p.Allocate(8192); unsafe.SliceData(got) != unsafe.SliceData(a) {
		t.Fatal("the buffer freed first was not kept")
	}
	if got := p.Allocate(8192); unsafe.SliceData(got) == unsafe.SliceData(b) {
		t.Fatal("a buffer beyond maxIdle was kept")
	}
}

func TestPoolSmallAndForeignBuffers(t *testing.T) {
	p := New(1 << 20)
	s := p.Allocate(100)
	if len(s) != 100 || !allZero(s) {
		t.Fatalf("Allocate(100): len %d", len(s))
	}
	p.Free(s)
	p.Free(make([]byte, 5000)) // not a class size: not kept
	if got := p.Allocate(5000); len(got) != 5000 || cap(got) != 5120 || !allZero(got) {
		t.Fatalf("Allocate(5000): len %d cap %d", len(got), cap(got))
	}
}

// TestPoolClasses checks the size classes: four between one power of two and the next,
// each size in the smallest class that holds it, and what the pool does not keep.
func TestPoolClasses(t *testing.T) {
	for _, tc := range []struct{ size, class, classSize int }{
		{4096, -1, 0}, // small: from the heap
		{4097, 0, 5120},
		{5120, 0, 5120},
		{5121, 1, 6144},
		{8192, 3, 8192},
		{8193, 4, 10240},
		{1<<20 + 1, 32 + 0, 1<<20 + 1<<18}, // a page just over 1 MiB: 1.25 MiB
		{1 << 27, 4*15 - 1, 1 << 27},
		{1<<27 + 1, -1, 0}, // larger than the largest class
	} {
		c := class(tc.size)
		if c != tc.class || c >= 0 && classSize(c) != tc.classSize {
			t.Errorf("class(%d) = %d (size %d), want %d (size %d)", tc.size, c, classSize(max(c, 0)), tc.class, tc.classSize)
		}
	}
	prev := 1 << minShift
	for c := range numClasses {
		size := classSize(c)
		if class(prev+1) != c || class(size) != c || size-prev > size/5+1 {
			t.Errorf("class %d holds (%d, %d]: class(%d) = %d, class(%d) = %d", c, prev, size, prev+1, class(prev+1), size, class(size))
		}
		prev = size
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
