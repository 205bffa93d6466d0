//go:build unix && !linux

package sink

func madviseHuge([]byte) error { return nil }
