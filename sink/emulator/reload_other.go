//go:build !unix

package emulator

import "io/fs"

func stampOf(info fs.FileInfo) fileStamp {
	return fileStamp{size: info.Size(), modTime: info.ModTime()}
}
