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
	c := p.Reallocate(12000, b)
	if !bytes.Equal(c[:9000], want) || !allZero(c[9000:]) {
		t.Fatal("Reallocate(12000) within the capacity lost bytes or left garbage after them")
	}
	c[11999] = 7
	d := p.Reallocate(20000, c)
	if !bytes.Equal(d[:9000], want) || d[11999] != 7 || !allZero(d[12000:]) || len(d) != 20000 {
		t.Fatal("Reallocate(20000) beyond the capacity lost bytes or left garbage after them")
	}
	// c's buffer went back to the pool when d replaced it.
	if e := p.Allocate(16384); unsafe.SliceData(e) != unsafe.SliceData(c) || !allZero(e) {
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
	p.Free(make([]byte, 5000)) // not a power of two: not kept
	if got := p.Allocate(5000); len(got) != 5000 || cap(got) != 8192 || !allZero(got) {
		t.Fatalf("Allocate(5000): len %d cap %d", len(got), cap(got))
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
