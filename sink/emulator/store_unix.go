//go:build unix

package emulator

import (
	"errors"
	"io/fs"
	"syscall"
)

// writerRunning reports whether process pid, which named a temporary file, still runs. A
// process of another user counts as running (EPERM).
func writerRunning(pid int, _ fs.DirEntry) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
