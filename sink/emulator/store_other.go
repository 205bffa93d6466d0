//go:build !unix

package emulator

import (
	"io/fs"
	"time"
)

// writerRunning reports whether the process that named a temporary file may still be
// writing it. Without a portable way to ask about a process, a file untouched for an hour
// is taken as left by a writer that died.
func writerRunning(_ int, e fs.DirEntry) bool {
	info, err := e.Info()
	return err == nil && time.Since(info.ModTime()) < time.Hour
}
