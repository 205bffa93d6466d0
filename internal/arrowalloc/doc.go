// Package arrowalloc provides an Arrow memory.Allocator that keeps freed buffers for reuse.
// It owns no Arrow data and imports nothing of cubesync.
package arrowalloc
