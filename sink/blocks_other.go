//go:build !unix

package sink

import "errors"

const canMap = false

func mapBlock(int) ([]byte, error) { return nil, errors.New("not supported") }

func unmapBlock([]byte) {}
