//go:build !unix

package parquetfile

import "os"

// openNoBlock opens path for reading. Without Unix named pipes there is nothing that blocks
// an open of a path the resolver found to be a regular file.
func openNoBlock(path string) (*os.File, error) { return os.Open(path) }
