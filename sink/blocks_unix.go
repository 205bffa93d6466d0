//go:build unix

package sink

import "syscall"

const canMap = true

// mapBlock maps size bytes of anonymous memory, asking for huge pages: a 2 MiB block is
// then faulted in once, not 512 times.
func mapBlock(size int) ([]byte, error) {
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, err
	}
	_ = madviseHuge(b) // advice only: without huge pages the block works the same
	return b, nil
}

func unmapBlock(b []byte) { _ = syscall.Munmap(b[:cap(b)]) }
