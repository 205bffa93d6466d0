//go:build unix

package parquetfile

import (
	"os"
	"syscall"
)

// openNoBlock opens path for reading without waiting: opening a named pipe with no writer
// returns at once instead of blocking until one comes. On a regular file O_NONBLOCK has no
// effect on later reads.
func openNoBlock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
