//go:build unix

package emulator

import (
	"io/fs"
	"syscall"
)

func stampOf(info fs.FileInfo) fileStamp {
	st := fileStamp{size: info.Size(), modTime: info.ModTime()}
	if sys, ok := info.Sys().(*syscall.Stat_t); ok {
		st.inode = uint64(sys.Ino)
	}
	return st
}
